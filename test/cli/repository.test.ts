// The root a markdown plan's paths start from: found by the `.git` entry above the manifests.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { repositoryRoot } from '../../src/cli/repository.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imsync-repository-'));
  await mkdir(join(dir, 'repo', 'infra', 'images'), { recursive: true });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('repositoryRoot', () => {
  it('finds the directory with a .git directory above a manifest directory, a file or a missing path', async () => {
    await mkdir(join(dir, 'repo', '.git'));
    await writeFile(join(dir, 'repo', 'infra', 'images', 'web.yaml'), '');
    const root = join(dir, 'repo');
    expect(await repositoryRoot('infra/images', root)).toBe(root);
    expect(await repositoryRoot('images/web.yaml', join(root, 'infra'))).toBe(root);
    expect(await repositoryRoot(join(root, 'infra', 'gone'), '/')).toBe(root);
    expect(await repositoryRoot('.', root)).toBe(root);
  });

  it('takes a .git file (a worktree, a submodule) for a repository, the nearest one first', async () => {
    await mkdir(join(dir, 'repo', '.git'));
    await writeFile(join(dir, 'repo', 'infra', '.git'), 'gitdir: ../.git/modules/infra\n');
    expect(await repositoryRoot('images', join(dir, 'repo', 'infra'))).toBe(join(dir, 'repo', 'infra'));
  });

  it('finds none outside any repository', async () => {
    expect(await repositoryRoot('infra/images', join(dir, 'repo'))).toBeUndefined();
  });
});
