// The state's files as a user's disk holds them, end to end: a state file lost beside its backup,
// and a disk that fills up during an apply. The built CLI against `imsync emulator`.
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
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
