// The executor: carries out a plan. Imports are submitted concurrently (at most `parallelism`
// requests in flight; waiting for a job holds no slot), each one durable as an intent before its
// POST and as a job id as soon as the answer comes; jobs are followed to SUCCESS or FAIL by
// listing imsync's images (one paginated list per round, not one query per job), and an answer
// that never came is settled by looking the attempt up by its tag: resubmitted only when the
// image is provably absent after a grace period (DESIGN.md §5). Failures are results.
import { setMaxListeners } from 'node:events';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Clock } from '../clock.js';
import { ImsError } from '../ims/errors.js';
import type { ImsClient } from '../ims/client.js';
import type { Image, Job } from '../ims/types.js';
import type { ImageSpec } from '../manifest/types.js';
import type { Plan, PlanEntry } from '../plan/plan.js';
import {
  failedRecord,
  foundRecord,
  intentRecord,
  progressRecord,
  replacedRecord,
  submittedRecord,
  succeededRecord,
  updatedRecord,
  type ImageRecord,
  type JobError,
} from '../state/model.js';
import type { StateRecorder } from '../state/recorder.js';
import type { ApplySummary, EmitEvent } from './events.js';
import { attemptFilter, attemptOf, importBody, ownedBy, userTags, ATTEMPT_TAG, KEY_TAG } from './ownership.js';

/** The IMS calls the executor makes; ImsClient has them all. */
export type ImsApi = Pick<
  ImsClient,
  | 'quickImport'
  | 'getJob'
  | 'listImages'
  | 'listAllImages'
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
}

export interface ExecutorOptions {
  /** Import requests in flight at once. */
  readonly parallelism: number;
  /** Carry out replacements (a new import, then the old image deleted). */
  readonly allowReplace: boolean;
  /** Delete the images of orphans. */
  readonly prune: boolean;
  /** How long an attempt whose answer never came may stay invisible before it counts as absent. */
  readonly settleGraceMs: number;
  /** Bounds of the adaptive interval between rounds of job following. */
  readonly pollMinMs: number;
  readonly pollMaxMs: number;
  /** Aborted: submit nothing more and stop waiting; running jobs stay recorded for the next run. */
  readonly stop: AbortSignal;
  /** Aborted: also abandon requests in flight (their outcome is settled next time). */
  readonly abort?: AbortSignal;
}

/** Private images per page when following by list. */
const PAGE = 500;

export async function executePlan(plan: Plan, deps: ExecutorDeps, options: ExecutorOptions): Promise<ApplySummary> {
  return new Run(deps, options).execute(plan);
}

class Run {
  private readonly limit: LimitFunction;
  private readonly started: number;
  /** Imports with a job (or a found image) being followed, by key, with when they were submitted. */
  private readonly following = new Map<string, number>();
  /** Imports whose answer never came, waiting to be found by their tag. */
  private readonly settling = new Set<string>();
  private submissions = 0;
  /** Orphans to prune once their running import has ended. */
  private readonly pruneWhenDone = new Set<string>();
  /** New attempts started while following: awaited before the run ends. */
  private readonly resubmissions: Promise<void>[] = [];
  private pages = 1;
  private readonly counts = { imported: 0, updated: 0, deleted: 0, failed: 0 };

  constructor(
    private readonly deps: ExecutorDeps,
    private readonly options: ExecutorOptions,
  ) {
    this.limit = pLimit(options.parallelism);
    // Every request in flight listens to these signals; hundreds at once are expected, not a leak.
    setMaxListeners(0, options.stop);
    if (options.abort) setMaxListeners(0, options.abort);
    this.started = deps.clock.now();
  }

  async execute(plan: Plan): Promise<ApplySummary> {
    const work: Promise<void>[] = [];
    let imports = 0;
    let updates = 0;
    let deletes = 0;
    /** Said after apply.started: what this run leaves alone. */
    const reports: (() => void)[] = [];
    for (const entry of plan.entries) {
      if (entry.action === 'import' || (entry.action === 'replace' && this.options.allowReplace)) {
        imports++;
        work.push(this.submit(entry.key, entry.manifest.spec, entry.region));
      } else if (entry.action === 'update') {
        updates++;
        work.push(this.guard(entry.key, 'update', () => this.update(entry)));
      } else if (entry.action === 'replace') {
        reports.push(() => this.emitAt(entry.key, { type: 'replace.skipped' }));
      } else if (entry.action === 'orphan') {
        const { recorded } = entry;
        const inFlight = recorded.phase === 'submitting' || recorded.phase === 'submitted';
        // An orphan's import still runs: follow it to its end first (and prune it then, if asked).
        if (inFlight) work.push(this.resume(entry.key, recorded));
        if (this.options.prune) {
          deletes++;
          if (inFlight) this.pruneWhenDone.add(entry.key);
          else work.push(this.guard(entry.key, 'delete', () => this.prune(entry.key, recorded)));
        } else {
          const { imageId } = recorded;
          reports.push(() =>
            this.emitAt(entry.key, { type: 'orphan.kept', ...(imageId === undefined ? {} : { imageId }) }),
          );
        }
      } else if (entry.action === 'in-progress') {
        work.push(this.resume(entry.key, entry.recorded));
      }
    }
    this.emitNow({
      type: 'apply.started',
      imports,
      updates,
      deletes,
      following: plan.entries.filter((e) => e.action === 'in-progress').length,
      parallelism: this.options.parallelism,
    });
    for (const report of reports) report();
    await Promise.all([...work, this.follow()]);
    await Promise.all(this.resubmissions);
    await this.deps.recorder.flush();
    const stillRunning = this.following.size + this.settling.size;
    if (this.options.stop.aborted)
      this.emitNow({ type: 'apply.interrupted', reason: String(this.options.stop.reason) });
    const written = this.deps.recorder.stats();
    const summary: ApplySummary = {
      ...this.counts,
      stillRunning,
      seconds: (this.deps.clock.now() - this.started) / 1000,
      stateWrites: written.writes,
      stateBytes: written.bytes,
    };
    this.emitNow({ type: 'apply.finished', summary });
    return summary;
  }

  /** Queues an import attempt; it waits for a submission slot. */
  private async submit(key: string, spec: ImageSpec, region: string | undefined): Promise<void> {
    this.submissions++;
    try {
      await this.limit(() => this.submitNow(key, spec, region));
    } finally {
      this.submissions--;
    }
  }

  private async submitNow(key: string, spec: ImageSpec, region: string | undefined): Promise<void> {
    if (this.options.stop.aborted) return; // never started: nothing recorded, the next plan has it
    const { recorder, ims } = this.deps;
    const attemptId = this.deps.newAttemptId();
    const intent = { spec, attemptId, ...(region === undefined ? {} : { region }) };
    await recorder.record(key, intentRecord(recorder.get(key), intent, this.now()));
    this.emitAt(key, { type: 'import.submitting', attemptId });
    let jobId: string;
    try {
      jobId = await ims.quickImport(importBody(spec, key, attemptId), this.options.abort);
    } catch (error) {
      if (this.options.abort?.aborted) return; // abandoned in flight: settled next time
      if (!(error instanceof ImsError)) throw error;
      if (error.retry === 'ambiguous') {
        this.emitAt(key, { type: 'import.ambiguous', attemptId, reason: error.message });
        this.settling.add(key);
        return;
      }
      // Refused, or provably never processed after every retry: a result, not an exception.
      await this.fail(key, { code: error.code, reason: error.message });
      return;
    }
    await recorder.record(key, submittedRecord(recorder.get(key)!, jobId, this.now()));
    this.following.set(key, this.deps.clock.now());
    this.emitAt(key, { type: 'import.submitted', jobId });
  }

  /** Picks up what an earlier run left: a job to follow, an attempt to settle, an image to delete. */
  private async resume(key: string, record: ImageRecord): Promise<void> {
    if (record.phase === 'submitting') this.settling.add(key);
    else if (record.phase === 'submitted') this.following.set(key, Date.parse(record.updatedAt));
    else if (record.supersedes !== undefined) await this.guard(key, 'delete', () => this.deleteSuperseded(key));
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
    const settled = await Promise.all([...this.settling].map((key) => this.settle(key)));
    const keys = [...this.following.keys()];
    if (keys.length === 0) return settled.some(Boolean);
    // One list of all private images costs `pages` requests; a job query costs one per import.
    const followed =
      keys.length > this.pages
        ? await this.followByList(keys)
        : await Promise.all(keys.map((key) => this.followJob(key)));
    return settled.some(Boolean) || followed.some(Boolean);
  }

  private async followByList(keys: readonly string[]): Promise<boolean[]> {
    const byAttempt = new Map<string, Image>();
    let count = 0;
    for await (const image of this.deps.ims.listAllImages(
      { __imagetype: 'private', limit: PAGE },
      this.options.abort,
    )) {
      count++;
      const attempt = attemptOf(image);
      if (attempt) byAttempt.set(attempt, image);
    }
    this.pages = Math.max(1, Math.ceil(count / PAGE));
    return Promise.all(
      keys.map((key) => {
        const image = byAttempt.get(this.deps.recorder.get(key)!.attemptId);
        // Not listed: ask the job itself (or the image was deleted under us).
        return image ? this.onImage(key, image) : this.followJob(key);
      }),
    );
  }

  private async followJob(key: string): Promise<boolean> {
    const record = this.deps.recorder.get(key)!;
    if (record.jobId === undefined) {
      const image =
        record.imageId === undefined ? undefined : await this.deps.ims.getImage(record.imageId, this.options.abort);
      if (image) return this.onImage(key, image);
      await this.fail(key, {
        code: 'IMAGE_NOT_FOUND',
        reason: `the image ${record.imageId ?? ''} of this import is gone`,
      });
      return true;
    }
    return this.onJob(key, await this.deps.ims.getJob(record.jobId, this.options.abort));
  }

  private async onJob(key: string, job: Job): Promise<boolean> {
    if (job.status === 'SUCCESS') {
      const imageId = job.imageId ?? (await this.findImage(key))?.id;
      if (imageId === undefined) return this.progress(key, job.status, job.jobId);
      await this.succeed(key, imageId);
      return true;
    }
    if (job.status === 'FAIL') {
      await this.fail(key, { code: job.errorCode ?? 'JOB_FAILED', reason: job.failReason ?? 'the import job failed' });
      return true;
    }
    return this.progress(key, job.status, job.jobId);
  }

  private async onImage(key: string, image: Image): Promise<boolean> {
    if (image.status === 'active') {
      await this.succeed(key, image.id);
      return true;
    }
    if (image.status === 'killed' || image.status === 'deleted') {
      const record = this.deps.recorder.get(key)!;
      // The job knows why; an import found by its tag has no job to ask.
      if (record.jobId !== undefined)
        return this.onJob(key, await this.deps.ims.getJob(record.jobId, this.options.abort));
      await this.fail(key, {
        code: 'IMAGE_KILLED',
        reason: `the image ${image.id} of this import ended ${image.status}`,
      });
      return true;
    }
    return this.progress(key, image.status, this.deps.recorder.get(key)!.jobId);
  }

  private async progress(key: string, status: string, jobId: string | undefined): Promise<boolean> {
    const record = this.deps.recorder.get(key)!;
    if (record.jobStatus === status) return false;
    await this.deps.recorder.record(key, progressRecord(record, status, this.now()));
    this.emitAt(key, { type: 'job.progress', status, ...(jobId === undefined ? {} : { jobId }) });
    return true;
  }

  /** Looks an unanswered attempt up by its tag: found, still possibly in transit, or provably absent. */
  private async settle(key: string): Promise<boolean> {
    const record = this.deps.recorder.get(key)!;
    const image = await this.findImage(key);
    if (image) {
      this.settling.delete(key);
      await this.deps.recorder.record(key, foundRecord(record, image.id, this.now()));
      this.following.set(key, Date.parse(record.updatedAt));
      this.emitAt(key, { type: 'import.settled', attemptId: record.attemptId, found: true });
      return true;
    }
    if (this.deps.clock.now() - Date.parse(record.updatedAt) < this.options.settleGraceMs) return false;
    this.settling.delete(key);
    this.emitAt(key, { type: 'import.settled', attemptId: record.attemptId, found: false });
    this.resubmissions.push(this.submit(key, record.spec, record.region));
    return true;
  }

  private async findImage(key: string): Promise<Image | undefined> {
    const tag = attemptFilter(this.deps.recorder.get(key)!.attemptId);
    const [image] = await this.deps.ims.listImages({ tag }, this.options.abort);
    return image;
  }

  private async succeed(key: string, imageId: string): Promise<void> {
    const record = this.deps.recorder.get(key)!;
    await this.deps.recorder.record(key, succeededRecord(record, imageId, this.now()));
    const since = this.following.get(key) ?? this.deps.clock.now();
    this.following.delete(key);
    this.counts.imported++;
    this.emitAt(key, {
      type: 'import.succeeded',
      imageId,
      ...(record.jobId === undefined ? {} : { jobId: record.jobId }),
      seconds: (this.deps.clock.now() - since) / 1000,
    });
    if (record.supersedes !== undefined) await this.guard(key, 'delete', () => this.deleteSuperseded(key));
    await this.pruneIfOrphan(key);
  }

  private async pruneIfOrphan(key: string): Promise<void> {
    if (!this.pruneWhenDone.delete(key)) return;
    await this.guard(key, 'delete', () => this.prune(key, this.deps.recorder.get(key)!));
  }

  private async fail(key: string, error: JobError): Promise<void> {
    const record = this.deps.recorder.get(key)!;
    await this.deps.recorder.record(key, failedRecord(record, error, this.now()));
    this.following.delete(key);
    this.counts.failed++;
    this.emitAt(key, {
      type: 'import.failed',
      code: error.code,
      reason: error.reason,
      ...(record.jobId === undefined ? {} : { jobId: record.jobId }),
    });
    await this.pruneIfOrphan(key);
  }

  /** Name, description (PATCH) and tags (the tag API) of an image imsync imported. */
  private async update(entry: Extract<PlanEntry, { action: 'update' }>): Promise<void> {
    const { ims, recorder } = this.deps;
    const image = await this.ownedImage(entry.key, entry.recorded.imageId);
    if (!image) return;
    const spec = entry.manifest.spec;
    const fields = entry.changes.map((change) => change.field);
    const operations = [
      ...(fields.includes('name') ? [{ op: 'replace' as const, path: '/name', value: spec.name }] : []),
      // `add` sets the attribute whether or not the image has one (`replace` of a missing one is IMG.0035).
      ...(fields.includes('description')
        ? [{ op: 'add' as const, path: '/__description', value: spec.description ?? '' }]
        : []),
    ];
    if (operations.length > 0) await ims.updateImage(image.id, operations, this.options.abort);
    if (fields.includes('tags')) {
      const current = (await ims.listImageTags(image.id, this.options.abort)).filter(
        (tag) => tag.key !== KEY_TAG && tag.key !== ATTEMPT_TAG,
      );
      const desired = userTags(spec);
      const same = (a: { key: string; value: string }) => (b: { key: string; value: string }) =>
        a.key === b.key && a.value === b.value;
      const stale = current.filter((tag) => !desired.some(same(tag)));
      const added = desired.filter((tag) => !current.some(same(tag)));
      if (stale.length > 0) await ims.changeImageTags(image.id, 'delete', stale, this.options.abort);
      if (added.length > 0) await ims.changeImageTags(image.id, 'create', added, this.options.abort);
    }
    await recorder.record(entry.key, updatedRecord(recorder.get(entry.key)!, spec, this.now()));
    this.counts.updated++;
    this.emitAt(entry.key, { type: 'update.succeeded', imageId: image.id, fields });
  }

  /** Deletes the image a finished replacement superseded. */
  private async deleteSuperseded(key: string): Promise<void> {
    const record = this.deps.recorder.get(key)!;
    const image = await this.ownedImage(key, record.supersedes);
    if (image) await this.deleteImage(key, image.id);
    await this.deps.recorder.record(key, replacedRecord(this.deps.recorder.get(key)!, this.now()));
  }

  /** Deletes an orphan's image, if imsync owns it, and forgets the orphan. */
  private async prune(key: string, record: ImageRecord): Promise<void> {
    const image = record.imageId === undefined ? undefined : await this.ownedImage(key, record.imageId);
    if (image) await this.deleteImage(key, image.id);
    await this.deps.recorder.record(key, null);
  }

  private async deleteImage(key: string, imageId: string): Promise<void> {
    await this.deps.ims.deleteImage(imageId, this.options.abort);
    this.counts.deleted++;
    this.emitAt(key, { type: 'delete.succeeded', imageId });
  }

  /** The image when it exists and carries this key's ownership tag; imsync changes nothing else. */
  private async ownedImage(key: string, imageId: string | undefined): Promise<Image | undefined> {
    const image = imageId === undefined ? undefined : await this.deps.ims.getImage(imageId, this.options.abort);
    if (image && !ownedBy(image, key)) {
      throw new ImsError(
        `image ${image.id} does not carry the tag ${KEY_TAG}=${key}; imsync leaves it alone`,
        'NOT_OWNED',
        'never',
      );
    }
    return image;
  }

  /** Runs an update or delete; its failure is reported and counted, and the rest carries on. */
  private async guard(key: string, action: 'update' | 'delete', run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (error) {
      if (!(error instanceof ImsError)) throw error;
      this.counts.failed++;
      this.emitAt(key, { type: 'action.failed', action, code: error.code, reason: error.message });
    }
  }

  private now(): Date {
    return new Date(this.deps.clock.now());
  }

  private emitNow(event: DistributiveOmit<Parameters<EmitEvent>[0], 'time'>): void {
    this.deps.emit({ ...event, time: this.now().toISOString() });
  }

  private emitAt(key: string, event: DistributiveOmit<Parameters<EmitEvent>[0], 'time' | 'key'>): void {
    this.deps.emit({ ...event, key, time: this.now().toISOString() } as Parameters<EmitEvent>[0]);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
