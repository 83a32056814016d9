// The executor on a fake clock against the in-memory IMS (the emulator's routes, in-process): no
// sockets, no sleeps. Virtual time stands for every wait, so a job of ten seconds costs nothing and
// every interval can be asserted exactly. Faults are injected at the client's edge, by a plain
// ImsApi object in front of the in-memory client, where a test needs one exact fault.
import { MockAgent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApplyEvent } from '../../src/apply/events.js';
import { executePlan, type ExecutorOptions, type ImsApi } from '../../src/apply/executor.js';
import type { ImageInfo } from '../../src/emulator/images.js';
import { RequestBudget } from '../../src/ims/budget.js';
import { ImsClient } from '../../src/ims/client.js';
import { ImsError } from '../../src/ims/errors.js';
import type { Image } from '../../src/ims/types.js';
import type { Manifest } from '../../src/manifest/types.js';
import { planChanges, type Plan, type Policy } from '../../src/plan/plan.js';
import { planOnce } from '../../src/reconcile/reconcile.js';
import type { RecordChanges, State } from '../../src/state/model.js';
import { StateRecorder } from '../../src/state/recorder.js';
import { StateError } from '../../src/state/store.js';
import { FakeClock } from '../support/fake-clock.js';
import { advanceBy, quiesce, runOnFakeClock } from '../support/fake-time.js';
import { inMemoryIms, type InMemoryIms } from '../support/in-memory-ims.js';
import { MemoryStateStore } from '../support/memory-store.js';
import { manifest, systemSpec } from '../support/specs.js';
import { at, ofType } from '../support/events.js';

const opened: InMemoryIms[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((ims) => ims.close()));
});

/** One account and one state: the in-memory IMS, a state store, and the clock both run on. */
interface World {
  readonly clock: FakeClock;
  readonly ims: InMemoryIms;
  store: MemoryStateStore;
  /** Attempt ids are attempt0, attempt1, ... across the runs of a test. */
  attempts: number;
}

function world(options: Omit<Parameters<typeof inMemoryIms>[0], 'clock'> = {}): World {
  const clock = new FakeClock();
  const ims = inMemoryIms({ seed: 5, jobSeconds: 10, ...options, clock });
  opened.push(ims);
  return { clock, ims, store: new MemoryStateStore(clock), attempts: 0 };
}

const JOB_MS = 10_000;
const GRACE_MS = 2_000;

const options = (overrides: Partial<ExecutorOptions> = {}): ExecutorOptions => ({
  parallelism: 4,
  settleGraceMs: GRACE_MS,
  deleteTimeoutMs: 60_000,
  pollMinMs: 500,
  pollMaxMs: 2_000,
  stop: new AbortController().signal,
  ...overrides,
});

interface RunOptions {
  readonly ims?: ImsApi;
  readonly options?: Partial<ExecutorOptions>;
  /** Told every event as it is emitted (to stop a run at an exact point, say). */
  readonly onEvent?: (event: ApplyEvent) => void;
}

/** Carries out `plan` against the world's state as stored, driving the clock until it is done. */
async function execute(w: World, plan: Plan, run: RunOptions = {}) {
  const events: ApplyEvent[] = [];
  const recorder = new StateRecorder(w.store, await w.store.read());
  const summary = await runOnFakeClock(
    executePlan(
      plan,
      {
        ims: run.ims ?? w.ims.client,
        recorder,
        clock: w.clock,
        newAttemptId: () => `attempt${w.attempts++}`,
        emit: (event) => {
          events.push(event);
          run.onEvent?.(event);
        },
      },
      options(run.options),
    ),
    w.clock,
  );
  return { summary, events, state: await w.store.read() };
}

/** The plan for `manifests` against the state as recorded (no refresh). */
async function plan(w: World, manifests: Manifest[], policy: Partial<Policy> = {}): Promise<Plan> {
  return planChanges(manifests, await w.store.read(), { policy });
}

/** The plan for `manifests` after a refresh from the in-memory IMS, as apply makes it. */
async function refreshedPlan(w: World, manifests: Manifest[], policy: Partial<Policy> = {}): Promise<Plan> {
  const planned = await planOnce({ ims: w.ims.client, clock: w.clock }, await w.store.read(), {
    manifests,
    policy: { allowReplace: false, prune: false, retryFailed: true, ...policy },
    refresh: 'refresh',
    graceMs: 1_000,
    maxPrune: 100,
    force: false,
  });
  return planned.plan;
}

/** Imports `manifests` to the end. */
async function imported(w: World, manifests: Manifest[]): Promise<State> {
  const { summary, state } = await execute(w, await plan(w, manifests));
  expect(summary).toMatchObject({ imported: manifests.length, failed: 0 });
  return state;
}

const METHODS = [
  'quickImport',
  'getJob',
  'listImages',
  'listTaggedImages',
  'getImage',
  'updateImage',
  'deleteImage',
  'listImageTags',
  'changeImageTags',
] as const satisfies readonly (keyof ImsApi)[];

type Method = (typeof METHODS)[number];

interface Edge {
  readonly api: ImsApi;
  /** Every call the executor made, with the virtual time it was made at. */
  readonly calls: { readonly method: Method; readonly at: number; readonly args: readonly unknown[] }[];
  count(method: Method): number;
}

/**
 * The in-memory client as a plain ImsApi object: every call logged, each method replaced by its
 * override when there is one (an override delegates to `w.ims.client` itself when it wants to).
 */
function edge(w: World, overrides: Partial<ImsApi> = {}, before: (method: Method) => void = () => undefined): Edge {
  const calls: Edge['calls'] = [];
  const { client } = w.ims;
  const api = Object.fromEntries(
    METHODS.map((method) => [
      method,
      (...args: unknown[]): unknown => {
        before(method);
        calls.push({ method, at: w.clock.now(), args });
        const target = (overrides[method] ?? client[method].bind(client)) as (...args: unknown[]) => unknown;
        return target(...args);
      },
    ]),
  ) as unknown as ImsApi;
  return { api, calls, count: (method) => calls.filter((call) => call.method === method).length };
}

/** The emulator's images, as its store lists them. */
function images(w: World): ImageInfo[] {
  return w.ims.store.list().map((listed) => listed.info);
}

function imageOf(w: World, key: string): ImageInfo | undefined {
  return images(w).find((image) => image.tags.includes(`imsync-key=${key}`));
}

const keys = (n: number) => Array.from({ length: n }, (_, i) => `image-${i}`);
const manifests = (names: string[]) => names.map((key) => manifest(key));

const lost = (what: string) =>
  new ImsError(`POST /v2/cloudimages/quickimport/action: ${what}`, 'UND_ERR_SOCKET', 'ambiguous');

describe('executePlan: imports', () => {
  it('imports every image, follows each job to its end on the clock and records it', async () => {
    const w = world();
    const { summary, state, events } = await execute(w, await plan(w, manifests(keys(5))));
    expect(summary).toMatchObject({ imported: 5, failed: 0, stillRunning: 0 });
    // Ten-second jobs, followed at most 2 s apart: the run's time is virtual, and close to the jobs'.
    expect(summary.seconds).toBeGreaterThanOrEqual(JOB_MS / 1000);
    expect(summary.seconds).toBeLessThanOrEqual(JOB_MS / 1000 + 2);
    for (const key of keys(5)) {
      const image = imageOf(w, key);
      expect(image).toMatchObject({ status: 'active' });
      expect(state.images[key]).toMatchObject({ phase: 'succeeded', imageId: image!.id });
      expect(image!.tags).toContain(`imsync-attempt=${state.images[key]!.attemptId}`);
    }
    expect(events[0]).toMatchObject({ type: 'apply.started', imports: 5, parallelism: 4 });
    expect(events.at(-1)).toMatchObject({ type: 'apply.finished', summary });
  });

  it("waits for the account's import cap (IMG.0194) instead of failing: 40 imports against a cap of 5", async () => {
    const w = world({ maxConcurrentImports: 5 });
    const wanted = keys(40).map((key) => manifest(key));
    const watched = edge(w);
    const { summary, events, state } = await execute(w, await plan(w, wanted), {
      ims: watched.api,
      options: { parallelism: 10 },
    });
    expect(summary).toMatchObject({ imported: 40, failed: 0, stillRunning: 0 });
    expect(Object.values(state.images).every((record) => record.phase === 'succeeded')).toBe(true);
    expect(images(w)).toHaveLength(40);
    // Queued once each at most, and never more than five jobs at once were accepted.
    const queued = ofType(events, 'import.queued');
    expect(queued.length).toBeGreaterThan(0);
    expect(new Set(queued.map((event) => event.key)).size).toBe(queued.length);
    const refusals = watched.calls.filter((call) => call.method === 'quickImport').length - 40;
    // Each refusal is one request: the limit settles at the cap instead of hammering it.
    expect(refusals).toBeLessThan(40);
    // Every attempt that was refused went again as it was: one attempt per image.
    expect(new Set(Object.values(state.images).map((record) => record.attemptId)).size).toBe(40);
  });

  it('stops waiting for a job after --wait-timeout, leaving it recorded for the next run', async () => {
    const w = world(); // 10 s jobs
    const { summary, events, state } = await execute(w, await plan(w, [manifest('slow')]), {
      options: { waitTimeoutMs: 3_000 },
    });
    expect(summary).toMatchObject({ imported: 0, failed: 0, stillRunning: 1 });
    expect(ofType(events, 'job.left-running')).toEqual([expect.objectContaining({ key: 'slow', seconds: 3 })]);
    expect(state.images.slow).toMatchObject({ phase: 'submitted' });
    const next = await execute(w, await plan(w, [manifest('slow')]));
    expect(next.summary).toMatchObject({ imported: 1, stillRunning: 0 });
    expect(w.ims.requestLog.filter((r) => r.path.endsWith('/quickimport/action'))).toHaveLength(1);
  });

  it('reports a failed job with its code and reason; the others carry on', async () => {
    const w = world();
    const bad = manifest('bad', systemSpec('bad', { image_url: 'golden-images:disk.qcow2' }));
    const { summary, events, state } = await execute(w, await plan(w, [manifest('good'), bad]));
    expect(summary).toMatchObject({ imported: 1, failed: 1, stillRunning: 0 });
    const [failure] = ofType(events, 'import.failed');
    expect(failure).toMatchObject({ key: 'bad', code: 'IMG.0072', jobId: expect.any(String) as string });
    expect(failure!.reason).toMatch(/qcow2/);
    expect(state.images.bad).toMatchObject({ phase: 'failed', error: { code: 'IMG.0072', reason: failure!.reason } });
    expect(state.images.good).toMatchObject({ phase: 'succeeded' });
  });

  it('keeps at most `parallelism` imports in flight, and waiting for jobs holds no slot', async () => {
    const w = world();
    let inFlight = 0;
    let most = 0;
    const slow = edge(w, {
      // Each request takes a second of virtual time.
      quickImport: async (body, signal) => {
        most = Math.max(most, ++inFlight);
        try {
          await w.clock.sleep(1_000);
          return await w.ims.client.quickImport(body, signal);
        } finally {
          inFlight--;
        }
      },
    });
    const { summary, events } = await execute(w, await plan(w, manifests(keys(12))), {
      ims: slow.api,
      options: { parallelism: 3 },
    });
    expect(summary.imported).toBe(12);
    expect(most).toBe(3);
    // Four rounds of three one-second requests: every import is submitted before the first job
    // (ten seconds) ends. Were waiting to hold a slot, this would take 4 x 10 s.
    const lastSubmitted = Math.max(...ofType(events, 'import.submitted').map(at));
    const firstSucceeded = Math.min(...ofType(events, 'import.succeeded').map(at));
    expect(lastSubmitted - at(events[0])).toBe(4_000);
    expect(lastSubmitted).toBeLessThan(firstSucceeded);
    expect(summary.seconds).toBeLessThan(4 + JOB_MS / 1000 + 2);
  });
});

describe('executePlan: answers that never came', () => {
  it('settles an import whose answer was lost by its tag, and never sends it again', async () => {
    const w = world();
    let answers = 0;
    const losing = edge(w, {
      quickImport: async (body, signal) => {
        const jobId = await w.ims.client.quickImport(body, signal);
        if (answers++ === 0) throw lost('socket hang up');
        return jobId;
      },
    });
    const { summary, events, state } = await execute(w, await plan(w, [manifest('web')]), { ims: losing.api });
    expect(summary).toMatchObject({ imported: 1, failed: 0 });
    const ambiguous = ofType(events, 'import.ambiguous');
    expect(ambiguous).toEqual([expect.objectContaining({ key: 'web', attemptId: 'attempt0' })]);
    expect(ambiguous[0]!.reason).toContain('hang up');
    expect(ofType(events, 'import.settled')).toEqual([
      expect.objectContaining({ key: 'web', attemptId: 'attempt0', found: true }),
    ]);
    expect(losing.count('quickImport')).toBe(1);
    expect(images(w)).toHaveLength(1);
    expect(state.images.web).toMatchObject({ phase: 'succeeded', attemptId: 'attempt0', imageId: images(w)[0]!.id });
  });

  it('sends a new attempt only once an unanswered one is provably absent, after the grace period', async () => {
    const w = world();
    let resets = 0;
    const resetting = edge(w, {
      quickImport: (body, signal) =>
        resets++ === 0 ? Promise.reject(lost('connection reset')) : w.ims.client.quickImport(body, signal),
    });
    const { summary, events, state } = await execute(w, await plan(w, [manifest('web')]), { ims: resetting.api });
    expect(summary).toMatchObject({ imported: 1, failed: 0 });
    const [ambiguous] = ofType(events, 'import.ambiguous');
    const [settled] = ofType(events, 'import.settled');
    expect(settled).toMatchObject({ key: 'web', attemptId: 'attempt0', found: false });
    // Looked for by its tag meanwhile, and given up on no earlier than the grace allows.
    const looked = resetting.calls.filter((call) => call.method === 'listImages');
    expect(looked.length).toBeGreaterThan(1);
    expect(looked[0]!.args[0]).toEqual({ tag: 'imsync-attempt=attempt0' });
    expect(at(settled) - at(ambiguous)).toBeGreaterThanOrEqual(GRACE_MS);
    expect(at(settled) - at(ambiguous)).toBeLessThan(GRACE_MS + options().pollMaxMs);
    const posts = resetting.calls.filter((call) => call.method === 'quickImport');
    expect(posts.map((call) => call.at - posts[0]!.at)).toEqual([0, at(settled) - at(ambiguous)]);
    expect(images(w)).toHaveLength(1);
    expect(imageOf(w, 'web')!.tags).toContain('imsync-attempt=attempt1');
    expect(state.images.web).toMatchObject({ phase: 'succeeded', attemptId: 'attempt1' });
  });

  it('ends within --wait-timeout when IMS never answers: every import 5xx, every lookup failing', async () => {
    const w = world();
    const unavailable = () => new ImsError('503 APIGW.0103: service unavailable', 'APIGW.0103', 'ambiguous', 503);
    const down = () => Promise.reject(unavailable());
    const outage = edge(w, {
      quickImport: down,
      listImages: down,
      getJob: down,
      // eslint-disable-next-line require-yield, @typescript-eslint/require-await -- a listing that fails at once
      listTaggedImages: async function* () {
        throw unavailable();
      },
    });
    const { summary, events, state } = await execute(w, await plan(w, [manifest('web')]), {
      ims: outage.api,
      options: { waitTimeoutMs: 30_000 },
    });
    expect(summary).toMatchObject({ imported: 0, failed: 0, stillRunning: 1 });
    const [left] = ofType(events, 'job.left-running');
    expect(left).toMatchObject({ key: 'web', seconds: 30 });
    expect(left).not.toHaveProperty('jobId');
    expect(at(left) - at(ofType(events, 'import.ambiguous')[0])).toBeLessThan(30_000 + options().pollMaxMs);
    // Recorded as an intent: the next run settles it by its tag before sending anything.
    expect(state.images.web).toMatchObject({ phase: 'submitting' });
    expect(images(w)).toHaveLength(0);
  });

  it('follows jobs and settles attempts left by an earlier run, without resubmitting', async () => {
    const w = world();
    const losing = edge(w, {
      quickImport: async (body, signal) => {
        const jobId = await w.ims.client.quickImport(body, signal);
        if (body.name === 'image-3') throw lost('socket hang up');
        return jobId;
      },
    });
    // The first run stops as soon as every import has its answer (or lost it): all are left running.
    const stop = new AbortController();
    let answered = 0;
    const first = await execute(w, await plan(w, manifests(keys(4))), {
      ims: losing.api,
      options: { stop: stop.signal },
      onEvent: (event) => {
        if ((event.type === 'import.submitted' || event.type === 'import.ambiguous') && ++answered === 4)
          stop.abort('test');
      },
    });
    expect(first.summary).toMatchObject({ imported: 0, stillRunning: 4 });
    expect(first.events).toContainEqual(expect.objectContaining({ type: 'apply.interrupted', reason: 'test' }));
    expect(Object.values(first.state.images).map((record) => record.phase)).toEqual([
      'submitted',
      'submitted',
      'submitted',
      'submitting',
    ]);

    const planned = await plan(w, manifests(keys(4)));
    expect(planned.entries.map((entry) => entry.action)).toEqual(['follow', 'follow', 'follow', 'settle']);
    const following = edge(w);
    const second = await execute(w, planned, { ims: following.api });
    expect(second.summary).toMatchObject({ imported: 4, failed: 0, stillRunning: 0 });
    expect(second.events[0]).toMatchObject({ type: 'apply.started', imports: 0, following: 4 });
    expect(ofType(second.events, 'import.settled')).toEqual([
      expect.objectContaining({ key: 'image-3', attemptId: 'attempt3', found: true }),
    ]);
    expect(following.count('quickImport')).toBe(0);
    expect(images(w)).toHaveLength(4);
    for (const key of keys(4)) expect(second.state.images[key]).toMatchObject({ phase: 'succeeded' });
  });

  it('fails an import answered 200 with a page instead of a job id, after three, quoting the answer', async () => {
    const w = world();
    // A proxy in front of IMS that answers the import with a page of its own: IMS never sees it.
    const agent = new MockAgent();
    agent.disableNetConnect();
    const page = '<html><title>Welcome</title>\u001b]0;owned\u0007<body>Sign in to continue</body></html>';
    agent
      .get('http://proxy.invalid')
      .intercept({ path: () => true, method: 'POST' })
      .reply(200, page)
      .persist();
    const proxy = new ImsClient({
      endpoint: 'http://proxy.invalid',
      projectId: 'p',
      auth: { kind: 'token', token: 't' },
      clock: w.clock,
      budget: new RequestBudget(w.clock, { burst: Number.POSITIVE_INFINITY }),
      dispatcher: agent,
    });
    const stop = new AbortController();
    const proxied = edge(w, {
      quickImport: (body, signal) => {
        if (proxied.count('quickImport') > 5) stop.abort('sent too often');
        return proxy.quickImport(body, signal);
      },
    });
    const { summary, events, state } = await execute(w, await plan(w, [manifest('web')]), {
      ims: proxied.api,
      options: { stop: stop.signal },
    });
    await agent.close();
    expect(proxied.count('quickImport')).toBe(3);
    expect(summary).toMatchObject({ imported: 0, failed: 1, stillRunning: 0 });
    const [failure] = ofType(events, 'import.failed');
    expect(failure).toMatchObject({ key: 'web', code: 'IMPORT_ANSWER_UNUSABLE' });
    expect(failure!.reason).toContain('IMS answered 3 imports with no usable job id');
    expect(failure!.reason).toContain('<html><title>Welcome</title><body>Sign in to continue</body></html>');
    expect(state.images.web).toMatchObject({ phase: 'failed', error: { code: 'IMPORT_ANSWER_UNUSABLE' } });
    expect(images(w)).toEqual([]);
  });

  it('submits nothing once stopped', async () => {
    const w = world();
    const stop = new AbortController();
    stop.abort('test');
    const { summary, events, state } = await execute(w, await plan(w, manifests(keys(3))), {
      options: { stop: stop.signal },
    });
    expect(summary).toMatchObject({ imported: 0, stillRunning: 0 });
    expect(events.map((event) => event.type)).toEqual(['apply.started', 'apply.interrupted', 'apply.finished']);
    expect(w.ims.requests()).toBe(0);
    expect(state.images).toEqual({});
  });
});

describe('executePlan: a state that cannot be written', () => {
  /** A store whose disk fills up once the run gets to `key`: that commit, and every one after, fails. */
  class FillingStore extends MemoryStateStore {
    full = false;
    constructor(
      clock: FakeClock,
      private readonly key: string,
    ) {
      super(clock);
    }
    override commit(base: State, changes: RecordChanges): Promise<State> {
      this.full ||= changes.has(this.key);
      if (this.full) return Promise.reject(new StateError('STATE_UNWRITABLE', 'cannot write: no space left on device'));
      return super.commit(base, changes);
    }
  }

  it('fails the run with the store’s error, and leaves nothing running: no wait, no request after it', async () => {
    const w = world(); // 10 s jobs: the first is being followed when the second cannot be recorded
    w.store = new FillingStore(w.clock, 'image-1');
    const watched = edge(w);
    const run = execute(w, await plan(w, manifests(keys(3))), { ims: watched.api, options: { parallelism: 1 } });
    await expect(run).rejects.toMatchObject({ code: 'STATE_UNWRITABLE' });
    await quiesce();
    expect(w.clock.nextDeadline()).toBeUndefined();
    const calls = watched.calls.length;
    await advanceBy(w.clock, 60_000);
    expect(watched.calls.slice(calls)).toEqual([]);
    // Nothing was sent that the state does not know of: image-1's intent was never recorded, so never sent.
    expect(watched.calls.filter((call) => call.method === 'quickImport')).toHaveLength(1);
  });
});

describe('executePlan: updates and replacements', () => {
  it('updates name, description and tags in place, and restores a removed ownership tag', async () => {
    const w = world();
    const before = systemSpec('web', { description: 'old', image_tags: [{ key: 'team', value: 'web' }] });
    const id = (await imported(w, [manifest('web', before)])).images.web!.imageId!;
    w.ims.store.removeTags(id, ['imsync-key']);

    const after = systemSpec('web', {
      name: 'web-2026',
      description: 'new',
      image_tags: [
        { key: 'team', value: 'platform' },
        { key: 'tier', value: 'gold' },
      ],
    });
    const planned = await refreshedPlan(w, [manifest('web', after)]);
    expect(planned.entries).toEqual([expect.objectContaining({ key: 'web', action: 'update' })]);
    const { summary, events, state } = await execute(w, planned);
    expect(summary).toMatchObject({ updated: 1, imported: 0, failed: 0 });
    expect(ofType(events, 'update.succeeded')).toEqual([
      expect.objectContaining({ key: 'web', imageId: id, fields: ['ownership', 'description', 'name', 'tags'] }),
    ]);
    expect(w.ims.store.find(id)?.info).toMatchObject({ name: 'web-2026', __description: 'new' });
    expect(w.ims.store.tags(id).sort((a, b) => (a.key < b.key ? -1 : 1))).toEqual([
      { key: 'imsync-attempt', value: 'attempt0' },
      { key: 'imsync-key', value: 'web' },
      { key: 'team', value: 'platform' },
      { key: 'tier', value: 'gold' },
    ]);
    expect(state.images.web).toMatchObject({ phase: 'succeeded', imageId: id, spec: after });
    // Converged: the next refresh finds nothing to change.
    const next = await refreshedPlan(w, [manifest('web', after)]);
    expect(next.refresh.changes.size).toBe(0);
    expect(next.entries.map((entry) => entry.action)).toEqual(['none']);
  });

  it('PATCHes with replace what the image has and add what it lacks (either may be refused with IMG.0035)', async () => {
    const w = world();
    const described = (await imported(w, [manifest('web', systemSpec('web', { description: 'old' }))])).images.web!;
    const bare = (await imported(w, [manifest('db')])).images.db!;
    const wanted = [
      manifest('web', systemSpec('web', { description: 'new' })),
      manifest('db', systemSpec('db', { description: 'first words', hw_firmware_type: 'uefi' })),
    ];
    const watched = edge(w);
    const { summary } = await execute(w, await plan(w, wanted), { ims: watched.api });
    expect(summary).toMatchObject({ updated: 2, failed: 0 });
    const patches = new Map(
      watched.calls.filter((call) => call.method === 'updateImage').map((call) => [call.args[0], call.args[1]]),
    );
    expect(patches.get(described.imageId)).toEqual([{ op: 'replace', path: '/__description', value: 'new' }]);
    // Every image the emulator makes lists a firmware (bios by default): that one is replaced.
    expect(patches.get(bare.imageId)).toEqual([
      { op: 'add', path: '/__description', value: 'first words' },
      { op: 'replace', path: '/hw_firmware_type', value: 'uefi' },
    ]);
  });

  it('replaces: imports the new image, and deletes the old one only once the new one is active', async () => {
    const w = world();
    const old = (await imported(w, [manifest('web')])).images.web!.imageId!;
    const planned = await plan(w, [manifest('web', systemSpec('web', { min_disk: 50 }))], { allowReplace: true });
    expect(planned.entries).toEqual([expect.objectContaining({ key: 'web', action: 'replace' })]);
    const watched = edge(w);
    const { summary, events, state } = await execute(w, planned, { ims: watched.api });
    expect(summary).toMatchObject({ imported: 1, deleted: 1, failed: 0 });
    const [succeeded] = ofType(events, 'import.succeeded');
    const [deleted] = ofType(events, 'delete.succeeded');
    expect(deleted).toMatchObject({ key: 'web', imageId: old });
    expect(succeeded!.imageId).not.toBe(old);
    expect(events.indexOf(succeeded!)).toBeLessThan(events.indexOf(deleted!));
    const deletion = watched.calls.find((call) => call.method === 'deleteImage');
    expect(deletion?.args[0]).toBe(old);
    expect(deletion!.at).toBeGreaterThanOrEqual(at(succeeded));
    expect(state.images.web).toMatchObject({ phase: 'succeeded', imageId: succeeded!.imageId, spec: { min_disk: 50 } });
    expect(state.images.web!.supersedes).toBeUndefined();
    expect(images(w).map((image) => image.id)).toEqual([succeeded!.imageId]);
  });

  it('finishes a replacement whose old image could not be deleted: the next plan deletes it', async () => {
    const w = world();
    const old = (await imported(w, [manifest('web')])).images.web!.imageId!;
    const refusing = edge(w, {
      deleteImage: () =>
        Promise.reject(new ImsError(`DELETE /v2/images/${old}: 500 IMG.0001: internal error`, 'IMG.0001', 'safe', 500)),
    });
    const wanted = [manifest('web', systemSpec('web', { min_disk: 50 }))];
    const first = await execute(w, await plan(w, wanted, { allowReplace: true }), { ims: refusing.api });
    expect(first.summary).toMatchObject({ imported: 1, deleted: 0, failed: 1 });
    expect(ofType(first.events, 'action.failed')).toEqual([
      expect.objectContaining({ key: 'web', action: 'delete', code: 'IMG.0001' }),
    ]);
    const fresh = first.state.images.web!.imageId;
    expect(first.state.images.web).toMatchObject({ phase: 'succeeded', supersedes: old });

    const planned = await plan(w, wanted, { allowReplace: true });
    expect(planned.entries).toEqual([expect.objectContaining({ key: 'web', action: 'finish-replace' })]);
    const second = await execute(w, planned);
    expect(second.summary).toMatchObject({ imported: 0, deleted: 1, failed: 0 });
    expect(ofType(second.events, 'delete.succeeded')).toEqual([expect.objectContaining({ imageId: old })]);
    expect(second.state.images.web).toMatchObject({ phase: 'succeeded', imageId: fresh });
    expect(second.state.images.web!.supersedes).toBeUndefined();
    expect(images(w).map((image) => image.id)).toEqual([fresh]);
  });
  it('leaves a replaced image whose ownership tag was removed meanwhile, says so once, and forgets it', async () => {
    const w = world();
    const old = (await imported(w, [manifest('web')])).images.web!.imageId!;
    const failing = edge(w, {
      deleteImage: () => Promise.reject(new ImsError('DELETE: 503 IMG.0061: busy', 'IMG.0061', 'safe', 503)),
    });
    const wanted = [manifest('web', systemSpec('web', { min_disk: 50 }))];
    const first = await execute(w, await plan(w, wanted, { allowReplace: true }), { ims: failing.api });
    expect(first.state.images.web).toMatchObject({ phase: 'succeeded', supersedes: old });
    w.ims.store.removeTags(old, ['imsync-key']);

    const second = await execute(w, await plan(w, wanted, { allowReplace: true }));
    expect(ofType(second.events, 'action.failed')).toEqual([
      expect.objectContaining({ key: 'web', action: 'delete', code: 'NOT_OWNED' }),
    ]);
    expect(second.state.images.web!.supersedes).toBeUndefined();
    expect(w.ims.store.find(old)).toBeDefined();
    expect((await plan(w, wanted, { allowReplace: true })).entries).toEqual([
      expect.objectContaining({ key: 'web', action: 'none' }),
    ]);
  });
});

describe('executePlan: deletions', () => {
  it('prunes an orphan still importing (then: delete) once its import has ended', async () => {
    const w = world();
    const stop = new AbortController();
    let submitted = 0;
    await execute(w, await plan(w, manifests(['old', 'web'])), {
      options: { stop: stop.signal },
      onEvent: (event) => event.type === 'import.submitted' && ++submitted === 2 && stop.abort('test'),
    });
    const planned = await plan(w, [manifest('web')], { prune: true });
    expect(planned.entries).toEqual([
      expect.objectContaining({ key: 'old', action: 'follow', then: 'delete' }),
      expect.objectContaining({ key: 'web', action: 'follow' }),
    ]);
    const watched = edge(w);
    const { summary, events, state } = await execute(w, planned, { ims: watched.api });
    expect(summary).toMatchObject({ imported: 2, deleted: 1, failed: 0 });
    expect(events[0]).toMatchObject({ type: 'apply.started', deletes: 1, following: 2 });
    const done = events.find((event) => event.type === 'import.succeeded' && event.key === 'old');
    const [deleted] = ofType(events, 'delete.succeeded');
    expect(deleted).toMatchObject({ key: 'old', imageId: (done as { imageId: string }).imageId });
    expect(events.indexOf(done!)).toBeLessThan(events.indexOf(deleted!));
    // Never asked to delete while its job ran (IMS refuses that with IMG.0090).
    expect(watched.calls.find((call) => call.method === 'deleteImage')!.at).toBeGreaterThanOrEqual(at(done));
    expect(Object.keys(state.images)).toEqual(['web']);
    expect(images(w).map((image) => image.id)).toEqual([state.images.web!.imageId]);
  });

  it('refuses to delete an image the tag API does not show with imsync-key=<key> (NOT_OWNED)', async () => {
    const w = world();
    const id = (await imported(w, manifests(['other', 'web']))).images.other!.imageId!;
    w.ims.store.addTags(id, [{ key: 'imsync-key', value: 'someone-else' }]);
    // The list still shows the old tag (lists may lag, or not show tags at all): only the tag API counts.
    const stale = edge(w, {
      getImage: async (imageId, signal) => {
        const image = await w.ims.client.getImage(imageId, signal);
        return image && { ...image, tags: ['imsync-key=other'] };
      },
    });
    const planned = await plan(w, [manifest('web')], { prune: true });
    expect(planned.entries).toEqual([
      expect.objectContaining({ key: 'other', action: 'delete' }),
      expect.objectContaining({ key: 'web', action: 'none' }),
    ]);
    const { summary, events, state } = await execute(w, planned, { ims: stale.api });
    expect(summary).toMatchObject({ deleted: 0, failed: 1 });
    const [refused] = ofType(events, 'action.failed');
    expect(refused).toMatchObject({ key: 'other', action: 'delete', code: 'NOT_OWNED' });
    expect(refused!.reason).toContain('imsync-key=other');
    expect(stale.count('deleteImage')).toBe(0);
    expect(w.ims.store.find(id)).toBeDefined();
    expect(state.images.other).toMatchObject({ phase: 'succeeded', imageId: id });
  });

  /** The client, but an image deleted stays listed (as it was) for `lingers` more lookups. */
  function lingering(w: World, lingers: number): Edge {
    const gone = new Map<string, { image: Image; left: number }>();
    return edge(w, {
      deleteImage: async (id, signal) => {
        const image = await w.ims.client.getImage(id, signal);
        await w.ims.client.deleteImage(id, signal);
        if (image) gone.set(id, { image, left: lingers });
      },
      getImage: (id, signal) => {
        const listed = gone.get(id);
        if (listed && listed.left > 0) {
          listed.left--;
          return Promise.resolve(listed.image);
        }
        return w.ims.client.getImage(id, signal);
      },
    });
  }

  it('waits until a deleted image is gone from the list, polling at growing intervals', async () => {
    const w = world();
    await imported(w, manifests(['old', 'web']));
    const slow = lingering(w, 3);
    const { summary, events, state } = await execute(w, await plan(w, [manifest('web')], { prune: true }), {
      ims: slow.api,
    });
    expect(summary).toMatchObject({ deleted: 1, failed: 0 });
    const deletion = slow.calls.find((call) => call.method === 'deleteImage')!;
    const looks = slow.calls.slice(slow.calls.indexOf(deletion)).filter((call) => call.method === 'getImage');
    // Listed three more times, at 0.5 s, then x1.5: gone at the fourth look.
    expect(looks.map((call) => call.at - deletion.at)).toEqual([0, 500, 1_250, 2_375]);
    expect(at(ofType(events, 'delete.succeeded')[0]) - deletion.at).toBe(2_375);
    expect(Object.keys(state.images)).toEqual(['web']);
  });

  it('reports DELETE_PENDING when the image stays listed past the timeout; the next run checks again', async () => {
    const w = world();
    const id = (await imported(w, manifests(['old', 'web']))).images.old!.imageId!;
    const stuck = lingering(w, Number.POSITIVE_INFINITY);
    const pruning = () => plan(w, [manifest('web')], { prune: true });
    const first = await execute(w, await pruning(), { ims: stuck.api, options: { deleteTimeoutMs: 5_000 } });
    expect(first.summary).toMatchObject({ deleted: 0, failed: 1 });
    const [pending] = ofType(first.events, 'action.failed');
    expect(pending).toMatchObject({ key: 'old', action: 'delete', code: 'DELETE_PENDING' });
    const deletion = stuck.calls.find((call) => call.method === 'deleteImage')!;
    // Polled at 0.5, 1.25, 2.375, 4.063 s; seen still listed at 6.063 s, past the 5 s timeout.
    expect(at(pending) - deletion.at).toBe(6_063);
    expect(first.state.images.old).toMatchObject({ phase: 'succeeded', imageId: id });

    const second = await execute(w, await pruning());
    expect(second.summary).toMatchObject({ deleted: 1, failed: 0 });
    expect(ofType(second.events, 'delete.succeeded')).toEqual([expect.objectContaining({ key: 'old', imageId: id })]);
    expect(Object.keys(second.state.images)).toEqual(['web']);
  });
});

describe('executePlan: what the refresh found', () => {
  it('counts adopted images and reports each as adopt.succeeded, importing nothing', async () => {
    const w = world();
    const id = (await imported(w, [manifest('web')])).images.web!.imageId!;
    // The state is lost; the image carries imsync's tag for its key.
    w.store = new MemoryStateStore(w.clock);
    const planned = await refreshedPlan(w, [manifest('web')]);
    expect(planned.entries).toEqual([expect.objectContaining({ key: 'web', action: 'adopt' })]);
    const watched = edge(w);
    const { summary, events, state } = await execute(w, planned, { ims: watched.api });
    expect(summary).toMatchObject({ adopted: 1, imported: 0, failed: 0 });
    expect(ofType(events, 'adopt.succeeded')).toEqual([expect.objectContaining({ key: 'web', imageId: id })]);
    expect(state.images.web).toMatchObject({ phase: 'succeeded', imageId: id, attemptId: 'attempt0' });
    expect(watched.calls).toEqual([]);
  });

  it("records the refresh's changes before anything else is done", async () => {
    const w = world();
    const recorded = await imported(w, manifests(['gone', 'web']));
    w.ims.store.delete(recorded.images.gone!.imageId!);
    const web = recorded.images.web!.imageId!;
    w.ims.store.update(web, Buffer.from(JSON.stringify([{ op: 'replace', path: '/name', value: 'web-edited' }])));
    await advanceBy(w.clock, 2_000); // past the refresh's grace: gone is deleted, not lagging
    const planned = await refreshedPlan(w, manifests(['gone', 'web']));
    expect([...planned.refresh.changes.keys()]).toEqual(['gone', 'web']);
    expect(planned.entries.map((entry) => [entry.key, entry.action])).toEqual([
      ['gone', 'import'],
      ['web', 'update'],
    ]);

    // What the store holds when the run first speaks: to IMS, and to its listeners.
    const seen: { what: string; state: State }[] = [];
    const look = (what: string) => seen.some((s) => s.what === what) || seen.push({ what, state: w.store.stored });
    const watched = edge(w, {}, () => look('first request'));
    const { summary, state } = await execute(w, planned, {
      ims: watched.api,
      onEvent: (event) => event.type === 'apply.started' && look('apply.started'),
    });
    expect(seen.map((s) => s.what)).toEqual(['apply.started', 'first request']);
    for (const { state: then } of seen) {
      expect(then.serial).toBe(recorded.serial + 1);
      expect(then.images.gone).toBeUndefined();
      expect(then.images.web).toMatchObject({ spec: { name: 'web-edited' } });
    }
    expect(summary).toMatchObject({ imported: 1, updated: 1, failed: 0 });
    expect(state.images.web).toMatchObject({ imageId: web, spec: { name: 'web' } });
    expect(w.ims.store.find(web)?.info).toMatchObject({ name: 'web' });
    expect(state.images.gone).toMatchObject({ phase: 'succeeded' });
  });
});

describe('executePlan under strict realism (research/ims-fidelity.md §2)', () => {
  const strict = { realism: 'strict' as const, maxConcurrentImports: 20 };

  it('deletes an image IMS does not list yet (listing lag), by the tag API, and waits out the delete lag', async () => {
    const w = world(strict);
    const id = (await imported(w, manifests(['gone', 'kept']))).images.gone!.imageId!;
    expect(w.ims.store.find(id)).toBeUndefined(); // within the 40 s listing lag: not listed yet
    const { summary, events, state } = await execute(w, await plan(w, [manifest('kept')], { prune: true }));
    expect(summary).toMatchObject({ deleted: 1, failed: 0 });
    expect(ofType(events, 'delete.succeeded')).toEqual([expect.objectContaining({ key: 'gone', imageId: id })]);
    expect(Object.keys(state.images)).toEqual(['kept']);
    await w.clock.advance(120_000);
    expect(w.ims.store.list().map(({ info }) => info.id)).not.toContain(id);
  });

  it('updates an image IMS does not list yet: replace first, add where IMS says the attribute is missing', async () => {
    const w = world(strict);
    const id = (await imported(w, [manifest('web')])).images.web!.imageId!;
    const wanted = [manifest('web', systemSpec('web', { name: 'web-2', description: 'described' }))];
    const watched = edge(w);
    const { summary } = await execute(w, await plan(w, wanted), { ims: watched.api });
    expect(summary).toMatchObject({ updated: 1, failed: 0 });
    const patches = watched.calls.filter((call) => call.method === 'updateImage').map((call) => call.args[1]);
    expect(patches).toEqual([
      [{ op: 'replace', path: '/name', value: 'web-2' }],
      [{ op: 'replace', path: '/__description', value: 'described' }],
      [{ op: 'add', path: '/__description', value: 'described' }],
    ]);
    await w.clock.advance(60_000);
    expect(w.ims.store.find(id)?.info).toMatchObject({ name: 'web-2', __description: 'described' });
  });

  it('takes an unknown id answered 400 IMG.0027 for an image already gone: deleted, no failure', async () => {
    const w = world(strict);
    const id = (await imported(w, manifests(['gone', 'kept']))).images.gone!.imageId!;
    w.ims.store.delete(id);
    await w.clock.advance(60_000); // past the delete lag: IMS knows the id no more
    const { summary } = await execute(w, await plan(w, [manifest('kept')], { prune: true }));
    expect(summary).toMatchObject({ deleted: 1, failed: 0 });
  });
});
