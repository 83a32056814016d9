// A repository for tests: a working clone that commits and pushes to a bare repository, which the
// source fetches from (file://, or over HTTP through test/support/git-server.ts). The machine's
// git configuration plays no part.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const ENV = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C' };

export function gitIn(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=imsync test', '-c', 'user.email=test@imsync.invalid', ...args], {
    cwd,
    env: ENV,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

export interface TestRepository {
  /** The bare repository. */
  readonly bare: string;
  readonly url: string;
  /** Writes a file of the working clone (made with its directories), or removes it (null). */
  write(path: string, text: string | null): Promise<void>;
  /** Commits everything and pushes it to `branch`; the new commit's id. */
  commit(message: string, branch?: string): string;
  /** Moves `branch` of the bare repository to `commit`, as a force-push would. */
  forcePush(commit: string, branch?: string): void;
  tag(name: string, commit: string): void;
  remove(): Promise<void>;
}

export async function makeRepository(): Promise<TestRepository> {
  const dir = await mkdtemp(join(tmpdir(), 'imsync-git-'));
  const bare = join(dir, 'images.git');
  const work = join(dir, 'work');
  gitIn(dir, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  gitIn(dir, 'init', '--quiet', '--initial-branch=main', work);
  gitIn(work, 'remote', 'add', 'origin', bare);
  return {
    bare,
    url: `file://${bare}`,
    write: async (path, text) => {
      const file = join(work, path);
      if (text === null) return rm(file, { force: true });
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, text);
    },
    commit: (message, branch = 'main') => {
      gitIn(work, 'add', '--all');
      gitIn(work, 'commit', '--quiet', '--allow-empty', '-m', message);
      gitIn(work, 'push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${branch}`);
      return gitIn(work, 'rev-parse', 'HEAD');
    },
    forcePush: (commit, branch = 'main') => {
      gitIn(work, 'reset', '--quiet', '--hard', commit);
      gitIn(work, 'push', '--quiet', '--force', 'origin', `${commit}:refs/heads/${branch}`);
    },
    tag: (name, commit) => gitIn(work, 'push', '--quiet', '--force', 'origin', `${commit}:refs/tags/${name}`),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
