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
import { emptyState } from '../../src/state/model.js';
import { StateRecorder } from '../../src/state/recorder.js';
import { Daemon } from '../../src/watch/daemon.js';
import { servesHost, startStatusServer, type ServerOptions, type StatusSources } from '../../src/watch/http.js';
import { createMetrics } from '../../src/watch/metrics.js';
import { MemoryStateStore } from '../support/memory-store.js';

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

async function serve(options: ServerOptions = {}, gitHook?: StatusSources['gitHook']): Promise<number> {
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
  const sources = {
    role: () => daemon,
    metrics,
    source: { kind: 'directory', paths: [] } as const,
    stateLocation: store.location,
    ...(gitHook ? { gitHook } : {}),
  };
  const { server } = await startStatusServer('127.0.0.1', 0, sources, options);
  servers.push(server);
  return (server.address() as AddressInfo).port;
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
    const port = await serve({ allowedHosts: ['imsync.example.com'] });
    for (const path of ['/status', '/metrics', '/healthz', '/readyz', '/']) {
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
    const port = await serve({ limits: { maxConnections: 4, idleMs: 300, requestMs: 300 } });
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
    const port = await serve({}, (headers, body) => {
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
    const port = await serve({}, () => {
      called++;
      return { status: 202, text: 'fetching' };
    });
    expect((await post(port, '', 'GET')).status).toBe(405);
    expect((await post(port, Buffer.alloc(1024 * 1024 + 1, 'x'))).status).toBe(413);
    expect(called).toBe(0);
  });

  it('says there is no webhook when the daemon was started without a secret', async () => {
    const port = await serve();
    expect(await post(port, '{}')).toEqual({
      status: 404,
      text: 'no webhook here: start imsync watch with --git and --webhook-secret-file\n',
    });
  });
});
