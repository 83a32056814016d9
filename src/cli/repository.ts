// Where a pull request's paths start: the root of the git repository that holds the manifests.
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/**
 * The nearest directory at or above `path` (resolved from `cwd`) with a `.git` entry: the
 * repository's directory, or the file a worktree or a submodule has in its place. Undefined
 * outside any repository. Only names are looked at: no git is run.
 */
export async function repositoryRoot(path: string, cwd: string): Promise<string | undefined> {
  for (let dir = resolve(cwd, path); ; dir = dirname(dir)) {
    const entry = await stat(join(dir, '.git')).catch(() => undefined);
    if (entry?.isDirectory() || entry?.isFile()) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}
