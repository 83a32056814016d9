// The PostgreSQL store against a real server: the conformance suite, then what only the database
// shows: rows, migrations, the advisory lock, and writes fenced by it.
import { describe, expect, it } from 'vitest';
import { emptyState, type State } from '../../src/state/model.js';
import { openStore } from '../../src/state/open.js';
import { MIGRATIONS, tablesOf } from '../../src/state/postgres/migrations.js';
import type { StateStore } from '../../src/state/store.js';
import { stateFailure } from '../support/failure.js';
import { schemaOf, usePostgres } from '../support/postgres.js';
import { describeStateStore } from '../support/state-store-contract.js';
import { systemSpec } from '../support/specs.js';
import { preflightCache, sourced, submitted } from '../support/states.js';

const { admin, freshLocation } = usePostgres();

function open(location: string): StateStore {
  return openStore(location, {});
}

describeStateStore('postgres', () => {
  const location = freshLocation();
  return Promise.resolve({ store: open(location), reopen: () => open(location) });
});

function withImports(state: State, ...keys: string[]): State {
  return keys.reduce((next, key) => submitted(next, key, systemSpec(key)), state);
}

async function rows(location: string, table: string): Promise<Record<string, unknown>[]> {
  return (await admin.query<Record<string, unknown>>(`SELECT * FROM "${schemaOf(location)}".${table} ORDER BY 1`)).rows;
}

/** Ends, as a lost host would, the database session holding the lock `id`. */
async function loseSession(location: string, id: string): Promise<void> {
  const [holder] = await admin
    .query<{ backend_pid: number }>(
      `SELECT backend_pid FROM "${schemaOf(location)}".imsync_lock_holder WHERE lock_id = $1`,
      [id],
    )
    .then((r) => r.rows);
  await admin.query('SELECT pg_terminate_backend($1)', [holder!.backend_pid]);
  for (let tries = 0; tries < 100; tries++) {
    const alive = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [holder!.backend_pid]);
    if (alive.rowCount === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('postgres state store', () => {
  it('keeps one row per image and the lineage and serial in imsync_meta; a commit rewrites only the rows it changes', async () => {
    const location = freshLocation();
    const store = open(location);
    const base = await store.write(withImports(await store.read(), 'a', 'b', 'c'));
    const changed = withImports(base, 'b').images.b!;
    const before = store.stats().bytes;
    const next = await store.commit(
      base,
      new Map([
        ['b', { ...changed, jobStatus: 'RUNNING' }],
        ['c', null],
      ]),
    );
    expect(await rows(location, 'imsync_meta')).toMatchObject([{ lineage: base.lineage, serial: '2' }]);
    const images = await rows(location, 'imsync_images');
    expect(images.map(({ key, serial }) => [key, serial])).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
    expect(images[1]!.record).toEqual(next.images.b);
    // What was sent: the changed record and its key, not the state.
    expect(store.stats().bytes - before).toBe(
      Buffer.byteLength('b') + Buffer.byteLength(JSON.stringify(next.images.b)),
    );
  });

  it('keeps a record byte for byte as it was written (json, not jsonb)', async () => {
    const location = freshLocation();
    const store = open(location);
    const written = await store.write(withImports(await store.read(), 'web-base'));
    const [row] = await admin
      .query<{ text: string }>(`SELECT record::text AS text FROM "${schemaOf(location)}".imsync_images`)
      .then((r) => r.rows);
    expect(row!.text).toBe(JSON.stringify(written.images['web-base']));
  });

  it('refuses a row that does not decode as STATE_CORRUPT, naming the table and key, and leaves it', async () => {
    const location = freshLocation();
    const store = open(location);
    await store.write(withImports(await store.read(), 'a', 'b'));
    await admin.query(`UPDATE "${schemaOf(location)}".imsync_images SET record = '{"phase": "lost"}' WHERE key = 'b'`);
    const error = await stateFailure(open(location).read());
    expect(error.code).toBe('STATE_CORRUPT');
    expect(error.message).toContain(
      `${location}: table ${schemaOf(location)}.imsync_images, key "b" is not a valid state`,
    );
    expect((await rows(location, 'imsync_images'))[1]!.record).toEqual({ phase: 'lost' });
  });

  it('refuses records without a lineage row as STATE_CORRUPT', async () => {
    const location = freshLocation();
    const store = open(location);
    await store.write(withImports(await store.read(), 'a'));
    await admin.query(`DELETE FROM "${schemaOf(location)}".imsync_meta`);
    const error = await stateFailure(open(location).read());
    expect(error.code).toBe('STATE_CORRUPT');
    expect(error.message).toContain('imsync_images holds 1 records, but');
  });

  it('makes its schema and tables on first use, once, however many stores start together', async () => {
    const location = freshLocation();
    const reads = await Promise.all([1, 2, 3, 4].map(() => open(location).read()));
    expect(reads).toEqual([emptyState(), emptyState(), emptyState(), emptyState()]);
    expect((await rows(location, 'imsync_migrations')).map(({ version }) => version)).toEqual([1, 2]);
  });

  it("brings a database of version 1 up to date: its state reads as it was, then keeps the pre-flight's cache", async () => {
    const location = freshLocation();
    const schema = schemaOf(location);
    const t = tablesOf(schema);
    // The tables as an imsync of version 1 made them, and a state it wrote.
    const old = withImports(emptyState(), 'a');
    await admin.query(`CREATE SCHEMA "${schema}"`);
    for (const statement of MIGRATIONS[0]!(t)) await admin.query(statement);
    await admin.query(
      `CREATE TABLE ${t.migrations} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    await admin.query(`INSERT INTO ${t.migrations} (version) VALUES (1)`);
    await admin.query(`INSERT INTO ${t.meta} (lineage, serial, account) VALUES ('l-1', 3, $1)`, [
      JSON.stringify({ regions: { default: { endpoint: 'embedded-emulator', projectId: 'p' } } }),
    ]);
    await admin.query(`INSERT INTO ${t.images} (key, record, serial) VALUES ('a', $1, 3)`, [
      JSON.stringify(old.images.a),
    ]);

    const store = open(location);
    const read = await store.read();
    expect(read).toEqual({
      ...old,
      lineage: 'l-1',
      serial: 3,
      account: { regions: { default: { endpoint: 'embedded-emulator', projectId: 'p' } } },
    });
    expect('preflight' in read).toBe(false);
    expect((await rows(location, 'imsync_migrations')).map(({ version }) => version)).toEqual([1, 2]);
    expect(await rows(location, 'imsync_meta')).toMatchObject([{ lineage: 'l-1', preflight: null }]);

    const written = await store.write({ ...read, preflight: preflightCache() });
    expect(await open(location).read()).toEqual(written);
    const [meta] = await admin
      .query<{ text: string }>(`SELECT preflight::text AS text FROM ${t.meta}`)
      .then((r) => r.rows);
    expect(meta!.text).toBe(JSON.stringify(preflightCache()));
  });

  it("refuses a pre-flight's cache that does not decode as STATE_CORRUPT, naming the meta table, and leaves it", async () => {
    const location = freshLocation();
    const store = open(location);
    await store.write({ ...withImports(await store.read(), 'a', 'b'), preflight: preflightCache() });
    const bad = {
      ...preflightCache(),
      objects: { 'golden-images:web-base.zvhd2': { etag: '"x"', size: -1, checkedAt: 'now' } },
    };
    await admin.query(`UPDATE "${schemaOf(location)}".imsync_meta SET preflight = $1`, [JSON.stringify(bad)]);
    const error = await stateFailure(open(location).read());
    expect(error.code).toBe('STATE_CORRUPT');
    expect(error.message).toBe(
      `${location}: table ${schemaOf(location)}.imsync_meta is not a valid state: preflight.objects.golden-images:web-base.zvhd2.size is -1, out of range. Expected: The file's size in bytes: a whole number from 0 to 2^53 - 1.; it was left untouched`,
    );
    expect((await rows(location, 'imsync_meta'))[0]!.preflight).toEqual(bad);
  });

  it('refuses a record whose source does not decode, naming its key, not the records before it', async () => {
    const location = freshLocation();
    const store = open(location);
    const state = sourced(withImports(await store.read(), 'a'), 'b', systemSpec('b'));
    await store.write({ ...state, preflight: preflightCache() });
    const broken = { ...state.images.b, source: { etag: 'no quotes', size: 1 } };
    await admin.query(`UPDATE "${schemaOf(location)}".imsync_images SET record = $1 WHERE key = 'b'`, [
      JSON.stringify(broken),
    ]);
    const error = await stateFailure(open(location).read());
    expect(error.code).toBe('STATE_CORRUPT');
    expect(error.message).toContain(
      `${location}: table ${schemaOf(location)}.imsync_images, key "b" is not a valid state: images.b.source.etag "no quotes" is not valid`,
    );
  });

  it('refuses a database whose tables are newer than this imsync knows (STATE_VERSION), and writes nothing', async () => {
    const location = freshLocation();
    await open(location).read();
    await admin.query(`INSERT INTO "${schemaOf(location)}".imsync_migrations (version) VALUES (99)`);
    const error = await stateFailure(open(location).write(withImports(emptyState(), 'a')));
    expect(error.code).toBe('STATE_VERSION');
    expect(error.message).toContain('has tables at version 99');
    expect(error.message).toContain('knows versions up to 2');
    expect(await rows(location, 'imsync_images')).toEqual([]);
  });

  it('names the holder from its row in LOCK_HELD, and frees the lock when the holder session is gone', async () => {
    const location = freshLocation();
    const lock = await open(location).lock('imsync watch');
    expect(await rows(location, 'imsync_lock_holder')).toMatchObject([
      { lock_id: lock.holder.id, command: 'imsync watch', pid: process.pid },
    ]);
    await loseSession(location, lock.holder.id);
    // The dead holder's row is still there, naming a lock nobody holds: it is replaced.
    const next = await open(location).lock('imsync apply');
    expect(await rows(location, 'imsync_lock_holder')).toMatchObject([{ lock_id: next.holder.id }]);
    await lock.release();
    const error = await stateFailure(open(location).lock('imsync plan'));
    expect(error).toMatchObject({ code: 'LOCK_HELD', holder: next.holder });
    await next.release();
    expect(await rows(location, 'imsync_lock_holder')).toEqual([]);
  });

  it('fences a writer whose lock was forced away: it writes nothing, and the new holder state stands', async () => {
    const location = freshLocation();
    const first = open(location);
    const lock = await first.lock('imsync apply');
    const base = await first.write(withImports(await first.read(), 'a'));
    await open(location).forceUnlock(lock.holder.id);
    const second = open(location);
    const next = await second.lock('imsync watch');
    const theirs = await second.commit(await second.read(), new Map([['b', withImports(base, 'b').images.b!]]));
    const error = await stateFailure(first.commit(base, new Map([['c', withImports(base, 'c').images.c!]])));
    expect(error.code).toBe('STATE_UNWRITABLE');
    expect(error.message).toContain(`cannot write ${location}: the connection holding its lock was lost`);
    expect(await open(location).read()).toEqual(theirs);
    await lock.release();
    await next.release();
  });

  it('refuses a write without the lock while another holds it (LOCK_HELD naming the holder)', async () => {
    const location = freshLocation();
    const lock = await open(location).lock('imsync watch');
    const store = open(location);
    const error = await stateFailure(store.write(withImports(await store.read(), 'a')));
    expect(error).toMatchObject({ code: 'LOCK_HELD', holder: lock.holder });
    await lock.release();
    expect((await store.write(withImports(await store.read(), 'a'))).serial).toBe(1);
  });

  it('keeps the replaced state aside on rebuild, rows as they were', async () => {
    const location = freshLocation();
    const store = open(location);
    const old = await store.write({ ...withImports(await store.read(), 'a'), preflight: preflightCache() });
    const { state, aside } = await store.rebuild(withImports(emptyState(), 'b'));
    expect(state.lineage).not.toBe(old.lineage);
    expect(aside).toMatch(new RegExp(`imsync_aside, id \\d+\\)$`));
    expect(await rows(location, 'imsync_aside')).toMatchObject([
      { lineage: old.lineage, serial: '1', preflight: preflightCache(), images: { a: old.images.a } },
    ]);
    expect(Object.keys((await open(location).read()).images)).toEqual(['b']);
  });

  it('says a server it cannot reach is unreachable, naming the location without its password', async () => {
    const location = 'postgres://imsync:hunter2-secret@127.0.0.1:1/test?schema=imsync_unreachable';
    const store = open(location);
    expect(store.location).toBe('postgres://imsync@127.0.0.1:1/test?schema=imsync_unreachable');
    for (const call of [store.read(), store.lock('imsync apply'), store.forceUnlock('0123456789ab')]) {
      const error = await stateFailure(call);
      expect(error.message).toMatch(
        /^cannot (read|write) postgres:\/\/imsync@127\.0\.0\.1:1\/test\?schema=imsync_unreachable: .*ECONNREFUSED/,
      );
      expect(error.message).not.toContain('hunter2');
    }
  });

  it('asks the server for TLS when told to, and says what to change in the URL when that fails', async () => {
    const location = `${freshLocation()}&sslmode=verify-full`;
    const error = await stateFailure(open(location).read());
    expect(error.code).toBe('STATE_UNREADABLE');
    const [{ ssl }] = (await admin.query<{ ssl: string }>('SHOW ssl')).rows as [{ ssl: string }];
    // A test server has no TLS, or a certificate no public CA signed for 127.0.0.1.
    expect(error.message).toMatch(
      ssl === 'off'
        ? `cannot read ${location}: The server does not support SSL connections; add sslmode=disable to the URL to connect without TLS`
        : /; give the database's CA certificate as sslrootcert=PATH in the URL \(or PGSSLROOTCERT\)$/,
    );
  });

  it('names a CA certificate file it cannot read, before connecting', async () => {
    const location = `${freshLocation()}&sslmode=verify-ca&sslrootcert=/nonexistent/rds-ca.pem`;
    const error = await stateFailure(open(location).read());
    expect(error.code).toBe('STATE_UNREADABLE');
    expect(error.message).toMatch(
      /^cannot read the CA certificate \/nonexistent\/rds-ca\.pem \(sslrootcert\): .*ENOENT/,
    );
  });
});
