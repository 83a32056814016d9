// The executor: carries out a plan's entries exactly as they say; it decides nothing. Imports are
// submitted concurrently (at most `parallelism` requests in flight; waiting for a job holds no
// slot), each one durable as an intent before its POST and as a job id as soon as the answer
// comes. Imports in flight are followed in rounds (one list of imsync's images per round when that
// is cheaper than a query per job); what each observation means is observe.ts's to say. An answer
// that never came is settled by the attempt's tag, and a new attempt sent only once the first is
// provably absent (DESIGN.md §5). Deletions wait until the image is gone from the list.
import { setMaxListeners } from 'node:events';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Clock } from '../clock.js';
import type { ImsClient } from '../ims/client.js';
import { ImsError } from '../ims/errors.js';
import type { Image, Job } from '../ims/types.js';
import { specTags } from '../manifest/spec.js';
import type { ImageSpec, ImageTag } from '../manifest/types.js';
import type { Plan, PlanEntry } from '../plan/plan.js';
import {
  failedRecord,
  intentRecord,
  replacedRecord,
  submittedRecord,
  updatedRecord,
  type SourceObject,
  type SubmittedRecord,
  type SubmittingRecord,
  type SucceededRecord,
} from '../state/model.js';
import type { StateRecorder } from '../state/recorder.js';
import type { ApplyEvent, ApplySummary, EmitEvent } from './events.js';
import { isUnusableAnswer, observe, type Observation, type Observed, type UnusableAnswers } from './observe.js';
import { ImportSlots } from './slots.js';
import { ATTEMPT_TAG, attemptFilter, importBody, KEY_TAG, ownershipTags } from '../ims/ownership.js';

/** The IMS calls the executor makes; ImsClient has them all. */
export type ImsApi = Pick<
  ImsClient,
  | 'quickImport'
  | 'getJob'
  | 'listImages'
  | 'listTaggedImages'
  | 'getImage'
  | 'updateImage'
  | 'deleteImage'
  | 'listImageTags'
  | 'changeImageTags'
>;

export interface ExecutorDeps {
  readonly ims: ImsApi;
  readonly recorder: StateRecorder;
  readonly clock: Clock;
  readonly newAttemptId: () => string;
  readonly emit: EmitEvent;
  /** Jitter of the waits for the account's import cap; Math.random unless given. */
  readonly random?: () => number;
}

export interface ExecutorOptions {
  /** Import requests in flight at once. */
  readonly parallelism: number;
  /** How long an attempt whose answer never came may stay invisible before it counts as absent. */
  readonly settleGraceMs: number;
  /** Bounds of the adaptive interval between rounds of job following (and deletion checks). */
  readonly pollMinMs: number;
  readonly pollMaxMs: number;
  /** How long a deleted image may stay listed before the deletion is reported as not done. */
  readonly deleteTimeoutMs: number;
  /** How long one job is waited for before the run stops waiting for it (it stays recorded). */
  readonly waitTimeoutMs?: number;
  /** Aborted: submit nothing more and stop waiting; running jobs stay recorded for the next run. */
  readonly stop: AbortSignal;
  /** Aborted: also abandon requests in flight (their outcome is settled next time). */
  readonly abort?: AbortSignal;
  /** The source's commit the plan was made from, recorded with what is applied (a git source). */
  readonly revision?: string;
}

/** Images per page of the tag query that following uses. */
const TAG_PAGE = 1000;
/** Up to this many running jobs are asked one by one (with their percent) rather than by the tag query. */
const JOBS_ASKED_FOR_PERCENT = 20;
/** An image or job id IMS does not know (answered 400 by the error table, 404 by some endpoints). */
const UNKNOWN_ID = 'IMG.0027';
/** PATCH `replace` of a missing attribute, or `add` of one that exists. */
const ATTRIBUTE_CONFLICT = 'IMG.0035';

type Event = DistributiveOmit<ApplyEvent, 'time' | 'key'>;

export async function executePlan(plan: Plan, deps: ExecutorDeps, options: ExecutorOptions): Promise<ApplySummary> {
  return new Run(deps, options).execute(plan);
}

class Run {
  private readonly limit: LimitFunction;
  private readonly started: number;
  /** Imports being followed, by key, with when following began. */
  private readonly following = new Map<string, number>();
  /** Imports whose answer never came, waiting to be found by their tag. */
  private readonly settling = new Set<string>();
  /** When this run began to settle each key: new attempts after absent ones do not restart it. */
  private readonly unsettledSince = new Map<string, number>();
  private submissions = 0;
  /** Orphans whose image goes once their running import has ended. */
  private readonly deleteWhenDone = new Set<string>();
  /** Work started while following (new attempts, deletions): awaited before the run ends. */
  private readonly later: Promise<void>[] = [];
  private pages = 1;
  private readonly slots: ImportSlots;
  /** The last percent said of each running job. */
  private readonly percents = new Map<string, number>();
  /** Jobs no longer waited for (--wait-timeout): still running, recorded for the next run. */
  private readonly leftRunning = new Set<string>();
  /** Import answers without a usable job id, by key: enough of them and a missing import fails. */
  private readonly unusable = new Map<string, UnusableAnswers>();
  private readonly counts = { imported: 0, adopted: 0, updated: 0, deleted: 0, failed: 0, blocked: 0 };
  private readonly options: ExecutorOptions & { readonly abort: AbortSignal };
  /** Aborted by the first part of the run that fails (its error kept), to stop the others. */
  private readonly failed = new AbortController();
  private failure: { readonly error: unknown } | undefined;

  constructor(
    private readonly deps: ExecutorDeps,
    options: ExecutorOptions,
  ) {
    // A part that fails (a state that cannot be written) stops the others as a second Ctrl-C does:
    // nothing more is sent, requests in flight are abandoned, and the next run settles them.
    const failed = this.failed.signal;
    this.options = {
      ...options,
      stop: AbortSignal.any([options.stop, failed]),
      abort: AbortSignal.any(options.abort ? [options.abort, failed] : [failed]),
    };
    this.limit = pLimit(options.parallelism);
    this.slots = new ImportSlots(deps.clock, deps.random ?? Math.random);
    // Every request in flight listens to these signals; hundreds at once are expected, not a leak.
    setMaxListeners(0, this.options.stop);
    setMaxListeners(0, this.options.abort);
    this.started = deps.clock.now();
  }

  async execute(plan: Plan): Promise<ApplySummary> {
    // What the refresh found is recorded first: the entries are decisions about that state.
    await Promise.all([...plan.refresh.changes].map(([key, record]) => this.deps.recorder.record(key, record)));
    const count = (...actions: PlanEntry['action'][]) => plan.entries.filter((e) => actions.includes(e.action)).length;
    this.emitNow({
      type: 'apply.started',
      imports: count('import', 'retry', 'replace'),
      updates: count('update'),
      deletes: count('delete') + plan.entries.filter((e) => 'then' in e && e.then === 'delete').length,
      following: count('follow', 'settle'),
      parallelism: this.options.parallelism,
    });
    const work = plan.entries.map((entry) => this.carryOut(entry));
    const dispatched = Promise.allSettled(work).then(() => {
      if (!this.options.stop.aborted) this.emitNow({ type: 'apply.dispatched' });
    });
    await this.settle([...work, this.follow(), dispatched]);
    while (this.later.length > 0) await this.settle(this.later.splice(0));
    // Failed only once every part has ended: nothing is left running behind the error.
    if (this.failure) throw this.failure.error;
    await this.deps.recorder.flush();
    if (this.options.stop.aborted)
      this.emitNow({ type: 'apply.interrupted', reason: String(this.options.stop.reason) });
    const written = this.deps.recorder.stats();
    const summary: ApplySummary = {
      ...this.counts,
      stillRunning: this.following.size + this.settling.size + this.leftRunning.size,
      seconds: (this.deps.clock.now() - this.started) / 1000,
      stateWrites: written.writes,
      stateBytes: written.bytes,
    };
    this.emitNow({ type: 'apply.finished', summary });
    return summary;
  }

  /** Waits for every part to end; the first to fail stops the others. */
  private async settle(parts: readonly Promise<void>[]): Promise<void> {
    await Promise.all(
      parts.map((part) =>
        part.catch((error: unknown) => {
          this.failure ??= { error };
          this.failed.abort(error);
        }),
      ),
    );
  }

  private async carryOut(entry: PlanEntry): Promise<void> {
    const { key } = entry;
    switch (entry.action) {
      case 'import':
      case 'retry':
        return this.submit(key, submission(entry));
      case 'replace':
        return this.submit(key, { ...submission(entry), keepOld: entry.keepOld === true });
      case 'update':
        return this.guard(key, 'update', () => this.update(key, entry.recorded, entry.manifest.spec, entry.changes));
      case 'finish-replace':
        return this.guard(key, 'delete', () => this.deleteSuperseded(key, entry.recorded));
      case 'adopt':
        this.counts.adopted++;
        return this.emitAt(key, { type: 'adopt.succeeded', imageId: entry.recorded.imageId });
      case 'follow':
      case 'settle':
        if (entry.then === 'delete') this.deleteWhenDone.add(key);
        this.slots.track(); // its job may hold one of the account's import slots
        if (entry.action === 'settle') this.startSettling(key);
        else this.following.set(key, Date.parse(entry.recorded.updatedAt));
        return;
      case 'delete':
        return this.guard(key, 'delete', () => this.deleteOrphan(key));
      case 'replace-blocked':
        this.counts.blocked++;
        return this.emitAt(key, { type: 'replace.blocked' });
      case 'keep-orphan': {
        this.counts.blocked++;
        const { imageId } = entry.recorded;
        return this.emitAt(key, { type: 'orphan.kept', ...(imageId === undefined ? {} : { imageId }) });
      }
      case 'hold-failed':
        this.counts.blocked++;
        return;
      case 'none':
        return;
    }
  }

  /** Queues an import attempt; it waits for a submission slot. */
  private async submit(key: string, attempt: Submission): Promise<void> {
    this.submissions++;
    try {
      // Waiting for the account's import cap holds no request slot; a refused attempt is sent
      // again as it is (IMS provably did not take it) once one of this run's jobs has ended.
      let queued: SubmittingRecord | undefined;
      for (;;) {
        if (!(await this.slots.acquire(this.options.stop))) return;
        const waiting = queued;
        queued = await this.limit(() => this.submitNow(key, attempt, waiting));
        if (queued === undefined) return;
      }
    } finally {
      this.submissions--;
    }
  }

  /** Sends an import; returns its record when the account's cap refused it (IMG.0194), to send again. */
  private async submitNow(
    key: string,
    attempt: Submission,
    queued: SubmittingRecord | undefined,
  ): Promise<SubmittingRecord | undefined> {
    if (this.options.stop.aborted) {
      this.slots.released();
      return undefined; // never sent: the next plan has it (or settles the recorded intent)
    }
    const { recorder, ims } = this.deps;
    const record = queued ?? (await this.intend(key, attempt));
    const { attemptId } = record;
    let jobId: string;
    try {
      jobId = await ims.quickImport(importBody(attempt.spec, key, attemptId), this.options.abort);
    } catch (error) {
      if (this.options.abort?.aborted) {
        this.slots.perhapsRunning();
        return undefined; // abandoned in flight: settled next time
      }
      if (!(error instanceof ImsError)) throw error;
      if (error.code === 'IMG.0194') {
        this.slots.refused();
        if (queued === undefined) this.emitAt(key, { type: 'import.queued', attemptId, reason: error.message });
        return record;
      }
      if (error.retry === 'ambiguous') {
        if (isUnusableAnswer(error)) {
          this.unusable.set(key, { count: (this.unusable.get(key)?.count ?? 0) + 1, last: error.message });
        }
        this.slots.perhapsRunning();
        this.emitAt(key, { type: 'import.ambiguous', attemptId, reason: error.message });
        this.startSettling(key);
        return undefined;
      }
      // Refused, or provably never processed after every retry: a result, not an exception.
      this.slots.released();
      await this.apply(key, {
        record: failedRecord(record, { code: error.code, reason: error.message }, this.now()),
        outcomes: [{ type: 'import.failed', code: error.code, reason: error.message }],
        next: 'done',
      });
      return undefined;
    }
    this.slots.accepted();
    await recorder.record(key, submittedRecord(record, jobId, this.now()));
    this.following.set(key, this.deps.clock.now());
    this.emitAt(key, { type: 'import.submitted', jobId });
    return undefined;
  }

  /** A new attempt, durable before anything is sent. */
  private async intend(key: string, { spec, region, keepOld, source }: Submission) {
    const attemptId = this.deps.newAttemptId();
    const { revision } = this.options;
    const intent = {
      spec,
      attemptId,
      keepsPrevious: keepOld,
      ...(region === undefined ? {} : { region }),
      ...(revision === undefined ? {} : { revision }),
      ...(source === undefined ? {} : { source }),
    };
    const record = intentRecord(this.deps.recorder.get(key), intent, this.now());
    await this.deps.recorder.record(key, record);
    this.emitAt(key, { type: 'import.submitting', attemptId });
    return record;
  }

  /** Rounds of following and settling until nothing is left to wait for, or the run stops. */
  private async follow(): Promise<void> {
    let interval = this.options.pollMinMs;
    for (;;) {
      // Submissions still running keep the loop alive: they add to what is followed.
      if (this.submissions === 0 && this.following.size === 0 && this.settling.size === 0) return;
      try {
        await this.deps.clock.sleep(interval, this.options.stop);
      } catch {
        return; // stopped: what is followed stays recorded for the next run
      }
      // Before the round, so that an API that keeps failing every round still lets the run end.
      this.stopWaitingForLongJobs();
      const changed = await this.round().catch((error: unknown) => {
        // A round that could not finish (the API kept failing) is tried again, a little later;
        // one cut short by an abort ends the following.
        if (error instanceof ImsError || this.options.abort?.aborted) return false;
        throw error;
      });
      if (this.options.abort?.aborted) return;
      interval = changed ? this.options.pollMinMs : Math.min(this.options.pollMaxMs, Math.round(interval * 1.5));
    }
  }

  private async round(): Promise<boolean> {
    const settled = await Promise.all([...this.settling].map((key) => this.look(key)));
    const keys = [...this.following.keys()];
    // The tag query costs `pages` requests for all of imsync's images; a job query one per import,
    // and tells its percent: with few jobs running, that is worth it to whoever watches.
    const listed = keys.length > Math.max(this.pages, JOBS_ASKED_FOR_PERCENT) ? await this.listByAttempt() : undefined;
    const followed = await Promise.all(
      keys.map(async (key) => {
        const image = listed?.get(this.inFlight(key).attemptId);
        if (image) return this.see(key, { kind: 'image', image });
        // Not in the tag query yet: IMS may list a new image late. Its job is asked only once the
        // image has had the settle grace to appear, so that a listing lag costs no request per job.
        const since = this.following.get(key) ?? 0;
        if (listed && this.deps.clock.now() - since < this.options.settleGraceMs) return false;
        return this.look(key);
      }),
    );
    return [...settled, ...followed].some(Boolean);
  }

  private startSettling(key: string): void {
    this.settling.add(key);
    if (!this.unsettledSince.has(key)) this.unsettledSince.set(key, this.deps.clock.now());
  }

  /**
   * Jobs followed, and imports settled, longer than --wait-timeout are left: recorded, for the next
   * run to follow or settle. An IMS that never answers (every import 5xx) thus ends the run too.
   */
  private stopWaitingForLongJobs(): void {
    const timeout = this.options.waitTimeoutMs;
    if (timeout === undefined) return;
    const now = this.deps.clock.now();
    const left = [
      ...[...this.following].filter(([, since]) => now - since >= timeout).map(([key]) => key),
      ...[...this.settling].filter((key) => now - this.unsettledSince.get(key)! >= timeout),
    ];
    for (const key of left) {
      this.following.delete(key);
      this.settling.delete(key);
      this.leftRunning.add(key);
      const { jobId } = this.inFlight(key);
      this.emitAt(key, {
        type: 'job.left-running',
        ...(jobId === undefined ? {} : { jobId }),
        seconds: timeout / 1000,
      });
    }
  }

  /**
   * imsync's images by attempt, with their status, from the tag query (it shows tags as key/value
   * in every variant of IMS, which lists need not). A saving of requests, never a proof of absence:
   * an import not found here (not listed yet) is asked directly.
   */
  private async listByAttempt(): Promise<Map<string, Image>> {
    const byAttempt = new Map<string, Image>();
    let count = 0;
    for await (const image of this.deps.ims.listTaggedImages(ATTEMPT_TAG, this.options.abort)) {
      count++;
      const attempt = image.tags.find((tag) => tag.key === ATTEMPT_TAG)?.value;
      if (attempt !== undefined && image.status !== undefined) {
        byAttempt.set(attempt, { id: image.id, name: image.name, status: image.status, tags: [] });
      }
    }
    this.pages = Math.max(1, Math.ceil(count / TAG_PAGE));
    return byAttempt;
  }

  /** Observes one import directly: its job when it has one, else its image by tag or id. */
  private async look(key: string): Promise<boolean> {
    const record = this.inFlight(key);
    if (record.jobId !== undefined) return this.see(key, { kind: 'job', job: await this.ask(record.jobId) });
    return this.see(key, await this.find(record));
  }

  private async see(key: string, observation: Observation): Promise<boolean> {
    const { settleGraceMs } = this.options;
    const observed = observe(this.inFlight(key), observation, this.now(), settleGraceMs, this.unusable.get(key));
    switch (observed.next) {
      case 'ask-job':
        return this.see(key, { kind: 'job', job: await this.ask(this.inFlight(key).jobId!) });
      case 'find-image': {
        const found = await this.find(this.inFlight(key));
        // Not listed yet (listing lag): look again next round.
        return found.kind === 'image' ? this.see(key, found) : false;
      }
      default:
        await this.apply(key, observed);
        if (observation.kind === 'job') this.reportPercent(key, observation.job);
        return observed.record !== undefined || observed.next !== 'follow';
    }
  }

  /** A running job's percent, when the progress API gave one and it moved: for people, never recorded. */
  private reportPercent(key: string, job: Job): void {
    const { percent } = job;
    if (percent === undefined || job.status === 'SUCCESS' || job.status === 'FAIL') return;
    if (this.percents.get(key) === percent) return;
    this.percents.set(key, percent);
    this.emitAt(key, { type: 'job.progress', jobId: job.jobId, status: job.status, percent });
  }

  /** Records an observation's outcome and moves the import on. */
  private async apply(key: string, observed: Observed): Promise<void> {
    if (observed.record) await this.deps.recorder.record(key, observed.record);
    const since = this.following.get(key) ?? this.deps.clock.now();
    for (const outcome of observed.outcomes) {
      if (outcome.type === 'import.succeeded') {
        this.counts.imported++;
        this.emitAt(key, { ...outcome, seconds: (this.deps.clock.now() - since) / 1000 });
      } else {
        if (outcome.type === 'import.failed') this.counts.failed++;
        if (outcome.type === 'job.progress' && outcome.percent !== undefined) this.percents.set(key, outcome.percent);
        this.emitAt(key, outcome);
      }
    }
    if (observed.next !== 'follow' && (this.following.has(key) || this.settling.has(key))) this.slots.ended();
    switch (observed.next) {
      case 'follow':
        if (observed.record?.phase === 'submitted') {
          this.settling.delete(key);
          if (!this.following.has(key)) this.following.set(key, this.deps.clock.now());
        }
        return;
      case 'resubmit': {
        this.settling.delete(key);
        const record = this.inFlight(key);
        this.later.push(this.submit(key, submission({ manifest: { spec: record.spec }, ...record })));
        return;
      }
      default:
        this.settling.delete(key);
        this.following.delete(key);
        this.later.push(this.finish(key));
    }
  }

  /** After an import ended: the image it replaces goes, and an orphan's own image if pruning. */
  private async finish(key: string): Promise<void> {
    const record = this.deps.recorder.get(key);
    if (record?.phase === 'succeeded' && record.supersedes !== undefined) {
      await this.guard(key, 'delete', () => this.deleteSuperseded(key, record));
    }
    if (this.deleteWhenDone.delete(key)) await this.guard(key, 'delete', () => this.deleteOrphan(key));
  }

  private async find(record: SubmittingRecord | SubmittedRecord): Promise<Observation> {
    const [image] = await this.deps.ims.listImages({ tag: attemptFilter(record.attemptId) }, this.options.abort);
    const byId =
      image ??
      (record.imageId === undefined ? undefined : await this.deps.ims.getImage(record.imageId, this.options.abort));
    return byId ? { kind: 'image', image: byId } : { kind: 'absent' };
  }

  private ask(jobId: string) {
    return this.deps.ims.getJob(jobId, this.options.abort);
  }

  private inFlight(key: string): SubmittingRecord | SubmittedRecord {
    const record = this.deps.recorder.get(key);
    if (record?.phase !== 'submitting' && record?.phase !== 'submitted') {
      throw new Error(`bug: ${key} is followed but its record is ${record?.phase ?? 'gone'}`);
    }
    return record;
  }

  /** Name, description, firmware (PATCH) and tags (the tag API), ownership tags included. */
  private async update(
    key: string,
    recorded: SucceededRecord,
    spec: ImageSpec,
    changes: readonly { field: string }[],
  ): Promise<void> {
    const { ims, recorder } = this.deps;
    const id = recorded.imageId;
    const fields = changes.map((change) => change.field);
    const wanted: [string, string | undefined][] = [
      ['name', fields.includes('name') ? spec.name : undefined],
      ['__description', fields.includes('description') ? (spec.description ?? '') : undefined],
      [
        'hw_firmware_type',
        fields.includes('hw_firmware_type') && 'hw_firmware_type' in spec ? spec.hw_firmware_type : undefined,
      ],
    ];
    const values = wanted.filter((entry): entry is [string, string] => entry[1] !== undefined);
    // `replace` on a missing attribute and `add` on one that exists may both be refused (IMG.0035):
    // the image as it is now says which one each attribute takes.
    const image = values.length > 0 ? await ims.getImage(id, this.options.abort) : undefined;
    const signal = this.options.abort;
    if (image !== undefined) {
      const op = (attribute: string) => (attribute in image ? ('replace' as const) : ('add' as const));
      const operations = values.map(([attribute, value]) => ({ op: op(attribute), path: `/${attribute}`, value }));
      await ims.updateImage(id, operations, signal);
    } else {
      // Not listed yet (IMS may list a new image late): each attribute on its own, `replace` first
      // and `add` when IMS says the image has none, as the Terraform provider does.
      for (const [attribute, value] of values) {
        const path = `/${attribute}`;
        await ims.updateImage(id, [{ op: 'replace', path, value }], signal).catch(async (error: unknown) => {
          if (!(error instanceof ImsError && error.code === ATTRIBUTE_CONFLICT)) throw error;
          await ims.updateImage(id, [{ op: 'add', path, value }], signal);
        });
      }
    }
    if (fields.includes('tags') || fields.includes('ownership')) {
      const current = await ims.listImageTags(id, this.options.abort);
      // The attempt tag an image carries names the attempt that made it: kept as it is.
      const attempt = current.find((tag) => tag.key === ATTEMPT_TAG) ?? ownershipTags(key, recorded.attemptId)[1]!;
      const desired = [...specTags(spec), { key: KEY_TAG, value: key }, attempt];
      const same = (a: ImageTag) => (b: ImageTag) => a.key === b.key && a.value === b.value;
      const stale = current.filter((tag) => !desired.some(same(tag)));
      const added = desired.filter((tag) => !current.some(same(tag)));
      if (stale.length > 0) await ims.changeImageTags(id, 'delete', stale, this.options.abort);
      if (added.length > 0) await ims.changeImageTags(id, 'create', added, this.options.abort);
    }
    await recorder.record(key, updatedRecord(recorded, spec, this.now(), this.options.revision));
    this.counts.updated++;
    this.emitAt(key, { type: 'update.succeeded', imageId: id, fields });
  }

  /** Deletes the image a finished replacement superseded. */
  private async deleteSuperseded(key: string, record: SucceededRecord): Promise<void> {
    try {
      if (record.supersedes !== undefined) await this.deleteImage(key, record.supersedes);
    } catch (error) {
      // No longer tagged as imsync's: said once, and no longer the record's to delete.
      if (error instanceof ImsError && error.code === 'NOT_OWNED') {
        await this.deps.recorder.record(key, replacedRecord(record, this.now()));
      }
      throw error;
    }
    await this.deps.recorder.record(key, replacedRecord(record, this.now()));
  }

  /** Deletes an orphan's image, if it has one, and forgets the orphan. */
  private async deleteOrphan(key: string): Promise<void> {
    const imageId = this.deps.recorder.get(key)?.imageId;
    if (imageId !== undefined) await this.deleteImage(key, imageId);
    await this.deps.recorder.record(key, null);
  }

  /**
   * Deletes an image that carries this key's ownership tag (asked of the tag API: lists may not
   * show tags), then waits until it is gone: IMS deletes asynchronously.
   */
  private async deleteImage(key: string, imageId: string): Promise<void> {
    const { ims } = this.deps;
    const signal = this.options.abort;
    // The per-image tag API knows an image at once (a list may show it late) and its tags as they are.
    const tags = await ims.listImageTags(imageId, signal).catch((error: unknown) => {
      if (error instanceof ImsError && error.code === UNKNOWN_ID) return undefined; // already gone
      throw error;
    });
    if (tags !== undefined) {
      if (!tags.some((tag) => tag.key === KEY_TAG && tag.value === key)) {
        throw new ImsError(
          `image ${imageId} does not carry the tag ${KEY_TAG}=${key}; imsync leaves it alone`,
          'NOT_OWNED',
          'never',
        );
      }
      await ims.deleteImage(imageId, signal);
      const deadline = this.deps.clock.now() + this.options.deleteTimeoutMs;
      let interval = this.options.pollMinMs;
      for (;;) {
        const image = await ims.getImage(imageId, signal);
        if (image === undefined || image.status === 'deleted') break;
        if (this.deps.clock.now() >= deadline) {
          throw new ImsError(
            `image ${imageId} is still listed ${this.options.deleteTimeoutMs / 1000}s after its deletion; the next apply checks again`,
            'DELETE_PENDING',
            'safe',
          );
        }
        await this.deps.clock.sleep(interval, this.options.stop);
        interval = Math.min(this.options.pollMaxMs, Math.round(interval * 1.5));
      }
    }
    this.counts.deleted++;
    this.emitAt(key, { type: 'delete.succeeded', imageId });
  }

  /** Runs an update or delete; its failure is reported and counted, and the rest carries on. */
  private async guard(key: string, action: 'update' | 'delete', run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (error) {
      if (this.options.stop.aborted && !(error instanceof ImsError)) return; // stopped while waiting
      if (!(error instanceof ImsError)) throw error;
      this.counts.failed++;
      this.emitAt(key, { type: 'action.failed', action, code: error.code, reason: error.message });
    }
  }

  private now(): Date {
    return new Date(this.deps.clock.now());
  }

  private emitNow(event: DistributiveOmit<ApplyEvent, 'time'>): void {
    this.deps.emit({ ...event, time: this.now().toISOString() });
  }

  private emitAt(key: string, event: Event): void {
    this.deps.emit({ ...event, key, time: this.now().toISOString() } as ApplyEvent);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** One import attempt to make: what to send, where, and what the record keeps of it. */
interface Submission {
  readonly spec: ImageSpec;
  readonly region?: string;
  /** A replacement that leaves the image it replaces alone. */
  readonly keepOld: boolean;
  /** The image file as the pre-flight checked it. */
  readonly source?: SourceObject;
}

function submission(from: {
  readonly manifest: { readonly spec: ImageSpec };
  readonly region?: string;
  readonly source?: SourceObject;
}): Submission {
  return {
    spec: from.manifest.spec,
    keepOld: false,
    ...(from.region === undefined ? {} : { region: from.region }),
    ...(from.source === undefined ? {} : { source: from.source }),
  };
}
