// `imsync watch` as operators see it (issue 5): /metrics against what the emulator saw, the
// periodic resync that finds images deleted out of band, the default listen address, and the log
// lines (JSON off a terminal, never a secret). Daemon and emulator run in processes of their own.
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { getWithHost } from '../support/http-host.js';
import { parsePrometheus, sampleValue, samplesNamed } from '../support/prometheus.js';
import {
  countBy,
  emulatorImages,
  emulatorRequests,
  imagesByKey,
  importPosts,
  routeOf,
} from '../support/emulator-inspect.js';
import {
  allDaemonOutput,
  cleanup,
  deleteOutOfBand,
  SECRET_KEY,
  startEmulator,
  Workspace,
} from '../support/watch-harness.js';

afterEach(async () => {
  await cleanup();
  const leaked = allDaemonOutput.splice(0).find((text) => text.includes(SECRET_KEY));
  expect(leaked, 'a daemon printed HW_SECRET_KEY').toBeUndefined();
});

/** The daemon's own metric families, with their types. */
const IMSYNC_FAMILIES = {
  imsync_reconciles_total: 'counter',
  imsync_reconcile_duration_seconds: 'histogram',
  imsync_images: 'gauge',
  imsync_jobs_in_flight: 'gauge',
  imsync_api_requests_total: 'counter',
  imsync_errors_total: 'counter',
  imsync_state_writes_total: 'counter',
} as const;

describe('imsync watch: metrics, resync, address and logs', () => {
  it('/metrics is Prometheus text whose counts match what the emulator saw and /status says', async () => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    for (const key of ['a', 'b', 'c']) await workspace.put(key);
    // No such format: the job fails (IMG.0072); it is retried only when its manifest changes or at a resync.
    await workspace.put('d', { image_url: 'golden:d.qcow2' });
    const daemon = workspace.watch(emulator);
    await daemon.waitForStatus('a, b, c succeeded and d failed', (status) =>
      ['a', 'b', 'c'].every((key) => status.images[key]?.phase === 'succeeded') &&
      status.images.d?.phase === 'failed' &&
      !status.reconciling
        ? status
        : undefined,
    );
    // An update in place; d, unchanged, is not submitted again by that reconcile.
    const failedBefore = daemon.logsWith('import.failed').length;
    await workspace.put('a', { description: 'now described' });
    await daemon.waitForLog('update.succeeded of a', (line) => line.msg === 'update.succeeded' && line.key === 'a');
    const status = await daemon.waitForIdle();
    expect(daemon.logsWith('import.failed')).toHaveLength(failedBefore);

    const scraped = await daemon.get('/metrics');
    expect(scraped.status).toBe(200);
    expect(scraped.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheus(scraped.body);
    for (const [name, type] of Object.entries(IMSYNC_FAMILIES)) {
      expect(families.get(name), name).toMatchObject({ type, help: expect.stringMatching(/\S/) as unknown });
      expect(scraped.body).toContain(`# HELP ${name} `);
      expect(scraped.body).toContain(`# TYPE ${name} ${type}\n`);
    }
    expect(families.get('process_cpu_seconds_total')?.type).toBe('counter'); // the default metrics are there too

    // Every API request the emulator logged is counted under its route and status, and nothing else.
    const requests = await emulatorRequests(emulator);
    const logged = countBy(requests, (request) => `${routeOf(request)} ${request.status}`);
    const counted = new Map(
      samplesNamed(families, 'imsync_api_requests_total').map((sample) => [
        `${sample.labels.route} ${sample.labels.status}`,
        sample.value,
      ]),
    );
    expect(Object.fromEntries(counted)).toEqual(Object.fromEntries(logged));
    const acceptedImports = importPosts(requests).filter((post) => post.status === 200).length;
    expect(sampleValue(families, 'imsync_api_requests_total', { route: 'quick_import', status: '200' })).toBe(
      acceptedImports,
    );
    // a, b, c and d, each once: d's failure is not retried while its manifest stays the same.
    expect(acceptedImports).toBe(daemon.logsWith('import.submitted').length);
    expect(acceptedImports).toBe(4);

    // Images by phase: as /status has them, and as many succeeded as the emulator has active.
    const phases = countBy(Object.values(status.images), (image) => image.phase);
    for (const phase of ['submitting', 'submitted', 'succeeded', 'failed']) {
      expect(sampleValue(families, 'imsync_images', { phase }), phase).toBe(phases.get(phase) ?? 0);
    }
    const active = [...imagesByKey(await emulatorImages(emulator)).values()]
      .flat()
      .filter((image) => image.status === 'active');
    expect(sampleValue(families, 'imsync_images', { phase: 'succeeded' })).toBe(active.length);
    expect(active).toHaveLength(3);
    expect(sampleValue(families, 'imsync_jobs_in_flight')).toBe(0);

    const reconciles = samplesNamed(families, 'imsync_reconciles_total');
    expect(sampleValue(families, 'imsync_reconciles_total', { result: 'applied' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(families, 'imsync_reconcile_duration_seconds_count')).toBe(
      reconciles.reduce((sum, sample) => sum + sample.value, 0),
    );
    expect(sampleValue(families, 'imsync_state_writes_total')).toBeGreaterThan(0);
    const failures = daemon.logsWith('import.failed');
    expect(failures.map((line) => [line.key, line.code])).toEqual(failures.map(() => ['d', 'IMG.0072']));
    expect(failures.length).toBe(daemon.logsWith('import.submitted').filter((line) => line.key === 'd').length);
    expect(sampleValue(families, 'imsync_errors_total', { code: 'IMG.0072' })).toBe(failures.length);
    // A counter never goes down between scrapes.
    const again = parsePrometheus((await daemon.get('/metrics')).body);
    expect(sampleValue(again, 'imsync_state_writes_total')).toBe(sampleValue(families, 'imsync_state_writes_total'));
  });

  it('an image deleted out of band is noticed at the next periodic resync and imported again', async () => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    await workspace.put('victim');
    await workspace.put('bystander');
    // The emulator lists an image as soon as it is accepted: no listing lag to wait out.
    const daemon = workspace.watch(emulator, ['--interval', '2s', '--settle-grace', '1s']);
    const before = await daemon.waitForPhase(['victim', 'bystander'], 'succeeded');
    const victimId = before.images.victim!.image_id!;
    const bystanderId = before.images.bystander!.image_id!;

    const deletedAt = Date.now();
    expect(await deleteOutOfBand(emulator, victimId)).toBeLessThan(300);
    const noticed = await daemon.waitForLog(
      '"image deleted out of band"',
      (line) => line.msg === 'image deleted out of band',
    );
    expect(noticed).toMatchObject({ level: 40, key: 'victim' });
    expect(noticed.imageId ?? noticed.image_id).toBe(victimId);
    // At the next resync (--interval 2s, ±10% jitter), or the one after when the first came within
    // the 1s --settle-grace of the import (an image that new may simply not be listed yet).
    const requested = daemon
      .logsWith('reconcile requested')
      .filter((line) => line.time >= deletedAt && line.time <= noticed.time)
      .map((line) => line.reason);
    expect(requested.filter((reason) => reason === 'periodic resync').length).toBeLessThanOrEqual(2);
    expect(requested.every((reason) => reason === 'periodic resync')).toBe(true);
    expect(noticed.time - deletedAt).toBeLessThan(2 * 2200 + 2000);

    const after = await daemon.waitForStatus('victim imported again', (status) =>
      status.images.victim?.phase === 'succeeded' && status.images.victim.image_id !== victimId ? status : undefined,
    );
    expect(after.images.bystander?.image_id).toBe(bystanderId);
    const byKey = imagesByKey(await emulatorImages(emulator));
    expect(byKey.get('victim')?.map((image) => [image.id, image.status])).toEqual([
      [after.images.victim!.image_id, 'active'],
    ]);
    expect(byKey.get('bystander')?.map((image) => image.id)).toEqual([bystanderId]);
    const posts = countBy(importPosts(await emulatorRequests(emulator)), (post) => post.key);
    expect(Object.fromEntries(posts)).toEqual({ victim: 2, bystander: 1 });
  });

  it('binds 127.0.0.1:9464 by default and logs JSON lines off a terminal, never the secret key', async () => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    await workspace.put('one');
    const daemon = workspace.watch(emulator, [], { defaultListen: true });
    expect(await daemon.url()).toBe('http://127.0.0.1:9464');
    await daemon.waitForPhase(['one'], 'succeeded');
    expect((await fetch('http://127.0.0.1:9464/healthz')).status).toBe(200);
    expect((await fetch('http://127.0.0.1:9464/readyz')).status).toBe(200);
    // Not on the machine's other addresses.
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address?.family === 'IPv4' && !address.internal)?.address;
    if (external !== undefined) {
      await expect(fetch(`http://${external}:9464/healthz`)).rejects.toThrow();
    }

    // Every line of stdout is a JSON object with pino's fields; nothing on stderr.
    const lines = daemon.stdout().trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      expect(parsed, line).toMatchObject({
        level: expect.any(Number) as unknown,
        pid: daemon.pid,
        msg: expect.any(String) as unknown,
      });
      // An ISO time (or pino's default, ms since the epoch).
      const time = parsed.time;
      expect(
        typeof time === 'number' ||
          (typeof time === 'string' && /^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)$/.test(time)),
        line,
      ).toBe(true);
    }
    expect(daemon.stderr()).toBe('');

    // A daemon whose secret key is wrong logs its failures, and never the key.
    const wrongSecret = `wrong-secret-${randomBytes(12).toString('hex')}`;
    const other = await Workspace.create();
    await other.put('two');
    const refused = other.watch(emulator, [], { env: { HW_SECRET_KEY: wrongSecret } });
    const failure = await refused.waitForLog('a failed reconcile', (line) => line.msg.startsWith('reconcile failed'));
    expect(failure.level).toBe(50);
    expect(String(failure.error)).toContain('APIGW.0301');
    expect((await refused.get('/healthz')).status).toBe(200);
    expect((await refused.get('/readyz')).status).toBe(503);
    refused.kill('SIGTERM');
    const run = await refused.exited;
    expect(run.code).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(wrongSecret);
    expect(daemon.stdout() + daemon.stderr()).not.toContain(SECRET_KEY);
  });

  it('answers only its own names: a Host of another name gets 403, --allowed-host adds one; a bad one exits 1', async () => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    await workspace.put('one');
    const bad = await workspace.watch(emulator, ['--allowed-host', 'imsync.test:9464']).exited;
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'imsync: --allowed-host "imsync.test:9464" must be a host name such as imsync.example.com, without a port\n',
    );
    expect(await emulatorRequests(emulator)).toEqual([]);

    const daemon = workspace.watch(emulator, ['--allowed-host', 'imsync.test', '--allowed-host', 'status.imsync.test']);
    const { port } = new URL(await daemon.url());
    const withHost = (host: string) => getWithHost(Number(port), '/status', host);
    expect(await withHost(`rebound.example:${port}`)).toBe(403);
    expect(await withHost(`imsync.test:${port}`)).toBe(200);
    expect(await withHost(`status.imsync.test`)).toBe(200);
    expect(await withHost(`localhost:${port}`)).toBe(200);
  });

  it('a --listen address in use: exits 1 at once with a plain error, releasing the lock, having sent nothing', async () => {
    const { port, close } = await occupyPort();
    try {
      const emulator = await startEmulator();
      const workspace = await Workspace.create();
      await workspace.put('one');
      const run = await workspace.watch(emulator, ['--listen', `127.0.0.1:${port}`]).exited;
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`127.0.0.1:${port}`);
      expect(run.stderr).not.toMatch(/internal error|this is a bug|\n\s+at /);
      await expect(stat(`${workspace.statePath}.lock`)).rejects.toThrow(/ENOENT/);
      expect(await emulatorRequests(emulator)).toEqual([]);
    } finally {
      await close();
    }
  });
});

/** Listens on a free port of 127.0.0.1, so that the daemon cannot. */
async function occupyPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
