import { describe, expect, it } from 'vitest';
import { resolveConnection, UsageError } from '../../src/cli/config.js';

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
    });
  });

  it('prefers flags to the environment, and --endpoint or IMSYNC_ENDPOINT to the region', () => {
    const env = { ...secrets, HW_REGION_NAME: 'ap-southeast-1', IMSYNC_ENDPOINT: 'http://127.0.0.1:9000/' };
    expect(resolveConnection({}, env).endpoint).toBe('http://127.0.0.1:9000');
    expect(resolveConnection({ endpoint: 'https://ims.example.test' }, env).endpoint).toBe('https://ims.example.test');
    expect(resolveConnection({ region: 'cn-north-4' }, { ...secrets }).endpoint).toBe(
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
    [{ endpoint: 'ims.example' }, { ...secrets }, '--endpoint "ims.example" is not a URL'],
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
