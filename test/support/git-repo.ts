// A repository for tests: a bare repository (what a file:// URL names and a GitServer serves)
// and a working clone that commits and pushes to it. The machine's git configuration plays no
// part: git runs through src/source/git-command.ts.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { git } from '../../src/source/git-command.js';

export interface Repository {
  /** The bare repository's path: what a file:// URL names and a GitServer serves. */
  readonly bare: string;
  /** file:// URL of the bare repository. */
  readonly fileUrl: string;
  /** Its path under a GitServer's url: `/<name>.git`. */
  readonly httpPath: string;
  /** The working clone commits are made in; it pushes through the file:// URL. */
  readonly work: string;
  /** The commit makeRepository made. */
  readonly initial: string;
  /** Writes `content` to `path` (relative to the work tree, directories made as needed). */
  write(path: string, content: string): Promise<void>;
  /** Commits every change in the work tree; resolves with the new commit's id. */
  commit(message: string): Promise<string>;
  /** Pushes the work tree's HEAD to the bare repository's branch. */
  push(): Promise<void>;
  /** Commits every change and pushes it: the new commit's id. */
  publish(message: string): Promise<string>;
  /** Moves the branch back (or anywhere) to `commit`, force-pushed, the work tree following. */
  forcePush(commit: string): Promise<void>;
  /** Any other git command, run in the work tree. */
  git(...args: string[]): Promise<string>;
}

/** Who commits: given per run, since no user or system configuration is read. */
const AUTHOR = { 'user.name': 'imsync test', 'user.email': 'test@imsync.invalid', 'commit.gpgsign': 'false' };

/**
 * Makes `<root>/<name>.git`, a bare repository whose `branch` holds one commit of `files`, and a
 * working clone of it in `<root>/<name>.work`.
 */
export async function makeRepository(
  root: string,
  {
    name = 'manifests',
    branch = 'main',
    files = { 'README.md': 'manifests for imsync\n' },
  }: { name?: string; branch?: string; files?: Readonly<Record<string, string>> } = {},
): Promise<Repository> {
  const bare = join(root, `${name}.git`);
  const work = join(root, `${name}.work`);
  const fileUrl = pathToFileURL(bare).href;
  const inWork = (...args: string[]) => git(args, { cwd: work, config: AUTHOR });
  await git(['init', '--quiet', '--bare', `--initial-branch=${branch}`, bare]);
  await git(['init', '--quiet', `--initial-branch=${branch}`, work]);
  await inWork('remote', 'add', 'origin', fileUrl);

  const write = async (path: string, content: string) => {
    const file = join(work, path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
  };
  const commitAll = async (message: string) => {
    await inWork('add', '--all');
    await inWork('commit', '--quiet', '--allow-empty', '--message', message);
    return (await inWork('rev-parse', 'HEAD')).trim();
  };
  const push = async () => void (await inWork('push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`));

  for (const [path, content] of Object.entries(files)) await write(path, content);
  const initial = await commitAll('initial commit');
  await push();
  return {
    bare,
    fileUrl,
    httpPath: `/${name}.git`,
    work,
    initial,
    write,
    commit: commitAll,
    push,
    publish: async (message) => {
      const commit = await commitAll(message);
      await push();
      return commit;
    },
    forcePush: async (target) => {
      await inWork('reset', '--quiet', '--hard', target);
      await inWork('push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${branch}`);
    },
    git: inWork,
  };
}
