// The executor against the in-process emulator over HTTP, with faults injected at the client's
// edge where a test needs one exact fault at one exact request.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApplyEvent } from '../../src/apply/events.js';
import { executePlan, type ExecutorOptions, type ImsApi } from '../../src/apply/executor.js';
import { systemClock } from '../../src/clock.js';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/emulator/index.js';
import { ImsClient } from '../../src/ims/client.js';
import { ImsError } from '../../src/ims/errors.js';
import type { Image } from '../../src/ims/types.js';
import { planChanges } from '../../src/plan/plan.js';
import { FileStateStore } from '../../src/state/file-store.js';
import { emptyState, type State } from '../../src/state/model.js';
import { StateRecorder } from '../../src/state/recorder.js';
import { manifest, systemSpec } from '../support/specs.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((thing) => thing.close()));
});

async function setup(emulatorOptions: EmulatorOptions = {}) {
  const emulator = await startEmulator({ jobSeconds: 0.3, seed: 5, ...emulatorOptions });
  const [credentials] = emulator.credentials;
  const client = new ImsClient({
    endpoint: emulator.url,
    projectId: emulator.projectId,
    auth: { kind: 'aksk', credentials: credentials! },
  });
  open.push(client, emulator);
  const store = new FileStateStore(join(await mkdtemp(join(tmpdir(), 'imsync-exec-')), 'state.json'));
  return { emulator, client, store };
}

const options = (overrides: Partial<ExecutorOptions> = {}): ExecutorOptions => ({
  parallelism: 4,
  settleGraceMs: 200,
  deleteTimeoutMs: 5000,
  pollMinMs: 50,
  pollMaxMs: 200,
  stop: new AbortController().signal,
  ...overrides,
});

async function run(
  ims: ImsApi,
  store: FileStateStore,
  keys: string[],
  state: State = emptyState(),
  overrides: Partial<ExecutorOptions> = {},
) {
  const events: ApplyEvent[] = [];
  let attempt = 0;
  const plan = planChanges(
    keys.map((key) => manifest(key)),
    state,
  );
  const summary = await executePlan(
    plan,
    {
      ims,
      recorder: new StateRecorder(store, state),
      clock: systemClock,
      newAttemptId: () => `attempt${attempt++}`,
      emit: (event) => events.push(event),
    },
    options(overrides),
  );
  return { summary, events, state: await store.read() };
}

async function imagesOf(emulator: RunningEmulator): Promise<Image[]> {
  const response = await fetch(`${emulator.url}/__emulator/images`);
  return ((await response.json()) as { images: Image[] }).images;
}

const keys = (n: number) => Array.from({ length: n }, (_, i) => `image-${i}`);

describe('executePlan', () => {
  it('imports every image, follows each job to its end and records it', async () => {
    const { client, store, emulator } = await setup();
    const { summary, state, events } = await run(client, store, keys(5));
    expect(summary).toMatchObject({ imported: 5, failed: 0, stillRunning: 0 });
    const images = await imagesOf(emulator);
    for (const key of keys(5)) {
      const image = images.find((i) => i.tags.includes(`imsync-key=${key}`));
      expect(state.images[key]).toMatchObject({ phase: 'succeeded', imageId: image?.id });
      expect(image?.tags).toContain(`imsync-attempt=${state.images[key]!.attemptId}`);
    }
    expect(events.at(-1)).toMatchObject({ type: 'apply.finished' });
  });

  it('keeps at most `parallelism` imports in flight, and waiting for jobs holds no slot', async () => {
    const { client, store } = await setup({ jobSeconds: 1, faults: { latencyMs: [40, 40] } });
    let inFlight = 0;
    let most = 0;
    const counting: ImsApi = Object.assign(Object.create(client) as ImsClient, {
      quickImport: async (...args: Parameters<ImsClient['quickImport']>) => {
        most = Math.max(most, ++inFlight);
        try {
          return await client.quickImport(...args);
        } finally {
          inFlight--;
        }
      },
    });
    const started = Date.now();
    const { summary } = await run(counting, store, keys(12), emptyState(), { parallelism: 3 });
    expect(summary.imported).toBe(12);
    expect(most).toBe(3);
    // 12 one-second jobs through 3 slots: were waiting to hold a slot, this would take 4 s.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('settles an import whose answer was lost by its tag, and never sends it again', async () => {
    const { client, store, emulator } = await setup();
    let lost = false;
    const losing: ImsApi = Object.assign(Object.create(client) as ImsClient, {
      quickImport: async (...args: Parameters<ImsClient['quickImport']>) => {
        const jobId = await client.quickImport(...args);
        if (!lost) {
          lost = true;
          throw new ImsError('POST: socket hang up', 'UND_ERR_SOCKET', 'ambiguous');
        }
        return jobId;
      },
    });
    const { summary, events, state } = await run(losing, store, ['web']);
    expect(summary).toMatchObject({ imported: 1, failed: 0 });
    expect(events.map((e) => e.type)).toContain('import.ambiguous');
    expect(events).toContainEqual(expect.objectContaining({ type: 'import.settled', found: true }));
    const images = await imagesOf(emulator);
    expect(images).toHaveLength(1);
    expect(state.images.web).toMatchObject({ phase: 'succeeded', imageId: images[0]!.id });
  });

  it('sends a new attempt when an unanswered one is provably absent after the grace period', async () => {
    const { client, store, emulator } = await setup();
    let reset = false;
    const resetting: ImsApi = Object.assign(Object.create(client) as ImsClient, {
      quickImport: async (...args: Parameters<ImsClient['quickImport']>) => {
        if (!reset) {
          reset = true;
          throw new ImsError('POST: connection reset', 'ECONNRESET', 'ambiguous');
        }
        return client.quickImport(...args);
      },
    });
    const { summary, events, state } = await run(resetting, store, ['web']);
    expect(summary.imported).toBe(1);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'import.settled', found: false, attemptId: 'attempt0' }),
    );
    expect(await imagesOf(emulator)).toHaveLength(1);
    expect(state.images.web).toMatchObject({ phase: 'succeeded', attemptId: 'attempt1' });
  });

  it('follows jobs and settles attempts left by an earlier run, without resubmitting', async () => {
    const { client, store, emulator } = await setup({ jobSeconds: 0.5 });
    const stop = new AbortController();
    // The first run stops as soon as everything is submitted: the jobs are left running.
    const first = run(client, store, keys(4), emptyState(), { stop: stop.signal });
    const interval = setInterval(() => {
      void imagesOf(emulator).then((images) => images.length === 4 && stop.abort('test'));
    }, 10);
    const { summary } = await first;
    clearInterval(interval);
    expect(summary.stillRunning).toBeGreaterThan(0);
    const second = await run(client, store, keys(4), await store.read());
    expect(second.summary).toMatchObject({ imported: summary.stillRunning, failed: 0 });
    expect(await imagesOf(emulator)).toHaveLength(4);
  });

  it('reports a failed job with its code and reason; the others carry on', async () => {
    const { client, store } = await setup();
    const plan = planChanges(
      [manifest('good'), manifest('bad', systemSpec('bad', { image_url: 'golden-images:disk.qcow2' }))],
      emptyState(),
    );
    const events: ApplyEvent[] = [];
    const summary = await executePlan(
      plan,
      {
        ims: client,
        recorder: new StateRecorder(store, emptyState()),
        clock: systemClock,
        newAttemptId: () => Math.random().toString(16).slice(2),
        emit: (e) => events.push(e),
      },
      options(),
    );
    expect(summary).toMatchObject({ imported: 1, failed: 1 });
    expect(events).toContainEqual(expect.objectContaining({ type: 'import.failed', key: 'bad', code: 'IMG.0072' }));
    expect((await store.read()).images.bad).toMatchObject({ phase: 'failed', error: { code: 'IMG.0072' } });
  });

  it('submits nothing once stopped', async () => {
    const { client, store, emulator } = await setup();
    const stop = new AbortController();
    stop.abort('test');
    const { summary } = await run(client, store, keys(3), emptyState(), { stop: stop.signal });
    expect(summary).toMatchObject({ imported: 0, stillRunning: 0 });
    expect(await imagesOf(emulator)).toHaveLength(0);
  });
});
