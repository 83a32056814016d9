// A PostgreSQL server for tests: every location gets a schema of its own, dropped when the file's
// tests end. CI always has the server, so an unreachable one fails the tests, never skips them.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';

/** The server tests use: IMSYNC_TEST_POSTGRES, or the one .ci/run starts. */
export const TEST_SERVER = process.env.IMSYNC_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Registers the file's hooks (the server is checked before the first test; the schemas are
 * dropped after the last) and returns what the tests use.
 */
export function usePostgres(): {
  /** A state location in a fresh schema, as `--state` takes it. */
  freshLocation: () => string;
  /** A connection to the test database for looking at, or tampering with, what a store wrote. */
  admin: pg.Pool;
} {
  const admin = new pg.Pool({ connectionString: TEST_SERVER, max: 2 });
  admin.on('error', () => undefined);
  const schemas: string[] = [];
  beforeAll(async () => {
    await admin.query('SELECT 1').catch((error: Error) => {
      throw new Error(
        `PostgreSQL is not reachable at ${TEST_SERVER} (${error.message || String(error)}): start it with ` +
          '`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or set IMSYNC_TEST_POSTGRES',
      );
    });
  });
  afterAll(async () => {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });
  return {
    admin,
    freshLocation: () => {
      const schema = `imsync_test_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      const url = new URL(TEST_SERVER);
      url.searchParams.set('schema', schema);
      return url.href;
    },
  };
}

/** The schema a location names. */
export function schemaOf(location: string): string {
  return new URL(location).searchParams.get('schema')!;
}
