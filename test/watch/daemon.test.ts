// The watch daemon on a fake clock against the in-memory IMS and an in-memory state: no sockets,
// no sleeps. Its manifests are small YAML files in a temporary directory (it loads them from
// paths); a manifest change is a call to trigger(), as the file watcher would make it. Resyncs,
// job following and backoff all wait on the clock, so their timing is asserted exactly.
import { directorySource, type ManifestSource } from '../../src/source/follow.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApplyEvent } from '../../src/apply/events.js';
import type { ImsApi } from '../../src/apply/executor.js';
import { ImsError } from '../../src/ims/errors.js';
import type { Image } from '../../src/ims/types.js';
import type { RefreshApi } from '../../src/refresh/observe.js';
import type { ImageSpec } from '../../src/manifest/types.js';
import type { ImageRecord, RecordChanges, State } from '../../src/state/model.js';
import { StateRecorder } from '../../src/state/recorder.js';
import { BLOCKED_MESSAGES, Daemon, type DaemonNotice, type DaemonOptions } from '../../src/watch/daemon.js';
import { createMetrics, type ReconcileResult } from '../../src/watch/metrics.js';
import { FakeClock } from '../support/fake-clock.js';
import { advanceBy, advanceUntil, runOnFakeClock } from '../support/fake-time.js';
import { inMemoryIms, type InMemoryIms } from '../support/in-memory-ims.js';
import { MemoryStateStore } from '../support/memory-store.js';
import { specFor, type SpecFields } from '../support/specs.js';
import { at, ofType } from '../support/events.js';
import { emptyState, imported } from '../support/states.js';

const INTERVAL_MS = 60_000;
/** The in-memory IMS's region. */
const REGION = 'ap-southeast-1';
const JOB_MS = 10_000;

interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Record<string, unknown>;
  /** Virtual time of the line. */
  readonly at: number;
}

/** One daemon, its account, its state and its manifest directory, on one fake clock. */
interface Rig {
  readonly clock: FakeClock;
  readonly ims: InMemoryIms;
  readonly store: FailingStore;
  readonly dir: string;
  readonly daemon: Daemon;
  readonly logs: LogLine[];
  readonly events: ApplyEvent[];
  readonly notices: DaemonNotice[];
  /** Every reconcile's result, in order. */
  readonly results: ReconcileResult[];
  /** What the metrics counted as errors, by code. */
  readonly errors: string[];
  /** When run() was called. */
  readonly startedAt: number;
  readonly running: Promise<void>;
}

const rigs: Rig[] = [];
const worlds: World[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) {
    rig.daemon.stop();
    await runOnFakeClock(rig.running, rig.clock);
  }
  for (const w of worlds.splice(0)) {
    await w.ims.close();
    await rm(w.dir, { recursive: true, force: true });
  }
});

interface World {
  readonly clock: FakeClock;
  readonly ims: InMemoryIms;
  readonly store: FailingStore;
  readonly dir: string;
}

/** A state store whose commits can be made to fail, as a full disk or a process out of file handles fails them. */
class FailingStore extends MemoryStateStore {
  private failing: { count: number; when: (changes: RecordChanges) => boolean } = { count: 0, when: () => true };

  /** The next `count` commits of changes for which `when` holds fail with EMFILE. */
  failCommits(count: number, when: (changes: RecordChanges) => boolean = () => true): void {
    this.failing = { count, when };
  }

  override commit(base: State, changes: RecordChanges): Promise<State> {
    if (this.failing.count === 0 || !this.failing.when(changes)) return super.commit(base, changes);
    this.failing.count--;
    const error = Object.assign(new Error(`EMFILE: too many open files, open '${this.location}.journal'`), {
      code: 'EMFILE',
    });
    return Promise.reject(error);
  }
}

/** An account, an empty state and a manifest directory holding `manifests` (key: spec fields). */
async function world(manifests: Record<string, SpecFields>): Promise<World> {
  const clock = new FakeClock();
  const ims = inMemoryIms({ seed: 11, jobSeconds: JOB_MS / 1000, clock });
  const dir = await mkdtemp(join(tmpdir(), 'imsync-daemon-'));
  const w = { clock, ims, store: new FailingStore(clock), dir };
  worlds.push(w);
  for (const [key, fields] of Object.entries(manifests)) await writeManifest(dir, key, fields);
  return w;
}

async function writeManifest(dir: string, key: string, fields: SpecFields = {}, region?: string): Promise<void> {
  const metadata = { name: key, ...(region === undefined ? {} : { region }) };
  const document = { apiVersion: 'imsync/v1', kind: 'Image', metadata, spec: specFor(key, fields) };
  await writeFile(join(dir, `${key}.yaml`), stringify(document));
}

interface StartOptions {
  readonly ims?: ImsApi & RefreshApi;
  readonly options?: Partial<DaemonOptions>;
  /** The daemon's randomness: 0.5 makes every resync exactly INTERVAL_MS apart. */
  readonly random?: () => number;
}

/** Starts a daemon over `w` (a daemon of its own on the same world, when called again). */
async function start(w: World, start: StartOptions = {}): Promise<Rig> {
  const { clock, store } = w;
  const recorder = new StateRecorder(store, await store.read());
  const logs: LogLine[] = [];
  const events: ApplyEvent[] = [];
  const notices: DaemonNotice[] = [];
  const results: ReconcileResult[] = [];
  const errors: string[] = [];
  const metrics = createMetrics({
    leading: () => true,
    revision: () => undefined,
    phases: () => ({ submitting: 0, submitted: 0, succeeded: 0, failed: 0 }),
    stateStats: () => store.stats(),
  });
  const daemon = new Daemon(
    {
      ims: start.ims ?? w.ims.client,
      recorder,
      clock,
      random: start.random ?? (() => 0.5),
      metrics: {
        ...metrics,
        reconciled: (result, seconds) => {
          results.push(result);
          metrics.reconciled(result, seconds);
        },
        error: (code) => {
          errors.push(code);
          metrics.error(code);
        },
      },
      log: (level, message, fields = {}) =>
        logs.push({ level, message, fields: fields as Record<string, unknown>, at: clock.now() }),
      onEvent: (event) => events.push(event),
      onNotice: (notice) => notices.push(notice),
    },
    {
      source: directorySource([w.dir]),
      intervalMs: INTERVAL_MS,
      parallelism: 4,
      allowReplace: false,
      prune: false,
      maxPrune: 10,
      force: false,
      settleGraceMs: 1_000,
      ...start.options,
    },
  );
  const rig: Rig = {
    ...w,
    daemon,
    logs,
    events,
    notices,
    results,
    errors,
    startedAt: clock.now(),
    running: daemon.run(),
  };
  rigs.push(rig);
  return rig;
}

/** Moves the clock on, a second at a time (never past a sleeper's deadline), until `condition` holds. */
function until(rig: { clock: FakeClock }, what: string, condition: () => boolean, maxMs = 10 * INTERVAL_MS) {
  return advanceUntil(rig.clock, condition, what, { stepMs: 1_000, maxMs });
}

/** Stops the daemon; resolves once its run() has. */
async function stop(rig: Rig): Promise<void> {
  rig.daemon.stop();
  await runOnFakeClock(rig.running, rig.clock);
  rigs.splice(rigs.indexOf(rig), 1);
}

/** The durable record of `key`. */
const stored = (rig: World, key: string): ImageRecord | undefined => rig.store.stored.images[key];

/** The quick-import requests the in-memory IMS served, by the image name sent. */
const posts = (rig: World, name?: string) =>
  rig.ims.requestLog.filter(
    (request) =>
      request.path === '/v2/cloudimages/quickimport/action' &&
      (name === undefined || (request.body as { name?: string }).name === name),
  ).length;

/** The in-memory client as a plain object, with `overrides` in front: faults at the client's edge. */
function delegating(w: World, overrides: Partial<ImsApi & RefreshApi> = {}): ImsApi & RefreshApi {
  const { client } = w.ims;
  return {
    quickImport: (body, signal) => client.quickImport(body, signal),
    getJob: (id, signal) => client.getJob(id, signal),
    listImages: (query, signal) => client.listImages(query, signal),
    listAllImages: (query, signal) => client.listAllImages(query, signal),
    listTaggedImages: (key, signal) => client.listTaggedImages(key, signal),
    getImage: (id, signal) => client.getImage(id, signal),
    updateImage: (id, operations, signal) => client.updateImage(id, operations, signal),
    deleteImage: (id, signal) => client.deleteImage(id, signal),
    listImageTags: (id, signal) => client.listImageTags(id, signal),
    changeImageTags: (id, action, tags, signal) => client.changeImageTags(id, action, tags, signal),
    ...overrides,
  };
}

/** Moves the clock on until a reconcile has ended (and none runs). */
const reconciled = (rig: Rig) =>
  until(rig, 'a reconcile ended', () => rig.results.length > 0 && !rig.daemon.reconciling);

const HELD =
  'failed import held: retried when its manifest changes, or at a resync once its backoff has passed (30 s, doubling with each failure, at most 1 h)';

const logged = (rig: Rig, message: string) => rig.logs.filter((line) => line.message === message);

describe('Daemon', () => {
  it('waits for its source: not ready, nothing reconciled, until it has a tree; then records the commit applied', async () => {
    const w = await world({ web: {} });
    const missing = { missing: 'no commit of https://git.example.com/images.git (main) fetched yet: host unreachable' };
    let snapshot: ReturnType<ManifestSource['snapshot']> = missing;
    const rig = await start(w, { options: { source: { snapshot: () => snapshot } } });
    await rig.clock.advance(INTERVAL_MS / 2);
    expect(rig.daemon.unready).toBe(missing.missing);
    expect(rig.results).toEqual([]);
    expect(posts(w)).toBe(0);

    const commit = 'c0ffee'.padEnd(40, '0');
    const revision = { url: 'https://git.example.com/images.git', ref: 'main', commit };
    snapshot = { paths: [w.dir], revision, root: w.dir };
    rig.daemon.trigger(`new commit ${commit.slice(0, 12)}`);
    await reconciled(rig);
    expect(stored(w, 'web')).toMatchObject({ phase: 'succeeded', revision: commit });
    expect(rig.daemon.lastReconcile?.revision).toEqual(revision);
    expect(rig.daemon.applied).toEqual(revision);
  });

  it('imports on its first reconcile, and is ready once it has sent its work, while the job still runs', async () => {
    const rig = await start(await world({ web: {} }));
    expect(rig.daemon.unready).toBe('the first reconcile has not sent its work yet');
    await until(rig, 'web submitted', () => stored(rig, 'web')?.phase === 'submitted');
    await until(rig, 'ready', () => rig.daemon.ready);
    expect(rig.daemon.reconciling).toBe(true);
    expect(stored(rig, 'web')?.phase).toBe('submitted');
    await reconciled(rig);
    expect(rig.results).toEqual(['applied']);
    expect(rig.daemon.lastReconcile).toMatchObject({ result: 'applied', summary: { imported: 1, failed: 0 } });
    const record = stored(rig, 'web');
    expect(record).toMatchObject({ phase: 'succeeded' });
    expect(rig.ims.store.find(record!.imageId!)?.info).toMatchObject({ name: 'image-web', status: 'active' });
    // The job's ten seconds, followed at growing intervals, in virtual time.
    const seconds = rig.daemon.lastReconcile!.summary!.seconds;
    expect(seconds).toBeGreaterThanOrEqual(JOB_MS / 1000);
    expect(seconds).toBeLessThan(JOB_MS / 1000 + 5);
    expect(rig.daemon.reconciling).toBe(false);
    await stop(rig);
    expect(rig.daemon.ready).toBe(false);
  });

  it('acts on a manifest change at once: the running reconcile stops waiting, its import is followed after', async () => {
    const rig = await start(await world({ web: {} }));
    await until(rig, 'web submitted', () => stored(rig, 'web')?.phase === 'submitted');
    await writeManifest(rig.dir, 'api');
    rig.daemon.trigger('manifests changed: api.yaml');
    await until(
      rig,
      'both imported',
      () => stored(rig, 'web')?.phase === 'succeeded' && stored(rig, 'api')?.phase === 'succeeded',
    );
    expect(rig.results).toEqual(['interrupted', 'applied']);
    expect(ofType(rig.events, 'apply.interrupted')).toEqual([
      expect.objectContaining({ reason: 'manifests changed: api.yaml' }),
    ]);
    // api was submitted while web's job still ran; web was followed, never sent again.
    const [apiSubmitted] = ofType(rig.events, 'import.submitted').filter((event) => event.key === 'api');
    const [webSucceeded] = ofType(rig.events, 'import.succeeded').filter((event) => event.key === 'web');
    expect(at(apiSubmitted)).toBeLessThan(at(webSucceeded));
    expect(at(apiSubmitted) - rig.startedAt).toBeLessThan(JOB_MS);
    expect(posts(rig, 'image-web')).toBe(1);
    expect(posts(rig, 'image-api')).toBe(1);
    expect(ofType(rig.events, 'apply.started').at(-1)).toMatchObject({ imports: 1, following: 1 });
  });

  it('resyncs every interval: a refresh finds an image deleted out of band, and it is imported again', async () => {
    const rig = await start(await world({ web: {} }));
    await reconciled(rig);
    const first = stored(rig, 'web')!.imageId!;
    rig.ims.store.delete(first);
    // Until the resync nothing looks at the cloud: the record stands.
    await advanceBy(rig.clock, INTERVAL_MS / 2, 1_000);
    expect(stored(rig, 'web')).toMatchObject({ phase: 'succeeded', imageId: first });
    expect(rig.results).toEqual(['applied']);

    await until(
      rig,
      're-imported',
      () => stored(rig, 'web')?.phase === 'succeeded' && stored(rig, 'web')?.imageId !== first,
    );
    const [resync] = logged(rig, 'reconcile requested').filter((line) => line.fields.reason === 'periodic resync');
    // random 0.5: no jitter, the resync comes exactly one interval after the start.
    expect(resync!.at - rig.startedAt).toBe(INTERVAL_MS);
    const drift = logged(rig, 'image deleted out of band');
    expect(drift).toEqual([expect.objectContaining({ level: 'warn' })]);
    expect(drift[0]!.fields).toMatchObject({ key: 'web', image_id: first });
    expect(rig.errors).toContain('DRIFT_DELETED');
    expect(rig.results).toEqual(['applied', 'applied']);
    expect(posts(rig, 'image-web')).toBe(2);
    const images = rig.ims.store.list();
    expect(images.map((image) => image.info.id)).toEqual([stored(rig, 'web')!.imageId]);
  });

  it("leaves the records of another region alone at every resync: this region's listing says nothing of them", async () => {
    const w = await world({ web: {} });
    await writeManifest(w.dir, 'far', {}, 'cn-north-4');
    await w.store.write(imported(emptyState(), 'far', specFor('far') as unknown as ImageSpec, 'cn-north-4', 'img-far'));
    const far = stored(w, 'far');
    const rig = await start(w, { options: { region: REGION } });
    await until(rig, 'two resyncs', () => rig.results.length === 3);
    expect(rig.results).toEqual(['applied', 'applied', 'applied']);
    expect(stored(rig, 'far')).toEqual(far);
    expect(stored(rig, 'web')).toMatchObject({ phase: 'succeeded', region: REGION });
    expect(logged(rig, 'image deleted out of band')).toEqual([]);
    expect(rig.errors).not.toContain('DRIFT_DELETED');
    // Not even looked up here: its image is in another region.
    expect(rig.ims.requestLog.filter((request) => request.query.includes('img-far'))).toEqual([]);
    expect(posts(rig, 'image-far')).toBe(0);
  });

  it('holds a failed import on a trigger with an unchanged manifest, and retries it at resyncs, backing off', async () => {
    const rig = await start(await world({ bad: { image_url: 'golden:bad.qcow2' } }));
    await until(rig, 'bad failed', () => stored(rig, 'bad')?.phase === 'failed');
    await reconciled(rig);
    expect(stored(rig, 'bad')).toMatchObject({ error: { code: 'IMG.0072' } });
    expect(posts(rig)).toBe(1);

    rig.daemon.trigger('manifests changed: another file');
    await until(rig, 'second reconcile', () => rig.results.length === 2);
    rig.daemon.trigger('manifests changed: yet another file');
    await until(rig, 'third reconcile', () => rig.results.length === 3);
    expect(rig.clock.now() - rig.startedAt).toBeLessThan(INTERVAL_MS);
    expect(posts(rig)).toBe(1);
    expect(rig.results).toEqual(['applied', 'applied', 'applied']);
    // Said once, when it first appears.
    expect(logged(rig, HELD)).toEqual([
      expect.objectContaining({ level: 'warn', fields: { key: 'bad', image_id: null } }),
    ]);

    const failed = stored(rig, 'bad')!;
    await until(rig, 'retried', () => posts(rig) === 2);
    expect(at(ofType(rig.events, 'import.submitting')[1]) - rig.startedAt).toBe(INTERVAL_MS);
    await until(rig, 'failed again', () => stored(rig, 'bad')?.phase === 'failed' && stored(rig, 'bad') !== failed);
    expect(stored(rig, 'bad')!.attemptId).not.toBe(failed.attemptId);
    expect(ofType(rig.events, 'import.failed')).toHaveLength(2);

    // Failing the same way, it backs off (30 s, 1, 2, 4 min after each failure, a job taking 10 s):
    // over twelve resyncs, five jobs, at the first resync after each wait.
    const end = rig.startedAt + 12 * INTERVAL_MS;
    await until(rig, 'twelve intervals', () => rig.clock.now() >= end, 13 * INTERVAL_MS);
    const sent = ofType(rig.events, 'import.submitting').map((event) => (at(event) - rig.startedAt) / INTERVAL_MS);
    expect(sent).toEqual([0, 1, 3, 6, 11]);
    expect(stored(rig, 'bad')).toMatchObject({ phase: 'failed', failures: 5 });
  });

  it('keeps a resync due when an edit interrupts it before it carried anything out', async () => {
    const w = await world({ bad: { image_url: 'golden:bad.qcow2' } });
    const { client } = w.ims;
    let lists = 0;
    let edited = () => {};
    const rig = await start(w, {
      ims: delegating(w, {
        // An edit lands while the resync's refresh lists the account.
        listAllImages: (query, signal) => {
          if (++lists === 2) edited();
          return client.listAllImages(query, signal);
        },
      }),
    });
    edited = () => rig.daemon.trigger('manifests changed: unrelated.yaml');
    await until(rig, 'bad failed', () => stored(rig, 'bad')?.phase === 'failed' && rig.daemon.ready);
    await until(rig, 'retried', () => posts(rig) === 2, 3 * INTERVAL_MS);
    // The resync's retry comes with the reconcile the edit asked for, not a whole interval later.
    expect(at(ofType(rig.events, 'import.submitting')[1]) - rig.startedAt).toBe(INTERVAL_MS);
    expect(rig.results).toEqual(['applied', 'interrupted']);
    expect(lists).toBe(3);
  });

  it('on stop, saves the state and resolves run(); another daemon follows what was left running', async () => {
    const w = await world({ web: {}, api: {} });
    const rig = await start(w);
    await until(
      rig,
      'both submitted',
      () => stored(rig, 'web')?.phase === 'submitted' && stored(rig, 'api')?.phase === 'submitted',
    );
    await stop(rig);
    expect(rig.results).toEqual(['interrupted']);
    const saved = await w.store.read();
    expect(saved.images.web).toMatchObject({ phase: 'submitted', jobId: expect.any(String) as string });
    expect(saved.images.api).toMatchObject({ phase: 'submitted', jobId: expect.any(String) as string });
    const sent = w.ims.requests();
    await advanceBy(w.clock, 2 * INTERVAL_MS, 1_000);
    expect(w.ims.requests()).toBe(sent);

    const next = await start(w);
    await reconciled(next);
    expect(next.daemon.lastReconcile).toMatchObject({ result: 'applied', summary: { imported: 2, failed: 0 } });
    expect(posts(next)).toBe(2);
  });

  it('sends nothing when the intents cannot be written, and imports each image once when the state can be written again', async () => {
    const w = await world({ web: {}, api: {} });
    w.store.failCommits(2);
    const rig = await start(w);
    await until(
      rig,
      'both imported',
      () => stored(rig, 'web')?.phase === 'succeeded' && stored(rig, 'api')?.phase === 'succeeded',
    );
    expect(rig.results).toEqual(['error', 'error', 'applied']);
    expect(rig.errors).toEqual(['EMFILE', 'EMFILE']);
    expect(logged(rig, 'reconcile failed; retrying with backoff')[0]!.fields).toMatchObject({
      error: expect.stringContaining('EMFILE') as unknown,
    });
    expect(posts(rig, 'image-web')).toBe(1);
    expect(posts(rig, 'image-api')).toBe(1);
    expect(rig.ims.store.list()).toHaveLength(2);
    expect(rig.daemon.ready).toBe(true);
  });

  it('is not ready while the job ids cannot be written; then follows the imports found by their tag, none sent twice', async () => {
    const w = await world({ web: {} });
    const rig = await start(w);
    await reconciled(rig);
    const submittedIn = (changes: RecordChanges) =>
      [...changes.values()].some((record) => record?.phase === 'submitted');
    w.store.failCommits(3, submittedIn);
    await writeManifest(rig.dir, 'api');
    rig.daemon.trigger('manifests changed: api.yaml');
    await until(rig, 'a failed write', () => rig.results.length === 2);
    expect(rig.results).toEqual(['applied', 'error']);
    expect(rig.daemon.ready).toBe(false);
    expect(rig.daemon.unready).toMatch(/^the state cannot be written \(EMFILE: too many open files/);
    // Its intent is what is durable: the job id that came back is not.
    expect(stored(rig, 'api')).toMatchObject({ phase: 'submitting' });
    expect(posts(rig, 'image-api')).toBe(1);

    await until(rig, 'api imported', () => stored(rig, 'api')?.phase === 'succeeded' && rig.daemon.ready);
    expect(rig.results).toEqual(['applied', 'error', 'error', 'error', 'applied']);
    expect(logged(rig, 'state read again after a failed write')).toHaveLength(3);
    expect(
      ofType(rig.events, 'import.settled')
        .filter((event) => event.key === 'api')
        .at(-1),
    ).toMatchObject({
      found: true,
    });
    expect(posts(rig, 'image-api')).toBe(1);
    expect(posts(rig, 'image-web')).toBe(1);
    expect(rig.ims.store.list()).toHaveLength(2);
    expect(stored(rig, 'web')).toMatchObject({ phase: 'succeeded' });
  });

  it('backs off after a failed reconcile with growing delays drawn from its random source', async () => {
    const w = await world({ web: {} });
    const lists: number[] = [];
    let failures = 3;
    const { client } = w.ims;
    const flaky = delegating(w, {
      // The refresh's list of the account fails three times, as an API in trouble would.
      listAllImages: async function* (query, signal): AsyncGenerator<Image> {
        lists.push(w.clock.now());
        if (failures-- > 0) throw new ImsError('GET /v2/cloudimages: 503 APIGW.0308: busy', 'APIGW.0308', 'safe', 503);
        yield* client.listAllImages(query, signal);
      },
    });
    const draws: number[] = [];
    const randoms = [0.5, 0.25, 0.5, 0.75];
    const rig = await start(w, {
      ims: flaky,
      random: () => {
        const value = randoms[draws.length % randoms.length]!;
        draws.push(value);
        return value;
      },
    });
    await until(rig, 'applied', () => rig.results.includes('applied') && !rig.daemon.reconciling);
    expect(rig.results).toEqual(['error', 'error', 'error', 'applied']);
    expect(rig.errors).toEqual(['APIGW.0308', 'APIGW.0308', 'APIGW.0308']);
    expect(logged(rig, 'reconcile failed; retrying with backoff')).toHaveLength(3);
    // Draw 0.5 went to the resync's jitter; then full jitter over 1 s, 2 s, 4 s: 0.25 x 1 s, 0.5 x 2 s, 0.75 x 4 s.
    expect(lists.map((time) => time - lists[0]!)).toEqual([0, 250, 250 + 1_000, 250 + 1_000 + 3_000]);
    expect(stored(rig, 'web')).toMatchObject({ phase: 'succeeded' });
    expect(rig.daemon.lastReconcile).toMatchObject({ result: 'applied' });
  });

  it('tells onNotice what it logs for notifications: drift, a blocked entry once, the end of each reconcile', async () => {
    const rig = await start(await world({ web: {} }));
    await reconciled(rig);
    const first = stored(rig, 'web')!.imageId!;
    rig.ims.store.delete(first);
    await until(rig, 're-imported', () => stored(rig, 'web')?.imageId !== first);
    // A new image_url needs a replacement, which this daemon may not make; told once for two reconciles.
    await writeManifest(rig.dir, 'web', { image_url: 'golden:web-v2.qcow2' });
    rig.daemon.trigger('manifests changed: web.yaml');
    await until(rig, 'a reconcile after the edit', () => rig.results.length === 3 && !rig.daemon.reconciling);
    rig.daemon.trigger('SIGHUP');
    await until(rig, 'another reconcile', () => rig.results.length === 4 && !rig.daemon.reconciling);

    const ends = rig.notices.flatMap((notice) => (notice.type === 'reconciled' ? [notice.reconcile] : []));
    expect(ends.map((reconcile) => reconcile.result)).toEqual(rig.results);
    expect(ends.at(-1)).toBe(rig.daemon.lastReconcile);
    const drift = rig.notices.filter((notice) => notice.type === 'drift');
    expect(drift).toEqual([{ type: 'drift', key: 'web', drift: { kind: 'deleted', imageId: first } }]);
    const blocked = rig.notices.flatMap((notice) => (notice.type === 'blocked' ? [notice.entry] : []));
    expect(blocked.map((entry) => [entry.action, entry.key])).toEqual([['replace-blocked', 'web']]);
    expect(logged(rig, BLOCKED_MESSAGES['replace-blocked'])).toHaveLength(1);
  });
});
