// One SIGTERM, as systemd, Kubernetes or `timeout` sends it, ends `imsync apply` within seconds even
// while IMS holds an answer back: the state is saved, the lock released, and the next apply settles
// the import that was cut off without importing it twice.
import { request, createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { importPosts, emulatorRequests } from '../support/emulator-inspect.js';
import type { EmulatorProcess } from '../support/emulator-process.js';
import {
  applyArgs,
  expectConverged,
  outputOf,
  startEmulator,
  stopProcesses,
  Workspace,
} from '../support/apply-harness.js';

const servers: Server[] = [];
afterEach(() => {
  stopProcesses();
  for (const server of servers.splice(0)) server.close().closeAllConnections();
});

/**
 * A gateway in front of the emulator that, while `holding`, passes import requests on (the work is
 * done) and keeps their answers back, as a slow IMS does; everything else passes both ways.
 */
async function holdingGateway(emulator: EmulatorProcess) {
  const upstream = new URL(emulator.url);
  const gateway = { holding: true, held: 0 };
  const server = createServer((req, res) => {
    const held = gateway.holding && req.method === 'POST' && req.url?.startsWith('/v2/cloudimages/quickimport');
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (held) {
          gateway.held++;
          answer.resume();
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(forward);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return Object.assign(gateway, { via: { ...emulator, url: `http://127.0.0.1:${port}` } });
}

describe('imsync apply: one SIGTERM', () => {
  it('ends apply within 10 s while IMS holds an answer back; the state is saved and the next apply settles it', async () => {
    const emulator = await startEmulator(['--job-seconds', '0.5']);
    const gateway = await holdingGateway(emulator);
    const workspace = await Workspace.create();
    await workspace.put('held-answer');
    const apply = workspace.start(applyArgs(workspace, '--json'), gateway.via);
    await apply.waitFor((p) => p.stdout().includes('"import.submitting"'), 10_000);
    while (gateway.held === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    const signalled = Date.now();
    apply.child.kill('SIGTERM');
    const run = await apply.exited;
    expect(run.code, outputOf(run)).toBe(130);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(await workspace.files()).not.toContain('imsync.state.json.lock');
    // The intent was durable before the import was sent; the answer never came.
    expect((await workspace.state()).images['held-answer']).toMatchObject({ phase: 'submitting' });

    gateway.holding = false;
    const again = await workspace.run(applyArgs(workspace), gateway.via);
    expect(again.code, outputOf(again)).toBe(0);
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(1);
    await expectConverged(workspace, gateway.via, ['held-answer']);
  });
});
