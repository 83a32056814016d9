// The state's files as a user's disk holds them, end to end: a state file lost beside its backup,
// and a disk that fills up during an apply. The built CLI against `imsync emulator`.
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FileStateStore } from '../../src/state/file-store.js';
import { emulatorRequests, importPosts } from '../support/emulator-inspect.js';
import {
  applyArgs,
  expectConverged,
  outputOf,
  startEmulator,
  stopProcesses,
  Workspace,
  type CliRun,
} from '../support/apply-harness.js';

afterEach(stopProcesses);

function expectExit(run: CliRun, code: number): CliRun {
  expect(run.code, outputOf(run)).toBe(code);
  return run;
}

describe('a state file lost beside its backup', () => {
  it('is refused, nothing is imported twice, and `state rebuild` as the message says brings it back', async () => {
    const keys = ['lost-a', 'lost-b', 'lost-c', 'lost-d', 'lost-e'];
    const emulator = await startEmulator(['--job-seconds', '0.3']);
    const workspace = await Workspace.create('imsync-lost-');
    for (const key of keys) await workspace.put(key);
    expectExit(await workspace.run(applyArgs(workspace), emulator), 0);
    await rm(workspace.statePath);

    // Without a refresh nothing would find the images by their tags: read as empty, every one is imported again.
    const refused = expectExit(await workspace.run(applyArgs(workspace, '--refresh', 'false'), emulator), 1);
    expect(refused.stderr).toContain(
      `imsync: ${workspace.statePath} does not exist, but ${workspace.statePath}.backup (the previous good copy) does: the state was lost`,
    );
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(keys.length);

    const rebuild = refused.stderr
      .match(/`(imsync state rebuild [^`]+)`/)![1]!
      .split(' ')
      .slice(1);
    const rebuilt = expectExit(
      await workspace.run([...rebuild.slice(0, 2), workspace.manifests, ...rebuild.slice(2)], emulator),
      0,
    );
    expect(rebuilt.stdout).toContain('5 images recorded, nothing imported');
    expectExit(await workspace.run(applyArgs(workspace, '--refresh', 'false'), emulator), 0);
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(keys.length);
    await expectConverged(workspace, emulator, keys);
  });
});

describe('a full disk', () => {
  /** A small tmpfs of its own, a real disk to fill; undefined when it cannot be mounted (not root). */
  let disk: string | undefined;
  let why = '';
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imsync-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
      disk = dir;
    } catch (error) {
      why = `a tmpfs cannot be mounted here (${String(error).split('\n')[0]}); mounting one needs root`;
    }
  });
  afterAll(() => {
    if (disk) execFileSync('umount', [disk]);
  });
  afterEach(async () => {
    if (disk) for (const file of await readdir(disk)) await rm(join(disk, file));
  });

  /** Writes to `dir` until no byte more fits. */
  async function fill(dir: string): Promise<void> {
    const filler = await open(join(dir, 'filler'), 'a');
    try {
      for (;;) await filler.write(Buffer.alloc(4096));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    } finally {
      await filler.close();
    }
  }

  it('refuses to start with the reason in words, and leaves no file behind', async ({ skip }) => {
    skip(disk === undefined, why);
    const emulator = await startEmulator();
    const workspace = await Workspace.create('imsync-full-');
    await workspace.put('full-a');
    const state = join(disk!, 'imsync.state.json');
    await fill(disk!);
    const run = expectExit(await workspace.run([...applyArgs(workspace), '--state', state], emulator), 1);
    expect(run.stderr).toBe(`imsync: cannot create ${state}.lock: no space left on device (ENOSPC)\n`);
    expect(await readdir(disk!)).toEqual(['filler']);
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(0);
  });

  it('filling up during an apply: a clear error, a prompt exit, no temporary file, the lock released, the state intact', async ({
    skip,
  }) => {
    skip(disk === undefined, why);
    // Long jobs, and one import sent at a time, each answer a little late: the disk is full while
    // the first jobs are followed and the other imports are still being sent.
    const emulator = await startEmulator(['--job-seconds', '30', '--faults', 'latency=200']);
    const workspace = await Workspace.create('imsync-full-');
    const keys = Array.from({ length: 10 }, (_, i) => `full-${i}`);
    for (const key of keys) await workspace.put(key);
    const state = join(disk!, 'imsync.state.json');
    const apply = workspace.start(
      [...applyArgs(workspace, '--json', '--parallelism', '1'), '--state', state],
      emulator,
    );
    await apply.waitFor((cli) => cli.events().some((event) => event.type === 'import.submitted'), 20_000);
    await fill(disk!);
    const filled = Date.now();
    const run = await apply.exited;
    expect(run.code, outputOf(run)).toBe(1);
    expect(Date.now() - filled, 'ms from the full disk to the exit').toBeLessThan(10_000);
    expect(run.stderr).toMatch(
      new RegExp(`^imsync: cannot write ${state}\\.journal: no space left on device \\(ENOSPC\\)`),
    );
    expect(run.stderr).not.toContain('internal error');
    expect(run.stderr).toContain(
      `; then, releasing the lock: cannot write ${state}: no space left on device (ENOSPC); the lock is released, and ${state}.journal keeps every change until the next writer folds it in\n`,
    );
    expect((await readdir(disk!)).sort()).toEqual(['filler', 'imsync.state.json', 'imsync.state.json.journal']);
    const recorded = await new FileStateStore(state).read();
    expect(Object.keys(recorded.images).length).toBeGreaterThan(0);
    expect(importPosts(await emulatorRequests(emulator)).length).toBeLessThan(keys.length);
  });
});
