// Several `imsync watch --standby` replicas sharing a state on PostgreSQL, one leading: the leader
// killed with -9, or its database session ended, is followed by a standby that resumes its jobs
// without sending them again; a leader whose session is gone steps down and exits.
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/state/open.js';
import { schemaOf, usePostgres } from '../support/postgres.js';
import {
  cleanup,
  exactlyOnceProblems,
  startEmulator,
  Workspace,
  type DaemonProcess,
} from '../support/watch-harness.js';

const { freshLocation, admin } = usePostgres();
afterEach(cleanup);

/** Two replicas on one PostgreSQL state, the first leading. */
async function replicas(emulator: Awaited<ReturnType<typeof startEmulator>>) {
  const workspace = await Workspace.create();
  const location = freshLocation();
  const replica = () => workspace.watch(emulator, ['--standby', '--settle-grace', '1s', '--state', location]);
  const leader = replica();
  await leader.waitForLog('leading', (line) => line.msg === 'watching');
  const standby = replica();
  await standby.waitForLog('another daemon leads', (line) => line.msg === 'another daemon leads');
  return { workspace, location, replica, leader, standby };
}

async function leads(standby: DaemonProcess): Promise<void> {
  await standby.waitForStatus(
    'the standby leading',
    (status) => (status.role === 'leader' ? status : undefined),
    15_000,
  );
}

describe('imsync watch on PostgreSQL: several daemons, one leading', () => {
  it(
    'the leader killed with -9, ten times: a standby leads within 15 s each time and follows its jobs',
    { timeout: 240_000 },
    async () => {
      const emulator = await startEmulator(['--job-seconds', '3', '--faults', 'jobcap=1000']);
      const started = await replicas(emulator);
      const { workspace, location, replica } = started;
      let { leader, standby } = started;
      expect(await standby.status()).toMatchObject({ role: 'standby', leader: { pid: leader.child.pid } });
      const keys: string[] = [];
      const failoverMs: number[] = [];
      for (let round = 0; round < 10; round++) {
        const key = `pg-failover-${round}`;
        keys.push(key);
        await workspace.put(key);
        await leader.waitForLog(`${key} submitted`, (line) => line.msg === 'import.submitted' && line.key === key);
        leader.kill('SIGKILL');
        const killed = Date.now();
        await leads(standby);
        failoverMs.push(Date.now() - killed);
        [leader, standby] = [standby, replica()];
        await standby.waitForLog('another daemon leads', (line) => line.msg === 'another daemon leads');
      }
      await leader.waitForPhase(keys, 'succeeded', 30_000);
      expect(await exactlyOnceProblems(emulator, await openStore(location, {}).read(), keys)).toEqual([]);
      const sorted = [...failoverMs].sort((a, b) => a - b);
      console.log(
        `PostgreSQL failover after kill -9 of the leader, ${sorted.length} times: min ${sorted[0]} ms, median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms`,
      );
    },
  );

  it(
    'a leader whose database session is ended steps down and exits 1; a standby leads and follows its job',
    { timeout: 60_000 },
    async () => {
      const emulator = await startEmulator(['--job-seconds', '3', '--faults', 'jobcap=1000']);
      const { workspace, location, leader, standby } = await replicas(emulator);
      await workspace.put('cut-off');
      await leader.waitForLog('cut-off submitted', (line) => line.msg === 'import.submitted' && line.key === 'cut-off');
      const { rows } = await admin.query<{ backend_pid: number }>(
        `SELECT backend_pid FROM "${schemaOf(location)}".imsync_lock_holder`,
      );
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.backend_pid]);
      const run = await leader.exited;
      expect(run.code).toBe(1);
      expect(leader.logs().some((line) => line.msg === 'lost the state lock: stepping down')).toBe(true);
      expect(run.stderr).toMatch(/was lost .*; stepped down, as another daemon may lead now/);
      await leads(standby);
      await standby.waitForPhase(['cut-off'], 'succeeded', 30_000);
      expect(await exactlyOnceProblems(emulator, await openStore(location, {}).read(), ['cut-off'])).toEqual([]);
    },
  );
});
