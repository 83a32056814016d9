// Manifests reached through symbolic links, end to end: the built CLI against `imsync emulator`. A
// linked manifest directory is planned like any other, so `apply --prune` keeps its images; a
// link to nothing stops apply before anything is planned, pruned or sent.
import { mkdir, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { emulatorImages, emulatorRequests } from '../support/emulator-inspect.js';
import { applyArgs, outputOf, planArgs, startEmulator, stopProcesses, Workspace } from '../support/apply-harness.js';

afterEach(stopProcesses);

describe('manifests reached through symbolic links', () => {
  it('a linked manifest directory is planned, apply --prune keeps its image, and a dangling link stops apply', async () => {
    const emulator = await startEmulator(['--job-seconds', '0.3']);
    const workspace = await Workspace.create('imsync-links-');
    await workspace.put('own');
    await workspace.put('shared');
    const first = await workspace.run(applyArgs(workspace), emulator);
    expect(first.code, outputOf(first)).toBe(0);
    expect(await emulatorImages(emulator)).toHaveLength(2);

    // The shared manifest moves out of the tree, which links to where it now is.
    const team = join(workspace.dir, 'team');
    await mkdir(team);
    await rename(join(workspace.manifests, 'shared.yaml'), join(team, 'shared.yaml'));
    await symlink('../team', join(workspace.manifests, 'team'));
    const planned = await workspace.run(planArgs(workspace, '--prune', '--detailed-exitcode'), emulator);
    expect(planned.code, outputOf(planned)).toBe(0);
    expect(planned.stdout).toBe('No changes. 2 images match the manifests.\n');
    const pruned = await workspace.run(applyArgs(workspace, '--prune'), emulator);
    expect(pruned.code, outputOf(pruned)).toBe(0);
    expect((await emulatorImages(emulator)).map((image) => image.name).sort()).toEqual(['image-own', 'image-shared']);

    // The linked directory is gone (an unmounted share, say): nothing is planned, so nothing is pruned.
    await rm(team, { recursive: true });
    const requests = (await emulatorRequests(emulator)).length;
    const refused = await workspace.run(applyArgs(workspace, '--prune'), emulator);
    expect(refused.code, outputOf(refused)).toBe(1);
    expect(refused.stderr).toContain(
      `LINK_DANGLING  ${join(workspace.manifests, 'team')}: a symbolic link to ../team, which does not exist`,
    );
    expect(refused.stdout).toBe('');
    expect(await emulatorRequests(emulator)).toHaveLength(requests);
    expect(await emulatorImages(emulator)).toHaveLength(2);
  });
});
