// The reconcile loop of `imsync watch`. Level-based: a manifest change, the resync timer and
// SIGHUP all mean only "reconcile now", and each reconcile plans everything again. One reconcile
// runs at a time; a new reason to reconcile stops the current one from waiting for its jobs (they
// stay recorded and the next reconcile follows them), so edits are acted on while imports run.
import { randomUUID } from 'node:crypto';
import type { ApplyEvent, ApplySummary } from '../apply/events.js';
import { executePlan, type ImsApi } from '../apply/executor.js';
import { KEY_TAG } from '../apply/ownership.js';
import type { Clock } from '../clock.js';
import { backoffDelay } from '../ims/backoff.js';
import type { Diagnostic } from '../manifest/diagnostic.js';
import { loadManifests } from '../manifest/load.js';
import { specHash } from '../manifest/spec.js';
import { forRegion, planChanges, type Plan } from '../plan/plan.js';
import { failedRecord } from '../state/model.js';
import type { StateRecorder } from '../state/recorder.js';
import type { Metrics, ReconcileResult } from './metrics.js';

export interface DaemonOptions {
  readonly paths: readonly string[];
  readonly region?: string;
  /** Time between full resyncs (which also look for imsync images deleted out of band). */
  readonly intervalMs: number;
  readonly parallelism: number;
  readonly allowReplace: boolean;
  readonly prune: boolean;
  readonly settleGraceMs: number;
}

export interface DaemonDeps {
  readonly ims: ImsApi;
  readonly recorder: StateRecorder;
  readonly clock: Clock;
  readonly metrics: Metrics;
  /** Structured log lines: the daemon never prints. */
  readonly log: (level: 'info' | 'warn' | 'error', message: string, fields?: object) => void;
  readonly onEvent: (event: ApplyEvent) => void;
}

export interface LastReconcile {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly result: ReconcileResult;
  readonly summary?: ApplySummary;
  readonly error?: string;
}

export class Daemon {
  /** Why the next reconcile runs; cleared when it starts. */
  private due = { reconcile: true, resync: true };
  private current: AbortController | undefined;
  private wake: (() => void) | undefined;
  private readonly stopped = new AbortController();
  private resyncTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private completed = 0;
  lastReconcile: LastReconcile | undefined;
  diagnostics: readonly Diagnostic[] = [];
  /** Keys recorded but in no manifest, as of the last plan. */
  orphans: readonly string[] = [];

  constructor(
    private readonly deps: DaemonDeps,
    private readonly options: DaemonOptions,
  ) {}

  /** True once a reconcile has completed, until shutdown. */
  get ready(): boolean {
    return this.completed > 0 && !this.stopped.signal.aborted;
  }

  get reconciling(): boolean {
    return this.current !== undefined;
  }

  /** Something changed: reconcile as soon as the current reconcile lets go. */
  trigger(reason: string, resync = false): void {
    this.due = { reconcile: true, resync: this.due.resync || resync };
    this.deps.log('info', 'reconcile requested', { reason });
    this.current?.abort(reason);
    this.wake?.();
  }

  /** Runs reconciles until `stop`; resolves once the last one has saved its state. */
  async run(): Promise<void> {
    this.scheduleResync();
    while (!this.stopped.signal.aborted) {
      if (!this.due.reconcile) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      const resync = this.due.resync;
      this.due = { reconcile: false, resync: false };
      const ok = await this.reconcile(resync);
      if (ok) {
        this.failures = 0;
      } else if (!this.stopped.signal.aborted) {
        // Jittered backoff, then try again: the cause may be passing (the API) or get fixed.
        const delay = backoffDelay(this.failures++, Math.random(), { baseMs: 1000, capMs: 60_000 });
        await this.deps.clock.sleep(delay, this.stopped.signal).catch(() => undefined);
        this.due = { reconcile: true, resync: this.due.resync || resync };
      }
    }
    clearTimeout(this.resyncTimer);
    await this.deps.recorder.flush();
  }

  stop(): void {
    this.stopped.abort('shutdown');
    this.current?.abort('shutdown');
    this.wake?.();
  }

  private scheduleResync(): void {
    // ±10% jitter, so that daemons started together do not resync together.
    const delay = this.options.intervalMs * (0.9 + Math.random() * 0.2);
    this.resyncTimer = setTimeout(() => {
      this.trigger('periodic resync', true);
      this.scheduleResync();
    }, delay);
    this.resyncTimer.unref();
  }

  /** One reconcile; false when it failed and should be retried. */
  private async reconcile(resync: boolean): Promise<boolean> {
    const started = this.deps.clock.now();
    const interrupt = new AbortController();
    if (this.stopped.signal.aborted) interrupt.abort('shutdown');
    this.current = interrupt;
    let result: ReconcileResult = 'error';
    let summary: ApplySummary | undefined;
    let error: string | undefined;
    try {
      if (interrupt.signal.aborted) return true;
      const loaded = await loadManifests(this.options.paths);
      this.diagnostics = loaded.diagnostics;
      if (loaded.diagnostics.length > 0) {
        result = 'invalid';
        for (const d of loaded.diagnostics)
          this.deps.log('warn', 'invalid manifest: nothing is applied until it is fixed', { ...d });
        return true;
      }
      if (resync) await this.findDeletedImages();
      const state = await this.flushedState();
      const region = this.options.region;
      const full = planChanges(loaded.manifests, state, region === undefined ? {} : { defaultRegion: region });
      const { plan, elsewhere } = forRegion(full, region);
      if (elsewhere.length > 0) {
        this.deps.log('info', 'changes in other regions are left for a daemon connected there', { regions: elsewhere });
      }
      this.orphans = plan.entries.filter((e) => e.action === 'orphan').map((e) => e.key);
      summary = await executePlan(
        resync ? plan : withoutUnchangedFailures(plan),
        {
          ims: this.deps.ims,
          recorder: this.deps.recorder,
          clock: this.deps.clock,
          newAttemptId: () => randomUUID().replaceAll('-', ''),
          emit: this.deps.onEvent,
        },
        {
          parallelism: this.options.parallelism,
          allowReplace: this.options.allowReplace,
          prune: this.options.prune,
          settleGraceMs: this.options.settleGraceMs,
          pollMinMs: 1000,
          pollMaxMs: 15_000,
          stop: interrupt.signal,
          // Shutting down abandons requests in flight; the next start settles them by tag.
          abort: this.stopped.signal,
        },
      );
      result = interrupt.signal.aborted ? 'interrupted' : 'applied';
      return true;
    } catch (caught) {
      error = caught instanceof Error ? caught.message : String(caught);
      this.deps.metrics.error((caught as { code?: string }).code ?? 'RECONCILE_FAILED');
      this.deps.log('error', 'reconcile failed; retrying with backoff', { error });
      return false;
    } finally {
      this.current = undefined;
      const finished = this.deps.clock.now();
      this.deps.metrics.reconciled(result, (finished - started) / 1000);
      if (result !== 'error') this.completed++;
      this.lastReconcile = {
        startedAt: new Date(started).toISOString(),
        finishedAt: new Date(finished).toISOString(),
        result,
        ...(summary ? { summary } : {}),
        ...(error === undefined ? {} : { error }),
      };
    }
  }

  private async flushedState() {
    await this.deps.recorder.flush();
    return this.deps.recorder.state;
  }

  /**
   * Marks imported images that are gone (deleted outside imsync) as failed, so that the plan
   * imports them again and says why.
   */
  private async findDeletedImages(): Promise<void> {
    const present = new Set<string>();
    for await (const image of this.deps.ims.listAllImages({ __imagetype: 'private' }, this.stopped.signal)) {
      if (image.tags.some((tag) => tag.startsWith(`${KEY_TAG}=`))) present.add(image.id);
    }
    const state = await this.flushedState();
    for (const [key, record] of Object.entries(state.images)) {
      if (record.phase !== 'succeeded' || record.imageId === undefined || present.has(record.imageId)) continue;
      const reason = `image ${record.imageId} was deleted outside imsync; it is imported again`;
      this.deps.log('warn', 'image deleted out of band', { key, image_id: record.imageId });
      this.deps.metrics.error('IMAGE_DELETED');
      await this.deps.recorder.record(
        key,
        failedRecord(record, { code: 'IMAGE_DELETED', reason }, new Date(this.deps.clock.now())),
      );
    }
  }
}

/**
 * A failed import is tried again when its manifest changes or at the periodic resync, not at every
 * reconcile: a manifest that fails the same way would otherwise make a new job at every edit of
 * any other manifest.
 */
function withoutUnchangedFailures(plan: Plan): Plan {
  const entries = plan.entries.filter(
    (entry) =>
      !(
        entry.action === 'import' &&
        entry.recorded?.phase === 'failed' &&
        entry.recorded.specHash === specHash(entry.manifest.spec)
      ),
  );
  return { ...plan, entries };
}
