// `imsync watch --notify` (issue 13): the daemon in a process of its own, against `imsync
// emulator`, posting to a real HTTP receiver on 127.0.0.1 that holds its first post unanswered,
// answers it and the next with 503, then accepts. Imports go on meanwhile; every post verifies
// with the secret, as the README tells a receiver to check it.
import { createHmac, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePrometheus, sampleValue } from '../support/prometheus.js';
import { allDaemonOutput, cleanup, SECRET_KEY, startEmulator, waitUntil, Workspace } from '../support/watch-harness.js';

const servers: Server[] = [];
afterEach(async () => {
  await cleanup();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
  const leaked = allDaemonOutput.splice(0).find((text) => text.includes(SECRET_KEY));
  expect(leaked, 'a daemon printed HW_SECRET_KEY').toBeUndefined();
});

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
  /** The status answered; undefined while the post is held. */
  status?: number;
}

/** A receiver that holds the first post until `release`, answers it and the second 503, then 200. */
async function startReceiver() {
  const posts: Received[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const post: Received = { headers: request.headers, body: Buffer.concat(chunks).toString(), at: Date.now() };
      posts.push(post);
      const answer = () => {
        post.status = posts.indexOf(post) < 2 ? 503 : 200;
        response.writeHead(post.status).end();
      };
      if (posts.length === 1) void released.then(answer);
      else answer();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, posts, release };
}

/** Whether `post` carries a valid Standard Webhooks signature of its body with `secret`. */
function signedWith(post: Received, secret: string): boolean {
  const id = String(post.headers['webhook-id']);
  const timestamp = String(post.headers['webhook-timestamp']);
  const expected = createHmac('sha256', secret).update(`${id}.${timestamp}.${post.body}`).digest('base64');
  const fresh = Math.abs(post.at / 1000 - Number(timestamp)) <= 300;
  return fresh && post.headers['webhook-signature'] === `v1,${expected}`;
}

describe('imsync watch --notify', () => {
  it.each([
    [
      'a URL it cannot post to, without quoting it',
      ['--notify', 'ftp://files.example/SECRET'],
      /^imsync: --notify #1 is a ftp: URL/,
    ],
    ['a secret without a URL', ['--notify-secret-file', 'FILE'], /^imsync: --notify-secret-file goes with --notify$/m],
    [
      'a secret file others can read',
      ['--notify', 'http://127.0.0.1:9/', '--notify-secret-file', 'FILE'],
      /^imsync: --notify-secret-file: webhook secret file .*notify-secret can be read or written by its group or others \(mode 0644\); chmod 600 it$/m,
    ],
  ])('refuses %s, at start', async (_name, flags, message) => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    const secretFile = join(workspace.dir, 'notify-secret');
    await writeFile(secretFile, 'SECRET\n', { mode: 0o644 });
    const args = flags.map((flag) => (flag === 'FILE' ? secretFile : flag));
    const run = await workspace.run(['watch', workspace.manifests, '--state', workspace.statePath, ...args], emulator);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(run.stderr + run.stdout).not.toContain('SECRET');
    expect(run.stdout).toBe('');
  });

  it('posts import.succeeded and import.failed, signed, retried past 503s, while imports go on', async () => {
    const receiver = await startReceiver();
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    const secret = `notify-e2e-${randomBytes(12).toString('hex')}`;
    const secretFile = join(workspace.dir, 'notify-secret');
    await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
    // A path and query such as a webhook URL's, which carry its secret: never logged.
    const token = randomBytes(12).toString('hex');
    const hook = `${receiver.url}/hooks/${token}?token=${token}`;
    // No such format: the job fails (IMG.0072).
    await workspace.put('bad', { image_url: 'golden:bad.qcow2' });
    const daemon = workspace.watch(emulator, ['--notify', hook, '--notify-secret-file', secretFile]);

    // The first post (leader.acquired) is held unanswered; bad fails, and ok is imported all the same.
    await waitUntil(
      'the first post',
      () => receiver.posts[0],
      15_000,
      20,
      () => daemon.tail(),
    );
    await daemon.waitForLog('bad failed', (line) => line.msg === 'import.failed' && line.key === 'bad');
    await workspace.put('ok');
    const status = await daemon.waitForPhase(['ok'], 'succeeded', 8_000);
    expect(receiver.posts.map((post) => post.status)).toEqual([undefined]);

    receiver.release();
    const types = () => receiver.posts.map((post) => (JSON.parse(post.body) as { type: string }).type);
    await waitUntil(
      'import.succeeded delivered',
      () => (types().includes('import.succeeded') ? true : undefined),
      15_000,
    );
    await waitUntil(
      'every post answered',
      () => (receiver.posts.every((post) => post.status) ? true : undefined),
      5_000,
    );
    expect(types()).toEqual([
      'leader.acquired',
      'leader.acquired',
      'leader.acquired',
      'import.failed',
      'import.succeeded',
    ]);
    expect(receiver.posts.map((post) => post.status)).toEqual([503, 503, 200, 200, 200]);
    // A retry is the same notification, with the same id; each has one of its own.
    const ids = receiver.posts.map((post) => post.headers['webhook-id']);
    expect(new Set(ids.slice(0, 3)).size).toBe(1);
    expect(new Set(ids).size).toBe(3);
    for (const post of receiver.posts) {
      expect(signedWith(post, secret), post.body).toBe(true);
      expect(post.headers['content-type']).toBe('application/json');
      expect(post.body).not.toContain(secret);
      expect(post.body).not.toContain(SECRET_KEY);
    }

    const [failed, succeeded] = receiver.posts.slice(3).map((post) => JSON.parse(post.body) as Record<string, unknown>);
    expect(failed).toEqual({
      type: 'import.failed',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      host: hostname(),
      revision: null,
      key: 'bad',
      job_id: expect.stringMatching(/\S/) as unknown,
      code: 'IMG.0072',
      reason: expect.stringMatching(/\S/) as unknown,
    });
    expect(succeeded).toMatchObject({
      type: 'import.succeeded',
      host: hostname(),
      key: 'ok',
      image_id: status.images.ok!.image_id,
      job_id: status.images.ok!.job_id,
    });

    const families = parsePrometheus((await daemon.get('/metrics')).body);
    expect(sampleValue(families, 'imsync_notifications_total', { result: 'retried' })).toBe(2);
    expect(sampleValue(families, 'imsync_notifications_total', { result: 'delivered' })).toBe(3);
    expect(sampleValue(families, 'imsync_notifications_dropped_total')).toBe(0);
    expect(daemon.logsWith('notifications failing; retrying with backoff')).toEqual([
      expect.objectContaining({ target: receiver.url, error: 'answered 503' }),
    ]);
    expect(daemon.logsWith('notifications delivered again')).toEqual([
      expect.objectContaining({ target: receiver.url, failed_attempts: 2 }),
    ]);

    // A graceful shutdown with nothing left to send does not wait out the drain.
    daemon.kill('SIGTERM');
    const exit = await daemon.exited;
    expect(exit.code).toBe(0);
    for (const text of [exit.stdout, exit.stderr]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(secret);
    }
  });
});
