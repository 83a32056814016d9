// The daemon's HTTP server, for real on 127.0.0.1 (port 0): which Host names it answers (a page
// of another name that resolves to the daemon, DNS rebinding, must read nothing), and the limits
// that keep idle connections from using up its file handles. Its daemon is never started.
import { directorySource } from '../../src/source/follow.js';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { emptyState, failedRecord, intentRecord, submittedRecord } from '../../src/state/model.js';
import { StateRecorder } from '../../src/state/recorder.js';
import { Daemon } from '../../src/watch/daemon.js';
import {
  DEFAULT_LIMITS,
  servesHost,
  startStatusServer,
  type ServerOptions,
  type StatusSources,
} from '../../src/watch/http.js';
import { LiveView } from '../../src/watch/live.js';
import { createMetrics } from '../../src/watch/metrics.js';
import type { LeaderStatus } from '../../src/watch/status-document.js';
import { openEventStream } from '../support/event-stream.js';
import { MemoryStateStore } from '../support/memory-store.js';
import { systemSpec } from '../support/specs.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(
    servers.splice(0).map((server) => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    }),
  );
});

interface Served {
  readonly port: number;
  readonly server: Server;
  readonly recorder: StateRecorder;
  readonly live: LiveView;
}

async function serve(options: ServerOptions = {}, gitHook?: StatusSources['gitHook']): Promise<Served> {
  const store = new MemoryStateStore();
  const recorder = new StateRecorder(store, emptyState());
  const metrics = createMetrics({
    leading: () => true,
    revision: () => undefined,
    phases: () => ({ submitting: 0, submitted: 0, succeeded: 0, failed: 0 }),
    stateStats: () => store.stats(),
  });
  const daemon = new Daemon(
    {
      ims: {} as ConstructorParameters<typeof Daemon>[0]['ims'],
      recorder,
      clock: systemClock,
      metrics,
      log: () => undefined,
      onEvent: () => undefined,
      random: Math.random,
    },
    {
      source: directorySource([]),
      intervalMs: 60_000,
      parallelism: 1,
      allowReplace: false,
      prune: false,
      maxPrune: 10,
      force: false,
      settleGraceMs: 1_000,
    },
  );
  const live = new LiveView();
  const sources = {
    role: () => daemon,
    metrics,
    source: { kind: 'directory', paths: [] } as const,
    stateLocation: store.location,
    live,
    ...(gitHook ? { gitHook } : {}),
  };
  const { server } = await startStatusServer('127.0.0.1', 0, sources, options);
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, server, recorder, live };
}

/** GET `path` on a connection of its own, with `host` as the Host header. */
function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('servesHost', () => {
  const allowed = ['imsync.example.com'];
  const rows: [header: string | undefined, listen: string, served: boolean][] = [
    ['127.0.0.1:9464', '127.0.0.1', true],
    ['127.0.0.1', '127.0.0.1', true],
    ['localhost:9464', '127.0.0.1', true],
    ['LOCALHOST', '127.0.0.1', true],
    ['localhost.', '127.0.0.1', true],
    ['[::1]:9464', '127.0.0.1', true],
    ['[::1]', '::1', true],
    // A pod's own address: Kubernetes probes and Prometheus send the IP they connect to.
    ['10.0.3.7:9464', '0.0.0.0', true],
    ['[fd00::7]:9464', '::', true],
    ['imsync.example.com', '127.0.0.1', true],
    ['imsync.example.com:443', '127.0.0.1', true],
    ['IMSYNC.Example.com.', '127.0.0.1', true],
    ['watch.internal:9464', 'watch.internal', true],
    ['evil.example', '127.0.0.1', false],
    ['evil.example:9464', '0.0.0.0', false],
    ['localhost.evil.example', '127.0.0.1', false],
    ['imsync.example.com.evil.example', '127.0.0.1', false],
    ['sub.imsync.example.com', '127.0.0.1', false],
    ['127.0.0.1.nip.io:9464', '127.0.0.1', false],
    ['other.internal:9464', 'watch.internal', false],
    ['::1', '127.0.0.1', false],
    ['[evil.example]:9464', '127.0.0.1', false],
    ['', '127.0.0.1', false],
    [undefined, '127.0.0.1', false],
  ];
  it.each(rows)('Host %j, listening on %s: served %s', (header, listen, served) => {
    expect(servesHost(header, listen, allowed)).toBe(served);
  });
});

describe('the status server', () => {
  it('answers 403 on every path to a Host that is not its own, and its own names and IP addresses', async () => {
    const { port } = await serve({ allowedHosts: ['imsync.example.com'] });
    for (const path of ['/status', '/metrics', '/healthz', '/readyz', '/', '/?phase=failed', '/events']) {
      const refused = await get(port, path, `rebound.evil.example:${port}`);
      expect(refused.status, path).toBe(403);
      expect(refused.body, path).toContain('--allowed-host');
    }
    expect((await get(port, '/status')).status).toBe(200);
    expect((await get(port, '/status', `localhost:${port}`)).status).toBe(200);
    expect((await get(port, '/metrics', `imsync.example.com:${port}`)).status).toBe(200);
    expect((await get(port, '/healthz', `10.0.3.7:${port}`)).body).toBe('ok\n');
  });

  it('refuses connections beyond its limit at once, closes idle ones, and answers a fresh one after', async () => {
    const { port } = await serve({ limits: { maxConnections: 4, idleMs: 300, requestMs: 300, maxStreams: 2 } });
    const closed = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.on('close', () => closed.add(i));
      socket.resume(); // reading, so that the server's end of the connection is seen
      sockets.push(socket);
      await new Promise((resolve) => socket.once('connect', resolve));
    }
    await delay(100);
    // Four held, idle; the six beyond the limit closed by the server.
    expect(closed.size).toBe(6);
    await delay(1_000);
    // The idle ones closed after their 300 ms.
    expect(closed.size).toBe(10);
    expect(await get(port, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
  });
});

describe('POST /hooks/git', () => {
  /** POSTs `body` to /hooks/git under a name the daemon does not serve, as a forge would. */
  async function post(port: number, body: string | Buffer, method = 'POST') {
    const response = await fetch(`http://127.0.0.1:${port}/hooks/git`, {
      method,
      headers: { host: 'imsync.public.example', 'x-test': 'yes' },
      ...(method === 'POST' ? { body } : {}),
    });
    return { status: response.status, text: await response.text() };
  }

  it('hands the body and headers to the receiver, under any Host, and answers what it says', async () => {
    const seen: { body: string; header: unknown }[] = [];
    const { port } = await serve({}, (headers, body) => {
      seen.push({ body: body.toString(), header: headers['x-test'] });
      return body.toString() === 'signed' ? { status: 202, text: 'fetching' } : { status: 401, text: 'refused: no' };
    });
    expect(await post(port, 'signed')).toEqual({ status: 202, text: 'fetching\n' });
    expect(await post(port, 'forged')).toEqual({ status: 401, text: 'refused: no\n' });
    expect(seen).toEqual([
      { body: 'signed', header: 'yes' },
      { body: 'forged', header: 'yes' },
    ]);
    // The rest of the daemon still answers only its own names.
    expect((await get(port, '/status', 'imsync.public.example')).status).toBe(403);
  });

  it('refuses what is not a notification before the receiver sees it: GET, and a body over 1 MiB', async () => {
    let called = 0;
    const { port } = await serve({}, () => {
      called++;
      return { status: 202, text: 'fetching' };
    });
    expect((await post(port, '', 'GET')).status).toBe(405);
    expect((await post(port, Buffer.alloc(1024 * 1024 + 1, 'x'))).status).toBe(413);
    expect(called).toBe(0);
  });

  it('says there is no webhook when the daemon was started without a secret', async () => {
    const { port } = await serve();
    expect(await post(port, '{}')).toEqual({
      status: 404,
      text: 'no webhook here: start imsync watch with --git and --webhook-secret-file\n',
    });
  });
});

describe('the status page and its event stream', () => {
  const spec = systemSpec('web');
  const started = new Date('2026-11-26T10:00:00.000Z');
  /** The record of an import of `key` submitted as `attemptId`, and the events that tell of it. */
  async function submit(served: Served, key: string, attemptId = `attempt-${key}`): Promise<void> {
    const record = submittedRecord(intentRecord(undefined, { spec, attemptId }, started), `job-${key}`, started);
    await served.recorder.record(key, record);
    served.live.event({ type: 'import.submitting', key, attemptId, time: started.toISOString() });
  }

  it('GET / is the page of the /status document, under a policy with a nonce of its own each time', async () => {
    const served = await serve();
    await served.recorder.record(
      'web',
      failedRecord(
        intentRecord(undefined, { spec, attemptId: 'a1' }, started),
        {
          code: 'IMG.0057',
          reason: 'object <script>alert(1)</script> & "more" not found',
        },
        started,
      ),
    );
    const [first, second] = await Promise.all([
      fetch(`http://127.0.0.1:${served.port}/`),
      fetch(`http://127.0.0.1:${served.port}/?phase=failed`),
    ]);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(first.headers.get('cache-control')).toBe('no-store');
    const body = await first.text();
    expect(body).toContain('<td data-col="phase" class="phase">failed</td>');
    expect(body).toContain(
      'IMG.0057</code> object &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;more&quot; not found',
    );
    const nonces = [first, second].map(
      (r) => /'nonce-([^']+)'/.exec(r.headers.get('content-security-policy') ?? '')?.[1],
    );
    expect(nonces[0]).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(nonces[1]).not.toBe(nonces[0]);
    expect(body).toContain(`<script nonce="${nonces[0]}">`);
    const wrong = await get(served.port, '/?sort=size');
    expect(wrong.status).toBe(400);
    expect(wrong.body).toContain('sort must be one of key, phase, progress, elapsed, error, updated');
  });

  it('/status tells the progress the events told: the percent, and when this attempt started and ended', async () => {
    const served = await serve();
    await submit(served, 'web', 'a1');
    served.live.event({
      type: 'job.progress',
      key: 'web',
      status: 'RUNNING',
      percent: 40,
      time: '2026-11-26T10:00:20.000Z',
    });
    // A record of another attempt than the one seen: nothing is known of it.
    await served.recorder.record(
      'db',
      submittedRecord(intentRecord(undefined, { spec, attemptId: 'b2' }, started), 'job-db', started),
    );
    served.live.event({ type: 'import.submitting', key: 'db', attemptId: 'b1', time: started.toISOString() });
    const status = JSON.parse((await get(served.port, '/status')).body) as LeaderStatus;
    expect(status.images.web).toMatchObject({
      phase: 'submitted',
      progress_percent: 40,
      attempt_started_at: '2026-11-26T10:00:00.000Z',
      attempt_ended_at: null,
    });
    expect(status.images.db).toMatchObject({
      progress_percent: null,
      attempt_started_at: null,
      attempt_ended_at: null,
    });
  });

  it('GET /events starts with the whole /status document, then sends what changed at each change', async () => {
    const served = await serve();
    await submit(served, 'web');
    const stream = await openEventStream(served.port);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream');
    expect(stream.headers['cache-control']).toBe('no-store');
    const first = await stream.next();
    expect(first.event).toBe('status');
    expect(JSON.parse(first.data)).toEqual(JSON.parse((await get(served.port, '/status')).body));

    await submit(served, 'db');
    served.live.event({
      type: 'job.progress',
      key: 'web',
      status: 'RUNNING',
      percent: 55,
      time: started.toISOString(),
    });
    const delta = await stream.next();
    expect(delta.event).toBe('delta');
    const changed = JSON.parse(delta.data) as LeaderStatus & { removed_images: string[] };
    // Both changes in one event; of the images, only those that changed.
    expect(Object.keys(changed.images).sort()).toEqual(['db', 'web']);
    expect(changed.images.web?.progress_percent).toBe(55);
    expect(changed).toMatchObject({ role: 'leader', removed_images: [], last_reconcile: null, diagnostics: [] });

    // Told of a change that changed nothing, it says nothing; the next real change comes alone.
    served.live.changed();
    await served.recorder.record('db', null);
    served.live.changed();
    const removed = JSON.parse((await stream.next()).data) as { images: object; removed_images: string[] };
    expect(removed).toMatchObject({ images: {}, removed_images: ['db'] });
    stream.close();
  });

  it('holds at most maxStreams streams, refuses more saying why, and frees the place of one closed', async () => {
    const served = await serve({ limits: { ...DEFAULT_LIMITS, maxStreams: 2 } });
    const open = [await openEventStream(served.port), await openEventStream(served.port)];
    const refused = await openEventStream(served.port);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('30');
    expect(await refused.body).toBe('at most 2 live pages at once: close one, or read /status\n');
    // The rest of the server answers as ever.
    expect((await get(served.port, '/status')).status).toBe(200);
    open[0]!.close();
    const again = await waitFor(async () => {
      const stream = await openEventStream(served.port);
      return stream.status === 200 ? stream : undefined;
    });
    expect((await again.next()).event).toBe('status');
  });

  it('keeps a stream open past the idle timeout, and the server closes it when it shuts down', async () => {
    const served = await serve({ limits: { maxConnections: 8, idleMs: 200, requestMs: 200, maxStreams: 2 } });
    const stream = await openEventStream(served.port);
    await stream.next();
    await delay(1_000);
    await submit(served, 'web');
    expect((await stream.next()).event).toBe('delta');
    served.server.close();
    served.server.closeAllConnections();
    await stream.ended;
    await expect(stream.next()).rejects.toThrow('the stream ended');
  });
});

/** Polls `probe` until it gives something, for at most 5 s. */
async function waitFor<T>(probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('timed out');
    await delay(20);
  }
}
