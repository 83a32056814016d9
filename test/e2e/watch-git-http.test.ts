// `imsync watch --git` against a forge of the test's own: git's smart HTTP (`git http-backend`)
// behind basic auth, the token from IMSYNC_GIT_TOKEN; a signed webhook fetching at once; commits
// applied only when signed by an allowed key (--git-verify).
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRepository } from '../support/git-repo.js';
import { startGitServer, type GitServer } from '../support/git-server.js';
import { cleanup, manifestText, startEmulator, Workspace, type DaemonProcess } from '../support/watch-harness.js';

const USER = 'imsync-bot';
const TOKEN = 'glpat-e2e-7f3a9c21d4';
const SECRET = 'webhook-secret-e2e-5b8d';

const servers: GitServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  await cleanup();
});

/** A forge serving one repository of `git-a` over HTTP with basic auth, and a daemon following it. */
async function forge(extra: readonly string[] = [], token = TOKEN) {
  const workspace = await Workspace.create();
  const repo = await makeRepository(workspace.dir, { files: { 'images/a.yaml': manifestText('git-a') } });
  const server = await startGitServer({ root: workspace.dir, user: USER, password: TOKEN });
  servers.push(server);
  const url = `${server.url}${repo.httpPath}`;
  const secretFile = join(workspace.dir, 'webhook-secret');
  await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const emulator = await startEmulator();
  const daemon = workspace.watchGit(emulator, url, ['--webhook-secret-file', secretFile, ...extra], {
    env: { IMSYNC_GIT_TOKEN: token, IMSYNC_GIT_USERNAME: USER },
  });
  return { workspace, repo, server, url, daemon };
}

async function hook(daemon: DaemonProcess, body: string, headers: Record<string, string>) {
  const response = await fetch(`${await daemon.url()}/hooks/git`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', host: 'imsync.example.com', ...headers },
    body,
  });
  return { status: response.status, text: await response.text() };
}

const githubSignature = (body: string) => `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;

describe('imsync watch --git over smart HTTP', () => {
  it('fetches with the token, and a signed push notification is applied within 2 s', async () => {
    // An hour between fetches: only the webhook can bring the next commit in time.
    const { repo, server, daemon } = await forge(['--git-interval', '1h']);
    await daemon.waitForCommit(repo.initial);
    expect(server.requests.length).toBeGreaterThan(0);
    expect(server.requests.every((request) => request.authenticated)).toBe(true);

    await repo.write('images/b.yaml', manifestText('git-b'));
    const commit = await repo.publish('b');
    const body = JSON.stringify({ ref: 'refs/heads/main', after: commit });
    // Unsigned, or signed with another secret: refused, and nothing fetched.
    const before = server.requests.length;
    expect(await hook(daemon, body, {})).toMatchObject({ status: 401 });
    const forged = `sha256=${createHmac('sha256', 'not-the-secret').update(body).digest('hex')}`;
    expect(await hook(daemon, body, { 'x-hub-signature-256': forged })).toMatchObject({ status: 401 });
    expect(server.requests.length).toBe(before);

    const sent = Date.now();
    const accepted = await hook(daemon, body, {
      'x-hub-signature-256': githubSignature(body),
      'x-github-event': 'push',
      'x-github-delivery': 'e2e-delivery-1',
    });
    expect(accepted).toEqual({ status: 202, text: 'fetching\n' });
    const submitted = await daemon.waitForLog(
      'git-b submitted',
      (line) => line.msg === 'import.submitted' && line.key === 'git-b',
    );
    console.log(`webhook to import.submitted: ${submitted.time - sent} ms`);
    expect(submitted.time - sent).toBeLessThan(2_000);
    expect(submitted.revision).toBe(commit);
    await daemon.waitForCommit(commit);
    expect(daemon.logsWith('webhook refused')).toHaveLength(2);

    const output = daemon.stdout() + daemon.stderr() + JSON.stringify(await daemon.status());
    for (const secret of [TOKEN, SECRET, Buffer.from(`${USER}:${TOKEN}`).toString('base64')]) {
      expect(output).not.toContain(secret);
    }
  });

  it('reports a refused token, without it, and applies nothing until a fetch succeeds', async () => {
    const { daemon, url } = await forge([], 'glpat-wrong-token-11');
    const status = await daemon.waitForStatus('the refusal reported', (s) =>
      typeof s.source.fetch_error === 'string' ? s : undefined,
    );
    expect(status.source.fetch_error).toBe(
      `cannot fetch main from ${url}: the server asks for credentials, and none were given or those given were refused (IMSYNC_GIT_TOKEN, --git-credentials)`,
    );
    const readyz = await daemon.get('/readyz');
    expect(readyz.status).toBe(503);
    expect(readyz.body).toContain(`not ready: no commit of ${url} (main) fetched yet: cannot fetch main`);
    expect(daemon.stdout() + daemon.stderr()).not.toContain('glpat-wrong-token-11');
  });

  it('with --git-verify applies only commits signed by an allowed key, and reports the others', async () => {
    const { workspace, repo } = await (async () => {
      const workspace = await Workspace.create();
      const repo = await makeRepository(workspace.dir);
      return { workspace, repo };
    })();
    const key = join(workspace.dir, 'signer');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'release@acme', '-f', key]);
    await chmod(key, 0o600);
    const allowed = join(workspace.dir, 'allowed_signers');
    await writeFile(allowed, `release@acme ${await readFile(`${key}.pub`, 'utf8')}`);
    const signed = ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`];
    const sign = async (message: string) => {
      await repo.git(...signed, 'commit', '--quiet', '--allow-empty', '-S', '--message', message);
      await repo.push();
      return (await repo.git('rev-parse', 'HEAD')).trim();
    };
    await repo.write('images/a.yaml', manifestText('git-a'));
    await repo.git('add', '--all');
    const first = await sign('a, signed');

    const emulator = await startEmulator();
    const daemon = workspace.watchGit(emulator, repo.fileUrl, ['--git-interval', '1s', '--git-verify', allowed]);
    await daemon.waitForCommit(first);

    await repo.write('images/b.yaml', manifestText('git-b'));
    const unsigned = await repo.publish('b, unsigned');
    const refused = await daemon.waitForLog(
      'the unsigned commit refused',
      (line) => line.msg === 'commit refused: the last good commit stays applied',
    );
    expect(refused).toMatchObject({
      refused: unsigned,
      revision: first,
      error: `commit ${unsigned.slice(0, 12)} is not applied: commit ${unsigned.slice(0, 7)} is not signed`,
    });
    const status = await daemon.status();
    expect(status.source.applied_revision).toBe(first);
    expect(status.source.fetch_error).toContain('is not signed');
    expect(status.images['git-b']).toBeUndefined();

    const fixed = await sign('b, signed');
    const applied = await daemon.waitForCommit(fixed);
    expect(applied.images['git-b']?.revision).toBe(fixed);
  });
});
