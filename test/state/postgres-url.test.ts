import { describe, expect, it } from 'vitest';
import { LocationError, postgresTarget } from '../../src/state/postgres/url.js';

function refusal(url: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    postgresTarget(url, env);
  } catch (error) {
    if (error instanceof LocationError) return error.message;
    throw error;
  }
  throw new Error(`${url} was taken`);
}

describe('postgres state location', () => {
  it('maps the URL to connection settings, and shows it without the password', () => {
    const target = postgresTarget(
      'postgresql://ops:s%40cret@db.internal:6432/platform?schema=team_a&sslmode=verify-full&connect_timeout=3',
      {},
    );
    expect(target).toEqual({
      location: 'postgresql://ops@db.internal:6432/platform?schema=team_a&sslmode=verify-full&connect_timeout=3',
      schema: 'team_a',
      sslMode: 'verify-full',
      password: 's@cret',
      client: {
        host: 'db.internal',
        port: 6432,
        database: 'platform',
        user: 'ops',
        password: 's@cret',
        ssl: { rejectUnauthorized: true },
        connectionTimeoutMillis: 3000,
        query_timeout: 60_000,
        application_name: 'imsync',
      },
    });
  });

  it('leaves out what the URL does not name, for PGUSER, PGPASSWORD, ~/.pgpass and the rest', () => {
    const target = postgresTarget('postgres://127.0.0.1/', {});
    expect(target.client).toEqual({
      host: '127.0.0.1',
      ssl: false,
      connectionTimeoutMillis: 10_000,
      query_timeout: 60_000,
      application_name: 'imsync',
    });
    expect(target.schema).toBe('imsync');
    expect(target.location).toBe('postgres://127.0.0.1/');
  });

  it.each([
    ['a loopback address', 'postgres://127.0.0.1/db', 'disable', false],
    ['localhost', 'postgres://localhost/db', 'disable', false],
    ['IPv6 loopback', 'postgres://[::1]/db', 'disable', false],
    ['another host', 'postgres://rds.example.com/db', 'verify-full', { rejectUnauthorized: true }],
    ['sslmode=disable', 'postgres://rds.example.com/db?sslmode=disable', 'disable', false],
    [
      'sslmode=require (verified, as node-postgres does)',
      'postgres://h/db?sslmode=require',
      'require',
      { rejectUnauthorized: true },
    ],
    [
      'sslmode=no-verify (asked for by name)',
      'postgres://h/db?sslmode=no-verify',
      'no-verify',
      { rejectUnauthorized: false },
    ],
    [
      'sslmode=verify-full on loopback',
      'postgres://127.0.0.1/db?sslmode=verify-full',
      'verify-full',
      { rejectUnauthorized: true },
    ],
  ])('TLS for %s', (_case, url, mode, ssl) => {
    const target = postgresTarget(url, {});
    expect(target.sslMode).toBe(mode);
    expect(target.client.ssl).toEqual(ssl);
  });

  it('verify-ca checks the chain against the CA given, not the host name', () => {
    const target = postgresTarget('postgres://h/db?sslmode=verify-ca&sslrootcert=/etc/rds/ca.pem', {});
    expect(target.caFile).toBe('/etc/rds/ca.pem');
    const ssl = target.client.ssl as { rejectUnauthorized: boolean; checkServerIdentity: () => undefined };
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(ssl.checkServerIdentity()).toBeUndefined();
  });

  it('takes sslmode and the CA from PGSSLMODE and PGSSLROOTCERT when the URL names none', () => {
    const target = postgresTarget('postgres://h/db', { PGSSLMODE: 'verify-ca', PGSSLROOTCERT: '/ca.pem' });
    expect(target).toMatchObject({ sslMode: 'verify-ca', caFile: '/ca.pem' });
    expect(postgresTarget('postgres://h/db?sslmode=disable', { PGSSLMODE: 'verify-full' }).sslMode).toBe('disable');
  });

  it.each([
    ['postgres://h/db?sslmode=prefer', 'has sslmode=prefer, which falls back to no TLS unnoticed'],
    ['postgres://h/db?sslmode=allow', 'has sslmode=allow'],
    [
      'postgres://h/db?sslmode=strict',
      'has sslmode=strict; imsync takes disable, no-verify, require, verify-ca, verify-full',
    ],
    ['postgres://h/db?sslmode=verify-ca', 'has sslmode=verify-ca without sslrootcert=PATH'],
    ['postgres://h/db?schema=Team-A', 'has schema "Team-A"; a schema name is 1 to 63 lowercase letters'],
    ['postgres://h/db?connect_timeout=0', 'has connect_timeout=0'],
    ['postgres://h/db/more', 'has a path of more than one database name'],
    ['postgres://u:pw@h/db?search_path=x', 'has the parameter search_path, which imsync does not take'],
    ['postgres://u:50%zz@h/db', "has a password with a '%' that is not followed by two hex digits"],
    ['postgres://[bad', 'is not a URL such as postgres://'],
  ])('refuses %s, saying why', (url, message) => {
    expect(refusal(url)).toContain(message);
  });

  it('never quotes a password in a refusal', () => {
    for (const url of [
      'postgres://u:hunter2@h/db?password=hunter2',
      'postgres://u:hunter2@[bad',
      'postgres://u:hunter2@h/db?sslmode=x',
    ]) {
      expect(refusal(url)).not.toContain('hunter2');
    }
  });
});
