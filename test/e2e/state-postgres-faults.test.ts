// An apply whose PostgreSQL state goes away under it: the server restarting (a cluster of the test's
// own, as the shared server must not suffer it), or the apply's connections killed with
// pg_terminate_backend. Either way the apply ends with a clear error, what it recorded stays
// recorded, and a re-run converges with every image imported once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/state/open.js';
import { emulatorImages } from '../support/emulator-inspect.js';
import { startCluster, type Cluster } from '../support/postgres-cluster.js';
import { schemaOf, usePostgres } from '../support/postgres.js';
import {
  applyArgs,
  duplicateProblems,
  outputOf,
  startEmulator,
  stopProcesses,
  Workspace,
} from '../support/apply-harness.js';

const { admin, freshLocation } = usePostgres();
let cluster: Cluster | undefined;
let unavailable: string | undefined;

beforeAll(async () => {
  try {
    cluster = await startCluster('127.0.0.1', '127.0.0.1/32');
  } catch (error) {
    unavailable = `a PostgreSQL cluster of its own needs root: ${String(error).split('\n')[0]}`;
  }
}, 60_000);

afterAll(async () => {
  stopProcesses();
  await cluster?.stop();
});

const KEYS = Array.from({ length: 8 }, (_, i) => `pg-fault-${i}`);

/**
 * Starts an apply of KEYS on `location`, does `fault` once its first import is submitted, and
 * returns how the apply ended; then applies again and checks that everything converged once.
 */
async function applyThrough(location: string, fault: () => Promise<void> | void) {
  // Two at a time, so that the fault meets imports submitted, imports running and imports not yet sent.
  const emulator = await startEmulator(['--job-seconds', '2', '--faults', 'jobcap=2']);
  const workspace = await Workspace.create('imsync-pg-fault-');
  for (const key of KEYS) await workspace.put(key);
  const apply = workspace.start([...applyArgs(workspace, '--json'), '--state', location], emulator);
  await apply.waitFor((p) => p.events().some((e) => e.type === 'import.submitted'), 15_000);
  const recordedBefore = await recordedKeys(location);
  await fault();
  const ended = await apply.exited;
  const recordedAfter = await recordedKeys(location);

  const again = await workspace.run([...applyArgs(workspace), '--state', location], emulator);
  expect(again.code, outputOf(again)).toBe(0);
  const state = await openStore(location, {}).read();
  expect(duplicateProblems(KEYS, await emulatorImages(emulator), state)).toEqual([]);
  return { ended, recordedBefore, recordedAfter };
}

async function recordedKeys(location: string): Promise<string[]> {
  return Object.keys((await openStore(location, {}).read()).images);
}

describe('an apply whose PostgreSQL state goes away', () => {
  it('the server restarts: the apply stops saying so, keeps what it recorded, and a re-run converges', async ({
    skip,
  }) => {
    skip(unavailable !== undefined, unavailable);
    const { location } = cluster!;
    const { ended, recordedBefore, recordedAfter } = await applyThrough(location, () => cluster!.restart());
    expect(ended.code, outputOf(ended)).toBe(1);
    expect(ended.stderr).toContain('the connection holding its lock was lost');
    expect(ended.stderr).not.toContain('bug');
    expect(recordedAfter).toEqual(expect.arrayContaining(recordedBefore));
  });

  it('its connections are killed with pg_terminate_backend: the same, on the shared server', async () => {
    // A name of its own, so that only this apply's connections are killed, not other tests'.
    const name = `imsync-${schemaOf(freshLocation())}`;
    const location = `${freshLocation()}&application_name=${name}`;
    const { ended, recordedBefore, recordedAfter } = await applyThrough(location, async () => {
      const killed = await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [name],
      );
      expect(killed.rowCount).toBeGreaterThan(0);
    });
    expect(ended.code, outputOf(ended)).toBe(1);
    expect(ended.stderr).toContain('the connection holding its lock was lost');
    expect(recordedAfter).toEqual(expect.arrayContaining(recordedBefore));
  });
});
