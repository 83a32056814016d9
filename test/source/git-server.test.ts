// The smart-HTTP server the git source's tests fetch from: the system git clones and fetches
// through it, with basic auth, as it would from a forge.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../../src/source/git-command.js';
import { makeRepository, type Repository } from '../support/git-repo.js';
import { basicAuthorization, REALM, startGitServer, type GitServer } from '../support/git-server.js';

const USER = 'imsync-bot';
const PASSWORD = 'correct-horse-battery';
/** Credentials as the git source gives them: a header through the environment, not in the URL. */
const withAuth = (user: string, password: string) => ({
  config: { 'http.extraHeader': `Authorization: ${basicAuthorization(user, password)}` },
});

let dir: string;
let repository: Repository;
let server: GitServer;
let remote: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imsync-git-server-'));
  repository = await makeRepository(dir, { files: { 'images/base.yaml': 'name: base\n' } });
  server = await startGitServer({ root: dir, user: USER, password: PASSWORD });
  remote = `${server.url}${repository.httpPath}`;
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The requests served from now on, for what a step did. */
const recordFrom = () => {
  const start = server.requests.length;
  return () => server.requests.slice(start);
};

describe('startGitServer', () => {
  it('serves a clone over smart HTTP to the right credentials', async () => {
    const served = recordFrom();
    const clone = join(dir, 'clone-ok');
    await git(['clone', '--quiet', remote, clone], withAuth(USER, PASSWORD));
    expect(await readFile(join(clone, 'images/base.yaml'), 'utf8')).toBe('name: base\n');
    expect((await git(['rev-parse', 'HEAD'], { cwd: clone })).trim()).toBe(repository.initial);
    expect(served()).toEqual([
      expect.objectContaining({
        method: 'GET',
        path: '/manifests.git/info/refs',
        query: 'service=git-upload-pack',
        status: 200,
        authenticated: true,
      }),
      expect.objectContaining({ method: 'POST', path: '/manifests.git/git-upload-pack', status: 200 }),
      // Protocol v2 asks for the refs, then for the pack.
      expect.objectContaining({ method: 'POST', path: '/manifests.git/git-upload-pack', status: 200 }),
    ]);
  });

  it.each([
    ['a wrong password', withAuth(USER, 'wrong')],
    ['another user', withAuth('someone', PASSWORD)],
    ['no credentials', {}],
  ])('answers %s with 401 and serves nothing', async (_, run) => {
    const served = recordFrom();
    const clone = join(dir, `clone-${Math.random().toString(36).slice(2)}`);
    await expect(git(['clone', '--quiet', remote, clone], run)).rejects.toThrow(/could not read Username/);
    expect(served().length).toBeGreaterThan(0);
    for (const request of served()) expect(request).toMatchObject({ status: 401, authenticated: false });
  });

  it('asks for basic auth in its realm', async () => {
    const answer = await fetch(`${remote}/info/refs?service=git-upload-pack`);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toBe(`Basic realm="${REALM}"`);
  });

  it("passes Git-Protocol to http-backend: a client asking for v2 gets v2's capabilities", async () => {
    const refs = (headers: Record<string, string>) =>
      fetch(`${remote}/info/refs?service=git-upload-pack`, {
        headers: { authorization: basicAuthorization(USER, PASSWORD), ...headers },
      }).then(async (answer) => ({ type: answer.headers.get('content-type'), body: await answer.text() }));
    const v2 = await refs({ 'git-protocol': 'version=2' });
    expect(v2.type).toBe('application/x-git-upload-pack-advertisement');
    expect(v2.body).toContain('version 2\n');
    expect(v2.body).toContain('fetch=');
    const v0 = await refs({});
    expect(v0.body).not.toContain('version 2');
    expect(v0.body).toContain(`${repository.initial} HEAD`);
  });

  it('answers a repository that is not there with 404', async () => {
    const served = recordFrom();
    await expect(git(['ls-remote', `${server.url}/missing.git`], withAuth(USER, PASSWORD))).rejects.toThrow();
    expect(served()[0]).toMatchObject({ status: 404, authenticated: true });
  });

  it('shows over HTTP what was pushed through file://, a force-push back included', async () => {
    const clone = join(dir, 'clone-follow');
    await git(['clone', '--quiet', remote, clone], withAuth(USER, PASSWORD));
    const fetched = async () => {
      await git(['fetch', '--quiet', 'origin'], { cwd: clone, ...withAuth(USER, PASSWORD) });
      return (await git(['rev-parse', 'origin/main'], { cwd: clone })).trim();
    };

    await repository.write('images/app.yaml', 'name: app\n');
    const second = await repository.commit('add app');
    await repository.push();
    expect(await fetched()).toBe(second);
    expect(await git(['show', `${second}:images/app.yaml`], { cwd: clone })).toBe('name: app\n');

    await repository.forcePush(repository.initial);
    expect(await fetched()).toBe(repository.initial);
    expect(await git(['ls-remote', repository.fileUrl, 'refs/heads/main'])).toContain(repository.initial);
  });

  it('takes a push from the authenticated user: http-backend enables receive-pack for REMOTE_USER', async () => {
    const clone = join(dir, 'clone-push');
    await git(['clone', '--quiet', remote, clone], withAuth(USER, PASSWORD));
    await git(['push', '--quiet', 'origin', 'HEAD:refs/heads/pushed'], { cwd: clone, ...withAuth(USER, PASSWORD) });
    expect(await git(['ls-remote', repository.fileUrl, 'refs/heads/pushed'])).toContain('refs/heads/pushed');
  });

  it('inflates a gzip-encoded negotiation (git compresses a large one)', async () => {
    // Forty annotated tags are forty wants: over a kilobyte of request.
    for (let i = 0; i < 40; i++) await repository.git('tag', '--annotate', '--message', `release ${i}`, `v${i}`);
    await repository.git('push', '--quiet', 'origin', '--tags');
    const served = recordFrom();
    const clone = join(dir, 'clone-tags');
    await git(['clone', '--quiet', remote, clone], withAuth(USER, PASSWORD));
    expect(served()).toContainEqual(expect.objectContaining({ method: 'POST', encoding: 'gzip', status: 200 }));
    expect((await git(['tag', '--list'], { cwd: clone })).split('\n').filter(Boolean)).toHaveLength(40);
  });
});

describe('startGitServer without a user', () => {
  it('serves anyone a fetch but no one a push, and records no one as authenticated', async () => {
    const open = await startGitServer({ root: dir });
    try {
      const heads = await git(['ls-remote', `${open.url}${repository.httpPath}`, 'refs/heads/main']);
      expect(heads).toContain('refs/heads/main');
      expect(open.requests.length).toBeGreaterThan(0);
      for (const request of open.requests) expect(request).toMatchObject({ status: 200, authenticated: false });
      const push = git(['push', '--quiet', `${open.url}${repository.httpPath}`, 'HEAD:refs/heads/anonymous'], {
        cwd: repository.work,
      });
      await expect(push).rejects.toThrow(/403/);
      expect(open.requests.at(-1)).toMatchObject({ query: 'service=git-receive-pack', status: 403 });
    } finally {
      await open.close();
    }
  });
});
