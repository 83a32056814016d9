import { describe, expect, it } from 'vitest';
import { resolveConnection, resolveSettings, UsageError } from '../../src/cli/config.js';
import { FileStateStore } from '../../src/state/file-store.js';
import { PostgresStateStore } from '../../src/state/postgres/store.js';

const secrets = {
  HW_ACCESS_KEY: 'AKEXAMPLE0000000000',
  HW_SECRET_KEY: 'very-secret-key-value',
  HW_PROJECT_ID: 'p0123',
};

describe('resolveConnection', () => {
  it('derives the endpoint from the region and reads AK/SK and the project from the environment', () => {
    expect(resolveConnection({}, { ...secrets, HW_REGION_NAME: 'ap-southeast-1' })).toEqual({
      endpoint: 'https://ims.ap-southeast-1.myhuaweicloud.com',
      projectId: 'p0123',
      region: 'ap-southeast-1',
      auth: { kind: 'aksk', credentials: { accessKey: 'AKEXAMPLE0000000000', secretKey: 'very-secret-key-value' } },
      obsEndpoint: new URL('https://obs.ap-southeast-1.myhuaweicloud.com'),
    });
  });

  it("finds OBS's endpoint for the pre-flight: the region's, IMSYNC_OBS_ENDPOINT's, or none beside an IMS endpoint of one's own", () => {
    const env = { ...secrets, HW_REGION_NAME: 'eu-west-101' };
    expect(resolveConnection({}, env).obsEndpoint?.href).toBe('https://obs.eu-west-101.myhuaweicloud.eu/');
    expect(resolveConnection({}, { ...env, IMSYNC_ENDPOINT: 'http://127.0.0.1:9000' }).obsEndpoint).toBeUndefined();
    expect(
      resolveConnection(
        {},
        { ...env, IMSYNC_ENDPOINT: 'http://127.0.0.1:9000', IMSYNC_OBS_ENDPOINT: 'http://obs.localhost:9000' },
      ).obsEndpoint?.href,
    ).toBe('http://obs.localhost:9000/');
    for (const bad of [
      'obs.example',
      'ftp://obs.example',
      'https://u:p@obs.example',
      'https://obs.example/path',
      'https://10.0.0.1',
    ]) {
      expect(() => resolveConnection({}, { ...env, IMSYNC_OBS_ENDPOINT: bad })).toThrow(UsageError);
      expect(() => resolveConnection({}, { ...env, IMSYNC_OBS_ENDPOINT: bad })).toThrow(/^IMSYNC_OBS_ENDPOINT /);
    }
    // The password of a URL is never repeated.
    expect(() => resolveConnection({}, { ...env, IMSYNC_OBS_ENDPOINT: 'https://u:hunter2@obs.example' })).not.toThrow(
      /hunter2/,
    );
  });

  it('prefers flags to the environment, and --endpoint or IMSYNC_ENDPOINT to the region', () => {
    const env = { ...secrets, HW_REGION_NAME: 'ap-southeast-1', IMSYNC_ENDPOINT: 'http://127.0.0.1:9000/' };
    expect(resolveConnection({}, env).endpoint).toBe('http://127.0.0.1:9000');
    expect(resolveConnection({ endpoint: 'https://ims.example.test' }, env).endpoint).toBe('https://ims.example.test');
    expect(resolveConnection({ region: ['cn-north-4'] }, { ...secrets }).endpoint).toBe(
      'https://ims.cn-north-4.myhuaweicloud.com',
    );
    expect(resolveConnection({ projectId: 'other' }, env).projectId).toBe('other');
  });

  it('takes temporary credentials with their security token, or an IAM token', () => {
    const env = { ...secrets, HW_SECURITY_TOKEN: 'sts-token', HW_REGION_NAME: 'cn-north-4' };
    expect(resolveConnection({}, env).auth).toEqual({
      kind: 'aksk',
      credentials: { accessKey: 'AKEXAMPLE0000000000', secretKey: 'very-secret-key-value', securityToken: 'sts-token' },
    });
    expect(
      resolveConnection({}, { HW_AUTH_TOKEN: 'iam-token', HW_PROJECT_ID: 'p', HW_REGION_NAME: 'cn-north-4' }).auth,
    ).toEqual({
      kind: 'token',
      token: 'iam-token',
    });
  });

  it.each([
    [{}, { HW_PROJECT_ID: 'p', HW_REGION_NAME: 'cn-north-4' }, 'no credentials: set HW_ACCESS_KEY and HW_SECRET_KEY'],
    [
      {},
      { HW_ACCESS_KEY: 'AK', HW_PROJECT_ID: 'p', HW_REGION_NAME: 'cn-north-4' },
      'HW_ACCESS_KEY is set but HW_SECRET_KEY is not',
    ],
    [
      {},
      { HW_SECRET_KEY: 'very-secret-key-value', HW_PROJECT_ID: 'p', HW_REGION_NAME: 'cn-north-4' },
      'HW_SECRET_KEY is set but HW_ACCESS_KEY is not',
    ],
    [{}, { ...secrets, HW_PROJECT_ID: undefined, HW_REGION_NAME: 'cn-north-4' }, 'no project'],
    [{ projectId: 'a/b' }, { ...secrets, HW_REGION_NAME: 'cn-north-4' }, '--project-id is not a project id'],
    [{}, { ...secrets }, 'no endpoint: set --region or HW_REGION_NAME'],
    [{}, { ...secrets, HW_REGION_NAME: 'moon base' }, 'HW_REGION_NAME "moon base" is not a region name'],
    [
      { endpoint: 'ims.example' },
      { ...secrets },
      '--endpoint is not a URL such as https://ims.ap-southeast-1.myhuaweicloud.com',
    ],
    [{}, { ...secrets, IMSYNC_ENDPOINT: 'ftp://x' }, 'IMSYNC_ENDPOINT must be an http(s) URL'],
    [{ endpoint: 'https://user:pw@ims.example' }, { ...secrets }, '--endpoint must not carry credentials'],
  ])('refuses %j with %j: %s, never echoing a secret', (options, env, message) => {
    let error: unknown;
    try {
      resolveConnection(options, env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain('very-secret-key-value');
  });
});

describe('resolveConnection: the endpoint is an origin', () => {
  const refusal = (options: { endpoint?: string }, env: NodeJS.ProcessEnv): string => {
    try {
      resolveConnection(options, { ...secrets, ...env });
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      return (error as Error).message;
    }
    throw new Error('expected a refusal');
  };

  it.each([
    [{ endpoint: 'https://gateway.example/ims' }, {}, '--endpoint has a path (/ims)'],
    [{}, { IMSYNC_ENDPOINT: 'http://127.0.0.1:9000/v2/' }, 'IMSYNC_ENDPOINT has a path (/v2/)'],
    [{ endpoint: 'https://ims.example?project=p' }, {}, '--endpoint has a query'],
    [{ endpoint: 'https://ims.example/#top' }, {}, '--endpoint has a fragment'],
  ])('refuses %j %j: %s', (options, env, message) => {
    const text = refusal(options, env);
    expect(text).toContain(message);
    expect(text).toContain('https://ims.ap-southeast-1.myhuaweicloud.com');
  });

  it('takes an origin with or without its trailing slash, and a port', () => {
    expect(resolveConnection({ endpoint: 'https://ims.example:8443/' }, secrets).endpoint).toBe(
      'https://ims.example:8443',
    );
  });
});

describe('resolveConnection: credentials that cannot be sent', () => {
  const env = { ...secrets, HW_REGION_NAME: 'cn-north-4' };
  const refusal = (extra: NodeJS.ProcessEnv): Error => {
    try {
      resolveConnection({}, { ...env, ...extra });
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      return error as Error;
    }
    throw new Error('expected a refusal');
  };

  it.each([
    ['HW_SECRET_KEY', 'very-secret-key-value\n', 'HW_SECRET_KEY ends with a newline'],
    ['HW_ACCESS_KEY', 'AKEXAMPLE0000000000\r\n', 'HW_ACCESS_KEY ends with a newline'],
    ['HW_SECURITY_TOKEN', 'sts-secret-token\n', 'HW_SECURITY_TOKEN ends with a newline'],
    ['HW_AUTH_TOKEN', 'iam-secret-token\n', 'HW_AUTH_TOKEN ends with a newline'],
    ['HW_PROJECT_ID', 'p0123\n', 'HW_PROJECT_ID ends with a newline'],
    ['HW_SECRET_KEY', ' very-secret-key-value', 'HW_SECRET_KEY begins with white space'],
    ['HW_ACCESS_KEY', 'AKEXAMPLE\u00000000', 'HW_ACCESS_KEY contains a control character'],
    [
      'HW_SECURITY_TOKEN',
      'sts-secret-\u2603-token',
      'HW_SECURITY_TOKEN contains a character that cannot be sent in an HTTP header',
    ],
    [
      'HW_ACCESS_KEY',
      'AKEXAMPLE\u00e9\u4e2d',
      'HW_ACCESS_KEY contains a character that cannot be sent in an HTTP header',
    ],
  ])('refuses %s that %j shows, naming it and never echoing it', (name, value, message) => {
    const extra: NodeJS.ProcessEnv =
      name === 'HW_AUTH_TOKEN'
        ? { HW_ACCESS_KEY: undefined, HW_SECRET_KEY: undefined, [name]: value }
        : { [name]: value };
    const error = refusal(extra);
    expect(error.message).toContain(message);
    expect(error.message).not.toContain(value.trim());
    expect(error.message).not.toContain('secret');
  });
});

describe('resolveSettings: the state location', () => {
  it('opens a file store for a path and a PostgreSQL store for a postgres:// or postgresql:// URL, from --state or IMSYNC_STATE', () => {
    expect(resolveSettings({ state: 'team.state.json' }, {}).store).toBeInstanceOf(FileStateStore);
    const url = 'postgres://ops:s3cret@db.internal/platform?schema=team_a';
    for (const settings of [
      resolveSettings({ state: url }, {}),
      resolveSettings({}, { IMSYNC_STATE: url.replace('postgres:', 'postgresql:') }),
    ]) {
      expect(settings.store).toBeInstanceOf(PostgresStateStore);
      expect(settings.store.location).toMatch(/^postgres(ql)?:\/\/ops@db\.internal\/platform\?schema=team_a$/);
    }
  });

  it('refuses a PostgreSQL URL it cannot use, naming the flag or variable, before connecting', () => {
    expect(() => resolveSettings({ state: 'postgres://db/x?sslmode=prefer' }, {})).toThrow(
      new UsageError(
        '--state has sslmode=prefer, which falls back to no TLS unnoticed; imsync takes disable, no-verify, require, verify-ca, verify-full',
      ),
    );
    expect(() => resolveSettings({}, { IMSYNC_STATE: 'postgresql://db/x?schema=A' })).toThrow(
      /^IMSYNC_STATE has schema "A"/,
    );
  });
});
