// The git source against real repositories (file://): what each ref follows, a force-push back,
// a tree checked out whole and kept apart per commit, links that stay inside it, and errors that
// say what is wrong without a secret in them.
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GitSource, parseGitPath, parseGitRef, shownUrl, SourceError, type GitRef } from '../../src/source/git.js';
import { makeRepository, type Repository } from '../support/git-repo.js';
import { startGitServer } from '../support/git-server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function setup(ref: GitRef = { kind: 'branch', name: 'main' }, path = 'images') {
  const root = await mkdtemp(join(tmpdir(), 'imsync-git-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const repo = await makeRepository(root);
  const cacheDir = join(root, 'cache');
  const source = (options: Partial<ConstructorParameters<typeof GitSource>[0]> = {}) =>
    new GitSource({ url: repo.fileUrl, ref, path, cacheDir, auth: {}, ...options });
  return { repo, cacheDir, source: source(), sourceWith: source };
}

async function commitFile(repo: Repository, text: string): Promise<string> {
  await repo.write('images/web.yaml', text);
  return repo.publish(text);
}

describe('GitSource', () => {
  it('checks out the branch head, follows new commits and a force-push back to an older one', async () => {
    const { repo, source } = await setup();
    const first = await commitFile(repo, 'one');
    const fetched = await source.fetch();
    expect(fetched.commit).toBe(first);
    expect(await readFile(join(fetched.paths[0]!, 'web.yaml'), 'utf8')).toBe('one');
    const second = await commitFile(repo, 'two');
    const next = await source.fetch();
    expect(next.commit).toBe(second);
    expect(await readFile(join(next.paths[0]!, 'web.yaml'), 'utf8')).toBe('two');
    // The earlier checkout is left as it was, for a reconcile that may still read it.
    expect(await readFile(join(fetched.paths[0]!, 'web.yaml'), 'utf8')).toBe('one');
    await repo.forcePush(first);
    expect((await source.fetch()).commit).toBe(first);
  });

  it('follows a tag, and one commit given by its id', async () => {
    const { repo, sourceWith } = await setup();
    const first = await commitFile(repo, 'one');
    await repo.git('push', '--quiet', 'origin', `${first}:refs/tags/v1`);
    await commitFile(repo, 'two');
    expect((await sourceWith({ ref: { kind: 'tag', name: 'v1' } }).fetch()).commit).toBe(first);
    expect((await sourceWith({ ref: { kind: 'commit', commit: first } }).fetch()).commit).toBe(first);
  });

  it('keeps two checkouts and no partial one', async () => {
    const { repo, source, cacheDir } = await setup();
    await commitFile(repo, 'zero');
    await source.fetch();
    // What a checkout killed half way leaves.
    await mkdir(join(cacheDir, 'trees', '.partial-0123-abcd', 'images'), { recursive: true });
    await writeFile(join(cacheDir, 'trees', '.partial-0123-abcd.index'), '');
    for (const text of ['one', 'two', 'three', 'four']) {
      await commitFile(repo, text);
      await source.fetch();
    }
    expect(await readdir(join(cacheDir, 'trees'))).toHaveLength(2);
  });

  it('checks out a link as a plain file: a manifest tree cannot reach outside itself', async () => {
    const { repo, source } = await setup();
    await repo.write('images/web.yaml', 'one');
    await symlink('/etc/passwd', join(repo.work, 'images', 'passwd.yaml'));
    await repo.commit('a link');
    await repo.push();
    const fetched = await source.fetch();
    const link = join(fetched.paths[0]!, 'passwd.yaml');
    expect((await lstat(link)).isSymbolicLink()).toBe(false);
    expect(await readFile(link, 'utf8')).toBe('/etc/passwd');
  });

  it('says what is wrong: a branch the remote lacks, a directory the commit lacks, an unreachable remote', async () => {
    const { repo, sourceWith } = await setup();
    await commitFile(repo, 'one');
    await expect(sourceWith({ ref: { kind: 'branch', name: 'release' } }).fetch()).rejects.toThrow(
      new SourceError(`cannot fetch release from ${repo.fileUrl}: couldn't find remote ref refs/heads/release`),
    );
    const commit = (await repo.git('rev-parse', 'HEAD')).trim();
    await expect(sourceWith({ path: 'elsewhere' }).fetch()).rejects.toThrow(
      `commit ${commit.slice(0, 12)} of ${repo.fileUrl} has no directory elsewhere`,
    );
    const gone = sourceWith({ url: 'https://user:s3cret-token@127.0.0.1:1/images.git' });
    const { message } = await gone.fetch().then(
      () => new Error('fetched'),
      (caught: Error) => caught,
    );
    expect(message).toMatch(/^cannot fetch main from https:\/\/\*\*\*@127\.0\.0\.1:1\/images\.git: /);
    expect(message).not.toContain('s3cret-token');
  });

  it('checks a commit once: fetched again unchanged, it is neither checked nor checked out again', async () => {
    const { repo, sourceWith } = await setup();
    await commitFile(repo, 'one');
    const checked: string[] = [];
    const source = sourceWith({ check: (_dir, commit) => (checked.push(commit), Promise.resolve(undefined)) });
    const first = await source.fetch();
    expect(await source.fetch()).toBe(first);
    const second = await commitFile(repo, 'two');
    await source.fetch();
    expect(checked).toEqual([first.commit, second]);
  });

  it('refuses a commit its check refuses, naming it, and checks nothing out', async () => {
    const { repo, sourceWith, cacheDir } = await setup();
    const commit = await commitFile(repo, 'one');
    const source = sourceWith({ check: () => Promise.resolve('it is not signed') });
    await expect(source.fetch()).rejects.toThrow(`commit ${commit.slice(0, 12)} is not applied: it is not signed`);
    await expect(readdir(join(cacheDir, 'trees'))).rejects.toThrow(/ENOENT/);
  });
});

describe('GitSource over https with a credential-store file (--git-credentials)', () => {
  it('fetches with the credentials the file holds for the host, and tells refused ones without them', async () => {
    const { repo, sourceWith, cacheDir } = await setup();
    await commitFile(repo, 'one');
    const root = join(repo.bare, '..');
    const server = await startGitServer({ root, user: 'bot', password: 'store-secret-1' });
    cleanups.push(() => server.close());
    const url = `${server.url}${repo.httpPath}`;
    const file = join(cacheDir, '..', 'credentials');
    const write = (password: string) =>
      writeFile(file, `${new URL(server.url).protocol}//bot:${password}@${new URL(server.url).host}\n`, {
        mode: 0o600,
      });

    await write('store-secret-1');
    const fetched = await sourceWith({ url, auth: { credentialsFile: file } }).fetch();
    expect(fetched.commit).toBe((await repo.git('rev-parse', 'HEAD')).trim());
    expect(server.requests.some((request) => request.authenticated)).toBe(true);

    await write('wrong-secret-2');
    const { message } = await sourceWith({ url, auth: { credentialsFile: file }, cacheDir: join(cacheDir, 'other') })
      .fetch()
      .then(
        () => new Error('fetched'),
        (caught: Error) => caught,
      );
    expect(message).toMatch(new RegExp(`^cannot fetch main from ${url}: .*Authentication failed`));
    expect(message).not.toContain('wrong-secret-2');
  });
});

describe('GitSource over ssh', () => {
  it('runs ssh with the key and the known hosts, in batch mode, never accepting a new host key', async () => {
    const { repo, sourceWith, cacheDir } = await setup();
    await commitFile(repo, 'one');
    // An ssh of the test's own on PATH: it notes its arguments and runs the remote command here.
    const bin = join(cacheDir, '..', 'bin');
    await mkdir(bin, { recursive: true });
    const noted = join(bin, 'arguments');
    await writeFile(
      join(bin, 'ssh'),
      `#!/bin/sh\nprintf '%s\\n' "$@" > '${noted}'\nfor last; do :; done\nexec sh -c "$last"\n`,
      { mode: 0o755 },
    );
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const source = sourceWith({
        url: `ssh://git@forge.example.com${repo.bare}`,
        auth: { sshKeyFile: '/keys/deploy key', knownHostsFile: '/keys/known_hosts' },
      });
      expect((await source.fetch()).commit).toBe((await repo.git('rev-parse', 'HEAD')).trim());
    } finally {
      process.env.PATH = path;
    }
    const args = (await readFile(noted, 'utf8')).trim().split('\n');
    expect(args.slice(0, 10)).toEqual([
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-i',
      '/keys/deploy key',
      '-o',
      'UserKnownHostsFile=/keys/known_hosts',
    ]);
    expect(args).toContain('git@forge.example.com');
  });
});

describe('parseGitRef, parseGitPath, shownUrl', () => {
  it.each([
    ['main', { kind: 'branch', name: 'main' }],
    ['release/2026.12', { kind: 'branch', name: 'release/2026.12' }],
    ['tag:v1.2.0', { kind: 'tag', name: 'v1.2.0' }],
    [
      '0123456789abcdef0123456789abcdef01234567',
      { kind: 'commit', commit: '0123456789abcdef0123456789abcdef01234567' },
    ],
  ])('--ref %s', (text, ref) => expect(parseGitRef(text)).toEqual(ref));

  it.each(['', '-main', 'a..b', 'a b', 'main.lock', 'tag:', 'refs/heads/x:y', 'main/', 'a@{1}'])(
    'refuses --ref %j',
    (text) => expect(() => parseGitRef(text)).toThrow(`--ref "${text}" is not a branch, tag:NAME`),
  );

  it.each([
    ['', ''],
    ['.', ''],
    ['./images/', 'images'],
    ['images//prod', 'images/prod'],
  ])('--git-path %j is %j', (text, path) => expect(parseGitPath(text)).toBe(path));

  it.each(['/etc', '..', '../x', 'images/../../x'])('refuses --git-path %j', (text) =>
    expect(() => parseGitPath(text)).toThrow('must be a directory inside the repository'),
  );

  it('shows a URL without its password or token', () => {
    expect(shownUrl('https://bot:ghp_abc@github.com/team/images.git')).toBe('https://***@github.com/team/images.git');
    expect(shownUrl('ssh://git@gitlab.example.com/team/images.git')).toBe(
      'ssh://***@gitlab.example.com/team/images.git',
    );
  });
});
