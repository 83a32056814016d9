// The PostgreSQL backend: a row of lineage and serial, one row per image, commits that write only
// the rows they change in one transaction, and writers' lock that is a session-level advisory lock,
// held on a connection of its own for as long as the lock: a holder that dies frees it.
// node-postgres is loaded on first use, so that commands that never touch a state do not pay for it.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, ClientBase, ClientConfig, Pool, QueryResult } from 'pg';
import { validateAgainst } from '../../manifest/schema.js';
import { describeSchemaErrors } from '../../manifest/schema-errors.js';
import { checkBase, checkSeedable, checkState } from '../codec.js';
import {
  emptyState,
  STATE_VERSION,
  withChanges,
  type Account,
  type ImageRecord,
  type PreflightCache,
  type RecordChanges,
  type State,
} from '../model.js';
import {
  forceUnlockRefusal,
  lockHeldMessage,
  StateError,
  type LockHolder,
  type StateLock,
  type StateStore,
  type StoreStats,
} from '../store.js';
import { MIGRATIONS, tablesOf, type Tables } from './migrations.js';
import type { PostgresTarget } from './url.js';

const LOCK_POLL_MS = 100;
/** The advisory locks' first key, the second being the schema's: imsync's writers, and its migrations. */
const WRITERS = 0x696d7301;
const MIGRATING = 0x696d7302;
/** How long force-unlock waits for the lock of the session it ended to be freed. */
const TERMINATED_WAIT_MS = 5_000;
/**
 * The lock's session asks the server to notice a peer gone silent within about 11 seconds (the
 * system's default is hours): a holder whose host is lost frees the lock that soon, and a standby
 * leads within 15 s. Keepalives (5 s idle, then 3 probes 2 s apart) cover an idle connection; the
 * user timeout one with an answer in flight, never acknowledged.
 */
const KEEPALIVES =
  'SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3; SET tcp_user_timeout = 11000';

/**
 * The lock's session is asked to answer every HEARTBEAT_MS; one that has not answered anything for
 * LOST_MS counts as lost. The holder steps down then, at least 4 s before the server's keepalives
 * (above) end the session and free the lock for another: a holder cut off never overlaps the next.
 */
const HEARTBEAT_MS = 1_000;
const LOST_MS = 5_000;

/** The lock this store holds: its own connection, whose session holds the advisory lock. */
interface Held {
  readonly client: Client;
  /** Its operations, one after another: a connection runs one transaction at a time. */
  queue: Promise<unknown>;
  /** When the session last answered anything: a long write is a sign of life too. */
  answeredAt: number;
  /** Why the connection was lost, once it was: its session, and the lock with it, are gone. */
  lost?: Error;
  /** Aborted when it is lost, for the holder to step down. */
  readonly lostSignal: AbortController;
}

interface Connection {
  readonly pg: typeof import('pg');
  readonly config: ClientConfig;
  readonly pool: Pool;
}

interface MetaRow {
  readonly lineage: string;
  readonly serial: string;
  readonly account: Account | null;
  readonly preflight: PreflightCache | null;
}

interface HolderRow {
  readonly lock_id: string;
  readonly host: string;
  readonly pid: number;
  readonly command: string;
  readonly since: Date;
  readonly backend_pid: number;
}

export class PostgresStateStore implements StateStore {
  readonly location: string;
  private readonly tables: Tables;
  /** The schema's half of the advisory lock keys. */
  private readonly key: number;
  private connected: Promise<Connection> | undefined;
  private migrated: Promise<void> | undefined;
  private held: Held | undefined;
  private written: StoreStats = { writes: 0, bytes: 0 };

  constructor(private readonly target: PostgresTarget) {
    this.location = target.location;
    this.tables = tablesOf(target.schema);
    this.key = createHash('sha256').update(target.schema).digest().readUInt32BE(0) & 0x7fffffff;
  }

  stats(): StoreStats {
    return this.written;
  }

  read(): Promise<State> {
    const t = this.tables;
    return this.on('read', async (client) => {
      // One round trip: the snapshot, both tables and its end, sent as one simple query.
      const [, meta, images] = (await client
        .query(
          `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
           SELECT lineage, serial::text AS serial, account, preflight FROM ${t.meta};
           SELECT key, record FROM ${t.images} ORDER BY key;
           COMMIT`,
        )
        .catch(async (error: unknown) => {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        })) as unknown as [unknown, QueryResult<MetaRow>, QueryResult<{ key: string; record: ImageRecord }>];
      return this.decode(meta.rows[0], images.rows);
    });
  }

  write(state: State): Promise<State> {
    return this.writing(state, async (client, current) => {
      const next: State = { ...state, lineage: current.lineage || randomUUID(), serial: state.serial + 1 };
      await client.query(`DELETE FROM ${this.tables.images} WHERE key <> ALL($1::text[])`, [Object.keys(next.images)]);
      return { state: next, bytes: await this.putWhole(client, next) };
    });
  }

  commit(base: State, changes: RecordChanges): Promise<State> {
    const next = withChanges(base, changes);
    if (base.lineage === '') return this.write(next);
    return this.writing(base, async (client) => {
      const committed: State = { ...next, serial: base.serial + 1 };
      const removed = [...changes].filter(([, record]) => record === null).map(([key]) => key);
      if (removed.length > 0)
        await client.query(`DELETE FROM ${this.tables.images} WHERE key = ANY($1::text[])`, [removed]);
      const changed = [...changes].filter((change): change is [string, ImageRecord] => change[1] !== null);
      const bytes = await this.upsert(client, committed, changed);
      await client.query(`UPDATE ${this.tables.meta} SET serial = $1, updated_at = now()`, [committed.serial]);
      return { state: committed, bytes };
    });
  }

  seed(state: State): Promise<State> {
    const t = this.tables;
    return this.on('write', (client) =>
      this.counted(
        inTransaction(client, async () => {
          await this.fence(client);
          const current = (
            await client.query<MetaRow>(`SELECT lineage, serial::text AS serial FROM ${t.meta} FOR UPDATE`)
          ).rows[0];
          const { count } = (
            await client.query<{ count: number }>(`SELECT count(*)::integer AS count FROM ${t.images}`)
          ).rows[0]!;
          checkSeedable(this.location, {
            lineage: current?.lineage ?? '',
            serial: Number(current?.serial ?? 0),
            records: count,
          });
          return { state, bytes: await this.putWhole(client, state) };
        }),
      ),
    );
  }

  rebuild(state: State): Promise<{ state: State; aside?: string }> {
    const t = this.tables;
    return this.on('write', async (client) => {
      let aside: string | undefined;
      const rebuilt = await this.counted(
        inTransaction(client, async () => {
          await this.fence(client);
          // Whatever is stored is kept as it is, whether it reads or not.
          const kept = await client.query<{ id: string }>(
            `INSERT INTO ${t.aside} (lineage, serial, account, preflight, images)
             SELECT meta.lineage, meta.serial, meta.account, meta.preflight,
                    coalesce((SELECT json_object_agg(key, record ORDER BY key) FROM ${t.images}), '{}')
             FROM (SELECT 1) AS one LEFT JOIN ${t.meta} AS meta ON true
             WHERE EXISTS (SELECT 1 FROM ${t.meta}) OR EXISTS (SELECT 1 FROM ${t.images})
             RETURNING id`,
          );
          if (kept.rows[0]) aside = `${this.location} (table ${shown(t.aside)}, id ${kept.rows[0].id})`;
          await client.query(`DELETE FROM ${t.images}`);
          const next: State = { ...state, lineage: randomUUID(), serial: 1 };
          return { state: next, bytes: await this.putWhole(client, next) };
        }),
      );
      return { state: rebuilt, ...(aside === undefined ? {} : { aside }) };
    });
  }

  async lock(command: string, waitMs = 0): Promise<StateLock> {
    return this.guard('write', async () => {
      const { pg, config, pool } = await this.connection();
      await this.migrate(pool);
      const client = new pg.Client({ ...config, keepAlive: true });
      const held: Held = {
        client,
        queue: Promise.resolve(),
        answeredAt: Date.now(),
        lostSignal: new AbortController(),
      };
      client.on('error', (error) => lose(held, error));
      const holder: LockHolder = {
        host: hostname(),
        pid: process.pid,
        command,
        since: new Date().toISOString(),
        id: randomBytes(6).toString('hex'),
      };
      try {
        await client.connect();
        await client.query(KEEPALIVES);
        const deadline = Date.now() + waitMs;
        while (!(await yes(client, 'SELECT pg_try_advisory_lock($1, $2) AS yes', [WRITERS, this.key]))) {
          if (Date.now() >= deadline) throw this.lockHeld(await this.holderOf(client));
          await sleep(LOCK_POLL_MS);
        }
        // A row left by a holder that died names nobody: the lock is ours, and so is the row.
        await client.query(
          `INSERT INTO ${this.tables.lockHolder} (id, lock_id, host, pid, command, since, backend_pid)
           VALUES (true, $1, $2, $3, $4, $5, pg_backend_pid())
           ON CONFLICT (id) DO UPDATE SET lock_id = excluded.lock_id, host = excluded.host, pid = excluded.pid,
             command = excluded.command, since = excluded.since, backend_pid = excluded.backend_pid`,
          [holder.id, holder.host, holder.pid, holder.command, holder.since],
        );
      } catch (error) {
        await client.end().catch(() => undefined);
        throw error;
      }
      this.held = held;
      const heartbeat = beat(held);
      return {
        holder,
        lost: held.lostSignal.signal,
        release: () => {
          clearInterval(heartbeat);
          return this.release(held, holder);
        },
      };
    });
  }

  /**
   * Ends the lock's session, which frees the advisory lock whatever else happens: a release never
   * fails. A holder forced out, or whose connection was lost, has nothing left to release.
   */
  private release(held: Held, holder: LockHolder): Promise<void> {
    if (this.held === held) this.held = undefined;
    return serially(held, async () => {
      try {
        await held.client.query(`DELETE FROM ${this.tables.lockHolder} WHERE lock_id = $1`, [holder.id]);
        await held.client.query('SELECT pg_advisory_unlock($1, $2)', [WRITERS, this.key]);
      } catch {
        // The session is gone, and its lock with it; a holder row left behind names no lock.
      } finally {
        await held.client.end().catch(() => undefined);
      }
    });
  }

  forceUnlock(lockId: string): Promise<LockHolder> {
    const t = this.tables;
    return this.on('write', async (client) => {
      const { holder, session } = await inTransaction(client, async () => {
        const row = (await client.query<HolderRow>(`SELECT * FROM ${t.lockHolder} FOR UPDATE`)).rows[0];
        const session = await this.lockSession(client);
        if (session === undefined) throw forceUnlockRefusal(this.location, undefined, lockId);
        if (row === undefined || row.backend_pid !== session) {
          throw new StateError(
            'LOCK_ID_MISMATCH',
            `${this.location} is locked by PostgreSQL session ${session}, which has not named itself yet; ${lockId} is not its lock id, so nothing was unlocked`,
          );
        }
        const holder = holderOf(row);
        if (holder.id !== lockId) throw forceUnlockRefusal(this.location, holder, lockId);
        await client.query('SELECT pg_terminate_backend($1)', [session]);
        await client.query(`DELETE FROM ${t.lockHolder} WHERE lock_id = $1`, [lockId]);
        return { holder, session };
      });
      // The session ends a moment after it is told to; its lock is free once it has.
      const deadline = Date.now() + TERMINATED_WAIT_MS;
      while ((await this.lockSession(client)) === session && Date.now() < deadline) await sleep(LOCK_POLL_MS / 10);
      return holder;
    });
  }

  /** Who holds the writers' lock, when the session holding it is the one its holder row names. */
  private async holderOf(client: ClientBase): Promise<LockHolder | undefined> {
    const row = (await client.query<HolderRow>(`SELECT * FROM ${this.tables.lockHolder}`)).rows[0];
    return row !== undefined && row.backend_pid === (await this.lockSession(client)) ? holderOf(row) : undefined;
  }

  /** The backend pid of the session holding the writers' lock, if one does. */
  private async lockSession(client: ClientBase): Promise<number | undefined> {
    const { rows } = await client.query<{ pid: number }>(
      `SELECT pid FROM pg_locks
       WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = $2 AND objsubid = 2
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [WRITERS, this.key],
    );
    return rows[0]?.pid;
  }

  private lockHeld(holder: LockHolder | undefined): StateError {
    if (holder === undefined) {
      return new StateError(
        'LOCK_HELD',
        `${this.location} is locked by a writer that has not named itself yet; try again`,
      );
    }
    return new StateError('LOCK_HELD', lockHeldMessage(this.location, holder), holder);
  }

  /**
   * Every write takes the writers' lock for its transaction. The session of this store's lock
   * holds it already; any other is refused while someone holds it. So a writer whose lock was
   * forced away or lost writes nothing: its own session is gone, and any other it used is refused.
   */
  private async fence(client: ClientBase): Promise<void> {
    const free = await yes(client, 'SELECT pg_try_advisory_xact_lock($1, $2) AS yes', [WRITERS, this.key]);
    if (!free) throw this.lockHeld(await this.holderOf(client));
  }

  /** A write of `base`'s successor, in one transaction: refused unless the stored state is still `base`. */
  private writing(
    base: State,
    work: (
      client: ClientBase,
      current: { lineage: string; serial: number },
    ) => Promise<{ state: State; bytes: number }>,
  ): Promise<State> {
    return this.on('write', (client) =>
      this.counted(
        inTransaction(client, async () => {
          await this.fence(client);
          const row = (
            await client.query<MetaRow>(`SELECT lineage, serial::text AS serial FROM ${this.tables.meta} FOR UPDATE`)
          ).rows[0];
          const current = { lineage: row?.lineage ?? '', serial: Number(row?.serial ?? 0) };
          checkBase(this.location, current, base);
          return work(client, current);
        }),
      ),
    );
  }

  /** Writes every record of `state`, and its lineage, serial, account and cache; returns the bytes sent. */
  private async putWhole(client: ClientBase, state: State): Promise<number> {
    return (await this.upsert(client, state, Object.entries(state.images))) + (await this.putMeta(client, state));
  }

  /** Writes `records` as they are in `state`; returns the bytes sent. */
  private async upsert(client: ClientBase, state: State, records: readonly [string, ImageRecord][]): Promise<number> {
    if (records.length === 0) return 0;
    const keys = records.map(([key]) => key);
    const texts = records.map(([, record]) => JSON.stringify(record));
    await client.query(
      `INSERT INTO ${this.tables.images} (key, record, serial)
       SELECT key, record, $3 FROM unnest($1::text[], $2::json[]) AS changed (key, record)
       ON CONFLICT (key) DO UPDATE SET record = excluded.record, serial = excluded.serial, updated_at = now()`,
      [keys, texts, state.serial],
    );
    return keys.reduce((bytes, key, index) => bytes + Buffer.byteLength(key) + Buffer.byteLength(texts[index]!), 0);
  }

  /** Writes the lineage, serial, account and cache of `state`; returns the bytes sent. */
  private async putMeta(client: ClientBase, state: State): Promise<number> {
    const account = state.account === undefined ? null : JSON.stringify(state.account);
    const preflight = state.preflight === undefined ? null : JSON.stringify(state.preflight);
    await client.query(
      `INSERT INTO ${this.tables.meta} (id, lineage, serial, account, preflight) VALUES (true, $1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET lineage = excluded.lineage, serial = excluded.serial,
         account = excluded.account, preflight = excluded.preflight, updated_at = now()`,
      [state.lineage, state.serial, account, preflight],
    );
    return Buffer.byteLength(state.lineage) + Buffer.byteLength(account ?? '') + Buffer.byteLength(preflight ?? '');
  }

  private async counted(written: Promise<{ state: State; bytes: number }>): Promise<State> {
    const { state, bytes } = await written;
    this.written = { writes: this.written.writes + 1, bytes: this.written.bytes + bytes };
    return state;
  }

  /** The stored rows as a state, refused (STATE_CORRUPT, naming the table and key) unless valid. */
  private decode(meta: MetaRow | undefined, rows: readonly { key: string; record: ImageRecord }[]): State {
    const t = this.tables;
    if (meta === undefined) {
      if (rows.length === 0) return emptyState();
      throw new StateError(
        'STATE_CORRUPT',
        `${this.location}: table ${shown(t.images)} holds ${rows.length} records, but ${shown(t.meta)} has no row (no lineage, no serial); it was left untouched`,
      );
    }
    const images = Object.fromEntries(rows.map(({ key, record }) => [key, record]));
    const state: State = {
      version: STATE_VERSION,
      lineage: meta.lineage,
      serial: Number(meta.serial),
      images,
      // After the images, where a file has them: a state moved back to a file is the file it was.
      ...(meta.account === null ? {} : { account: meta.account }),
      ...(meta.preflight === null ? {} : { preflight: meta.preflight }),
    };
    try {
      return checkState(state, this.location);
    } catch (error) {
      if (!(error instanceof StateError)) throw error;
      // Each record on its own, and the meta row without them: a bad account or cache is no record's fault.
      const [key, problem] = rows
        .map(({ key, record }) => [key, invalidity({ ...emptyState(), images: { [key]: record } })] as const)
        .find(([, problem]) => problem !== undefined) ?? [undefined, invalidity({ ...state, images: {} })];
      const where =
        key === undefined ? `table ${shown(t.meta)}` : `table ${shown(t.images)}, key ${JSON.stringify(key)}`;
      throw new StateError(
        'STATE_CORRUPT',
        `${this.location}: ${where} is not a valid state: ${problem ?? error.message}; it was left untouched`,
      );
    }
  }

  /**
   * Runs `work` on the lock's connection when this store holds the lock, on one from the pool
   * otherwise; the tables are made or brought up to date first.
   */
  private on<T>(doing: 'read' | 'write', work: (client: ClientBase) => Promise<T>): Promise<T> {
    return this.guard(doing, async () => {
      const held = this.held;
      if (held) {
        return serially(held, async () => {
          if (held.lost) throw lostLock(doing, this.location, held.lost);
          return work(held.client).catch((error: unknown) => {
            throw held.lost && !(error instanceof StateError) ? lostLock(doing, this.location, held.lost) : error;
          });
        });
      }
      const { pool } = await this.connection();
      await this.migrate(pool);
      const client = await pool.connect();
      try {
        return await work(client);
      } finally {
        client.release();
      }
    });
  }

  /** `work`'s outcome, any failure but a StateError told as one that names the state and never the password. */
  private async guard<T>(doing: 'read' | 'write', work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      const scrub = (text: string) =>
        this.target.password === undefined ? text : text.replaceAll(this.target.password, '***');
      if (error instanceof StateError) throw new StateError(error.code, scrub(error.message), error.holder);
      throw new StateError(
        doing === 'read' ? 'STATE_UNREADABLE' : 'STATE_UNWRITABLE',
        scrub(`cannot ${doing} ${this.location}: ${reason(error)}${hint(error)}`),
      );
    }
  }

  private connection(): Promise<Connection> {
    this.connected ??= (async () => {
      const pg = await import('pg');
      const { caFile, client } = this.target;
      let config = client;
      if (caFile !== undefined && typeof client.ssl === 'object') {
        const ca = await readFile(caFile, 'utf8').catch((error: unknown) => {
          throw new StateError(
            'STATE_UNREADABLE',
            `cannot read the CA certificate ${caFile} (sslrootcert): ${reason(error)}`,
          );
        });
        config = { ...client, ssl: { ...client.ssl, ca } };
      }
      // Small and short-lived: a command uses one connection at a time, and needs none once it is done.
      const pool = new pg.Pool({ ...config, max: 2, idleTimeoutMillis: 1_000, allowExitOnIdle: true });
      // An idle connection that breaks is dropped by the pool; the next query opens another.
      pool.on('error', () => undefined);
      return { pg, config, pool };
    })();
    return this.connected;
  }

  /** Applies the migrations this database lacks, once per store, under a lock of their own. */
  private migrate(pool: Pool): Promise<void> {
    this.migrated ??= this.applyMigrations(pool).catch((error: unknown) => {
      this.migrated = undefined;
      throw error;
    });
    return this.migrated;
  }

  private async applyMigrations(pool: Pool): Promise<void> {
    const t = this.tables;
    const client = await pool.connect();
    try {
      if ((await this.schemaVersion(client)) === MIGRATIONS.length) return;
      await inTransaction(client, async () => {
        await client.query('SELECT pg_advisory_xact_lock($1, $2)', [MIGRATING, this.key]);
        // Created only when missing: a role without CREATE on the database can use a schema made for it.
        if (await yes(client, 'SELECT to_regnamespace($1) IS NULL AS yes', [this.target.schema]))
          await client.query(`CREATE SCHEMA ${t.schema}`);
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${t.migrations} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
        );
        for (let version = (await this.schemaVersion(client)) + 1; version <= MIGRATIONS.length; version++) {
          for (const statement of MIGRATIONS[version - 1]!(t)) await client.query(statement);
          await client.query(`INSERT INTO ${t.migrations} (version) VALUES ($1)`, [version]);
        }
      });
    } finally {
      client.release();
    }
  }

  /** The tables' version: 0 before the first migration; refused when newer than this imsync knows. */
  private async schemaVersion(client: ClientBase): Promise<number> {
    const version = await client
      .query<{ version: number }>(`SELECT coalesce(max(version), 0) AS version FROM ${this.tables.migrations}`)
      .then(
        (result) => result.rows[0]!.version,
        (error: { code?: string }) => {
          // No schema or no table yet: nothing was migrated.
          if (error.code === '3F000' || error.code === '42P01') return 0;
          throw error;
        },
      );
    if (version > MIGRATIONS.length) {
      throw new StateError(
        'STATE_VERSION',
        `${this.location} has tables at version ${version} (table ${shown(this.tables.migrations)}); this imsync knows versions up to ${MIGRATIONS.length}: use a newer imsync`,
      );
    }
    return version;
  }
}

async function inTransaction<T>(client: ClientBase, work: () => Promise<T>, begin = 'BEGIN'): Promise<T> {
  await client.query(begin);
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The answer of a query asking one yes-or-no question (`AS yes`). */
async function yes(client: ClientBase, sql: string, values: readonly unknown[]): Promise<boolean> {
  return (await client.query<{ yes: boolean }>(sql, [...values])).rows[0]!.yes;
}

function lose(held: Held, error: Error): void {
  held.lost ??= error;
  held.lostSignal.abort(held.lost);
}

/** Asks the lock's session for a sign of life every HEARTBEAT_MS; lost when none came for LOST_MS. */
function beat(held: Held): NodeJS.Timeout {
  let asking = false;
  const timer = setInterval(() => {
    if (held.lost) return clearInterval(timer);
    if (Date.now() - held.answeredAt > LOST_MS) {
      lose(held, new Error(`its session has not answered for ${LOST_MS / 1000}s`));
      return clearInterval(timer);
    }
    if (asking) return;
    asking = true;
    void serially(held, () => held.client.query('SELECT 1')).then(
      () => (asking = false),
      (error: Error) => lose(held, error),
    );
  }, HEARTBEAT_MS);
  // The heartbeat keeps no command alive.
  timer.unref();
  return timer;
}

function serially<T>(held: Held, work: () => Promise<T>): Promise<T> {
  const run = held.queue.then(work, work).then((result) => {
    held.answeredAt = Date.now();
    return result;
  });
  held.queue = run.catch(() => undefined);
  return run;
}

function holderOf(row: HolderRow): LockHolder {
  return { host: row.host, pid: row.pid, command: row.command, since: row.since.toISOString(), id: row.lock_id };
}

function lostLock(doing: 'read' | 'write', location: string, lost: Error): StateError {
  return new StateError(
    doing === 'read' ? 'STATE_UNREADABLE' : 'STATE_UNWRITABLE',
    `cannot ${doing} ${location}: the connection holding its lock was lost (${reason(lost)}); nothing more is written by this command, whose lock is gone`,
  );
}

/** A problem of one record, as the state's schema says it. */
function invalidity(state: State): string | undefined {
  return describeSchemaErrors(validateAgainst('state', state))[0]?.message;
}

/** A table's name for messages, without SQL's quotes. */
function shown(table: string): string {
  return table.replaceAll('"', '');
}

/** Why a call failed, in the driver's words: an error, its detail, or the errors of every address tried. */
function reason(error: unknown): string {
  const { message, detail, errors } = error as { message?: string; detail?: string; errors?: unknown };
  const text =
    message ||
    (Array.isArray(errors) ? errors.map((each: unknown) => (each as Error).message).join('; ') : '') ||
    String(error);
  return detail ? `${text} (${detail})` : text;
}

/** What to change in the URL, for the failures a setting causes. */
function hint(error: unknown): string {
  const text = reason(error);
  if (/does not support SSL/i.test(text)) return '; add sslmode=disable to the URL to connect without TLS';
  if (/certificate|self[- ]signed/i.test(text)) {
    return "; give the database's CA certificate as sslrootcert=PATH in the URL (or PGSSLROOTCERT)";
  }
  return '';
}
