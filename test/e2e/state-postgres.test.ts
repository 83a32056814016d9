// A state on PostgreSQL, end to end: the built CLI against `imsync emulator` and a real server.
// Moved from a file and back, byte for byte; locked by a process, and freed when it is killed;
// and a password in the URL shown by no command.
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { usePostgres } from '../support/postgres.js';
import {
  applyArgs,
  outputOf,
  planArgs,
  startEmulator,
  stopProcesses,
  Workspace,
  type CliRun,
} from '../support/apply-harness.js';

afterEach(stopProcesses);
const { freshLocation } = usePostgres();

function expectExit(run: CliRun, code: number): CliRun {
  expect(run.code, outputOf(run)).toBe(code);
  return run;
}

/** `location` with a password in it (the server trusts every connection, so any password does). */
function withPassword(location: string, password: string): string {
  const url = new URL(location);
  url.password = password;
  return url.href;
}

async function applied(keys: readonly string[], emulatorArgs: readonly string[] = ['--job-seconds', '0.3']) {
  const emulator = await startEmulator(emulatorArgs);
  const workspace = await Workspace.create('imsync-pg-');
  for (const key of keys) await workspace.put(key);
  return { emulator, workspace };
}

describe('a state on PostgreSQL', () => {
  it('moves from a file to PostgreSQL and back with its lineage, serial and records byte for byte', async () => {
    const { emulator, workspace } = await applied(['move-a', 'move-b', 'move-c']);
    expectExit(await workspace.run(applyArgs(workspace), emulator), 0);
    const original = await readFile(workspace.statePath, 'utf8');
    const location = freshLocation();

    const there = expectExit(
      await workspace.run(['state', 'migrate', '--state', workspace.statePath, '--to', location], emulator),
      0,
    );
    const { lineage, serial } = JSON.parse(original) as { lineage: string; serial: number };
    expect(there.stdout).toContain(
      `Copied 3 records from ${workspace.statePath} to ${location}: lineage ${lineage}, serial ${serial}.`,
    );
    // The same state: nothing to do against it, and a second copy onto it is refused.
    expectExit(await workspace.run([...planArgs(workspace, '--detailed-exitcode'), '--state', location], emulator), 0);
    const again = expectExit(
      await workspace.run(['state', 'migrate', '--state', workspace.statePath, '--to', location], emulator),
      1,
    );
    expect(again.stderr).toContain(`imsync: ${location} already holds a state (3 records, lineage ${lineage}`);

    const back = join(workspace.dir, 'back.state.json');
    expectExit(await workspace.run(['state', 'migrate', '--state', location, '--to', back], emulator), 0);
    expect(await readFile(back, 'utf8')).toBe(original);
  });

  it('refuses a second writer naming the holder, and frees the lock of a holder killed with -9', async () => {
    const { emulator, workspace } = await applied(['held-a', 'held-b'], ['--job-seconds', '30']);
    const location = freshLocation();
    const first = workspace.start([...applyArgs(workspace, '--json'), '--state', location], emulator);
    await first.waitFor((p) => p.events().some((e) => e.type === 'import.submitted'), 15_000);
    const second = expectExit(await workspace.run(['state', 'rm', 'held-a', '--state', location], emulator), 1);
    expect(second.stderr).toMatch(
      new RegExp(
        `^imsync: .+ is locked by imsync apply \\(pid ${first.pid} on ${hostname()}, since .+, lock id [0-9a-f]{12}; `,
      ),
    );
    first.child.kill('SIGKILL');
    await first.exited;
    // Its connection closed with it, and its lock with that: nothing to force.
    const removed = expectExit(
      await workspace.run(['state', 'rm', 'held-a', '--state', location, '--lock-timeout', '10s'], emulator),
      0,
    );
    expect(removed.stdout).toContain(`Removed held-a from ${location}`);
  });

  it('stops an apply whose lock was forced away: it writes nothing more, and exits 1 saying so', async () => {
    const { emulator, workspace } = await applied(['fenced-a'], ['--job-seconds', '4']);
    const location = freshLocation();
    const stored = async () => {
      const list = expectExit(await workspace.run(['state', 'list', '--json', '--state', location], emulator), 0);
      return JSON.parse(list.stdout) as { serial: number; images: Record<string, { phase: string }> };
    };
    const apply = workspace.start([...applyArgs(workspace, '--json'), '--state', location], emulator);
    await apply.waitFor((p) => p.events().some((e) => e.type === 'import.submitted'), 15_000);
    const held = await workspace.run(['state', 'rm', 'fenced-a', '--state', location], emulator);
    const lockId = /force-unlock ([0-9a-f]{12})/.exec(held.stderr)![1]!;
    expectExit(await workspace.run(['force-unlock', lockId, '--state', location], emulator), 0);
    const forced = await stored();
    const done = await apply.exited;
    expect(done.code, outputOf(done)).toBe(1);
    expect(done.stderr).toContain(`imsync: cannot write ${location}: the connection holding its lock was lost`);
    // Its job went on, but the run had lost the right to record it.
    expect(await stored()).toEqual(forced);
    expect(forced.images['fenced-a']!.phase).toBe('submitted');
  });

  it('shows the password of the URL in no output of plan, apply, the state commands or force-unlock', async () => {
    const password = 'pg-pass-4f1c9e';
    const { emulator, workspace } = await applied(['secret-a']);
    const location = withPassword(freshLocation(), password);
    const shown = new URL(location);
    shown.password = '';
    const file = join(workspace.dir, 'copy.state.json');
    const runs = [
      await workspace.run([...applyArgs(workspace), '--state', location], emulator),
      await workspace.run([...planArgs(workspace)], emulator, { IMSYNC_STATE: location }),
      await workspace.run(['state', 'list', '--state', location], emulator),
      await workspace.run(['state', 'show', 'secret-a', '--state', location], emulator),
      await workspace.run(['state', 'show', 'nothing-here', '--state', location], emulator),
      await workspace.run(['state', 'mv', 'secret-a', 'secret-b', '--state', location], emulator),
      await workspace.run(['state', 'migrate', '--state', location, '--to', file], emulator),
      await workspace.run(['state', 'migrate', '--state', file, '--to', location], emulator),
      await workspace.run(['force-unlock', '0123456789ab', '--state', location], emulator),
      await workspace.run(['state', 'list', '--state', location.replace(':5432/', ':1/')], emulator),
      await workspace.run(['state', 'list', '--state', `${location}&sslmode=prefer`], emulator),
    ];
    expect(runs.map((run) => run.code)).toEqual([0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1]);
    for (const run of runs) expect(run.stdout + run.stderr).not.toContain(password);
    expect(runs[5]!.stdout).toContain(`in ${shown.href}.`);
    expect(runs[8]!.stderr).toBe(`imsync: ${shown.href} is not locked; nothing to unlock\n`);
    expect(runs[9]!.stderr).toMatch(/^imsync: cannot read postgres:\/\/postgres@127\.0\.0\.1:1\/.*ECONNREFUSED/);
  });
});
