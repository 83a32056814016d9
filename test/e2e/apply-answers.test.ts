// apply against answers that never end and credentials that cannot be sent: the built CLI against
// `imsync emulator`, both in processes of their own.
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { emulatorRequests, importPosts } from '../support/emulator-inspect.js';
import {
  applyArgs,
  expectConverged,
  jsonLines,
  outputOf,
  startEmulator,
  stopProcesses,
  Workspace,
  type CliRun,
} from '../support/apply-harness.js';

afterEach(stopProcesses);

describe('imsync apply against answers that never end', () => {
  it('gives up on an import answer that drips without end at the request deadline, and settles it by its tag, once', async () => {
    const emulator = await startEmulator(['--job-seconds', '1', '--faults', 'drip=0.3', '--seed', '7']);
    const workspace = await Workspace.create('imsync-drip-');
    const keys = Array.from({ length: 6 }, (_, i) => `drip-${i}`);
    for (const key of keys) await workspace.put(key);

    const runs: CliRun[] = [];
    while (runs.length < 3) {
      const run = await workspace.run(applyArgs(workspace, '--json'), emulator, { IMSYNC_REQUEST_TIMEOUT: '1s' });
      runs.push(run);
      if (run.code === 0) break;
    }
    expect(runs.at(-1)!.code, outputOf(runs.at(-1)!)).toBe(0);
    const posts = importPosts(await emulatorRequests(emulator));
    // Some import answers dripped; none was sent twice: each was found by its attempt's tag.
    const dripped = posts.filter((post) => post.fault === 'drip');
    expect(dripped.length).toBeGreaterThan(0);
    expect(posts).toHaveLength(keys.length);
    const settled = runs.flatMap((run) => jsonLines(run.stdout)).filter((e) => e.type === 'import.settled');
    expect(settled.map((e) => e.key).sort()).toEqual(dripped.map((post) => post.key).sort());
    expect(settled.every((e) => e.found === true)).toBe(true);
    await expectConverged(workspace, emulator, keys);
  }, 90_000);
});

describe('imsync apply with credentials that cannot be sent', () => {
  it('refuses an access key ending with a newline at once: nothing sent, nothing locked, the variable named', async () => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create('imsync-newline-');
    for (let i = 0; i < 40; i++) await workspace.put(`newline-${i}`);

    const run = await workspace.run(applyArgs(workspace, '--refresh=false'), emulator, {
      HW_ACCESS_KEY: `${emulator.accessKey}\n`,
    });
    expect(run.code, outputOf(run)).toBe(1);
    expect(run.stderr).toBe(
      'imsync: HW_ACCESS_KEY ends with a newline (the last line of a mounted file?); remove it\n',
    );
    expect(run.stderr).not.toContain(emulator.accessKey);
    expect(await emulatorRequests(emulator)).toEqual([]);
    expect(existsSync(`${workspace.statePath}.lock`)).toBe(false);
  }, 30_000);
});
