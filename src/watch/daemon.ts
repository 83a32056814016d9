// The reconcile loop of `imsync watch`. Level-based: a manifest change, the resync timer and
// SIGHUP all mean only "reconcile now", and each reconcile plans everything again. One reconcile
// runs at a time; a new reason to reconcile stops the current one from waiting for its jobs (they
// stay recorded and the next reconcile follows them), so edits are acted on while imports run.
// A state that could not be written fails the reconcile; the next one starts again from what the
// store holds, with a recorder of its own.
import { randomUUID } from 'node:crypto';
import type { ApplyEvent, ApplySummary } from '../apply/events.js';
import type { ImsApi } from '../apply/executor.js';
import type { Clock } from '../clock.js';
import type { PreflightCache } from '../state/model.js';
import { backoffDelay } from '../ims/backoff.js';
import { relative } from 'node:path';
import type { Diagnostic } from '../manifest/diagnostic.js';
import { loadManifests, type ReadFiles } from '../manifest/load.js';
import type { ManifestSource, Snapshot } from '../source/follow.js';
import type { Revision } from '../source/git.js';
import { reconcileOnce, type Planned, type PreflightStage } from '../reconcile/reconcile.js';
import { reconcileRegions, type RegionResult } from '../reconcile/regions.js';
import { mergeCaches } from '../preflight/preflight.js';
import type { RefreshApi } from '../refresh/observe.js';
import type { StateRecorder } from '../state/recorder.js';
import { encodeDrift } from '../plan/codec.js';
import { blockedEntries, type PlanAction, type PlanEntry } from '../plan/plan.js';
import type { Drift } from '../refresh/refresh.js';
import type { Metrics, ReconcileResult } from './metrics.js';

export const DRIFT_MESSAGES: Readonly<Record<Drift['kind'], string>> = {
  deleted: 'image deleted out of band',
  edited: 'image edited out of band',
  adopted: 'image found with this key and no record: adopted',
};

export type BlockedAction = Extract<PlanAction, 'replace-blocked' | 'keep-orphan' | 'hold-failed'>;

export const BLOCKED_MESSAGES: Readonly<Record<BlockedAction, string>> = {
  'replace-blocked': 'replacement needed but not allowed (--allow-replace); nothing is done',
  'keep-orphan': 'orphan: in no manifest any more; its image is kept (--prune deletes it)',
  'hold-failed':
    'failed import held: retried when its manifest changes, or at a resync once its backoff has passed (30 s, doubling with each failure, at most 1 h)',
};

/** What the daemon finds beyond its events, as it logs it: for notifications (src/watch/notify.ts). */
export type DaemonNotice =
  | { readonly type: 'drift'; readonly key: string; readonly drift: Drift }
  /** A blocked entry of the plan, told once, when it first appears. */
  | { readonly type: 'blocked'; readonly entry: PlanEntry }
  | { readonly type: 'reconciled'; readonly reconcile: LastReconcile };

export interface DaemonOptions {
  readonly source: ManifestSource;
  readonly region?: string;
  /** Time between full resyncs: a refresh from the cloud, and failed imports retried. */
  readonly intervalMs: number;
  readonly parallelism: number;
  readonly allowReplace: boolean;
  readonly prune: boolean;
  readonly maxPrune: number;
  readonly force: boolean;
  readonly settleGraceMs: number;
}

export interface DaemonDeps {
  readonly ims: ImsApi & RefreshApi;
  /** The state as read at start; replaced by a new one after a failed write. */
  readonly recorder: StateRecorder;
  readonly clock: Clock;
  readonly metrics: Metrics;
  /** Structured log lines: the daemon never prints. */
  readonly log: (level: 'info' | 'warn' | 'error', message: string, fields?: object) => void;
  /** Every event, with the source's commit it came from (a git source). */
  readonly onEvent: (event: ApplyEvent, revision?: Revision) => void;
  /** Drift, new blocked entries and each reconcile's end, with the source's commit. */
  readonly onNotice?: (notice: DaemonNotice, revision?: Revision) => void;
  /** Uniform in [0, 1): the jitter of resyncs and backoff (Math.random; a fixed one in tests). */
  readonly random: () => number;
  /** The checks of the image files before each import, or why there are none. */
  readonly preflight?: PreflightStage;
  /**
   * Several regions, each reconciled on its own IMS (or failing alone, with why): then `ims` and
   * `preflight` above are the default region's, and every region here is planned and carried out.
   */
  readonly regions?: readonly DaemonRegion[];
}

export type DaemonRegion =
  | { readonly region: string; readonly ims: ImsApi & RefreshApi; readonly preflight?: PreflightStage }
  | { readonly region: string; readonly error: Error };

export interface LastReconcile {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly result: ReconcileResult;
  readonly summary?: ApplySummary;
  readonly error?: string;
  /** The source's commit reconciled (a git source). */
  readonly revision?: Revision;
}

export class Daemon {
  /** Why the next reconcile runs; cleared when it starts. */
  private due = { reconcile: true, resync: true };
  /**
   * The files read by the last load, and the paths changed since: a change named by its paths
   * reads just those again. Anything else (a resync, SIGHUP, a new commit) reads every file.
   */
  private read: { readonly from: Snapshot; readonly files: ReadFiles } | undefined;
  private changed: Set<string> | undefined = new Set();
  private current: AbortController | undefined;
  private wake: (() => void) | undefined;
  private readonly stopped = new AbortController();
  private failures = 0;
  private completed = 0;
  /** A reconcile has sent all its work: ready, though its long jobs may run for an hour yet. */
  private dispatched = false;
  private recording: StateRecorder;
  /** Set while the last reconcile failed because the state could not be written. */
  private unwritable: string | undefined;
  lastReconcile: LastReconcile | undefined;
  diagnostics: readonly Diagnostic[] = [];
  /** The source's commit of the last reconcile that applied it (a git source). */
  applied: Revision | undefined;
  /** The last plan made, with what its refresh found. */
  lastPlan: Planned | undefined;
  /** The blocked entries of the last plan, as `action key`, and its pre-flight warnings, as `code key`. */
  private blocked = new Set<string>();
  /** What the pre-flight found fine lately. */
  private checked: PreflightCache | undefined;

  constructor(
    private readonly deps: DaemonDeps,
    private readonly options: DaemonOptions,
  ) {
    this.recording = deps.recorder;
  }

  /** The recorder reconciles use: the state as last read, and what they recorded since. */
  get recorder(): StateRecorder {
    return this.recording;
  }

  /**
   * True once a reconcile has sent its work (or completed), until shutdown, except while the
   * state cannot be written.
   */
  get ready(): boolean {
    return this.unready === undefined;
  }

  /** Why the daemon is not ready; undefined when it is. */
  get unready(): string | undefined {
    if (this.stopped.signal.aborted) return 'shutting down';
    if (this.unwritable !== undefined) return `the state cannot be written (${this.unwritable}); retrying`;
    if (this.completed === 0 && !this.dispatched) {
      const snapshot = this.options.source.snapshot();
      return 'missing' in snapshot ? snapshot.missing : 'the first reconcile has not sent its work yet';
    }
    return undefined;
  }

  get reconciling(): boolean {
    return this.current !== undefined;
  }

  /**
   * Something changed: reconcile as soon as the current reconcile lets go. `paths`, when the
   * change is known to touch only these files.
   */
  trigger(reason: string, resync = false, paths?: readonly string[]): void {
    this.due = { reconcile: true, resync: this.due.resync || resync };
    if (paths === undefined || resync) this.changed = undefined;
    else for (const path of paths) this.changed?.add(path);
    this.deps.log('info', 'reconcile requested', { reason });
    this.current?.abort(reason);
    this.wake?.();
  }

  /**
   * Runs reconciles until `stop`; resolves once the last one has saved its state, and rejects when
   * it could not be saved.
   */
  async run(): Promise<void> {
    const resyncing = new AbortController();
    const resyncs = this.resyncs(resyncing.signal);
    try {
      await this.loop();
    } finally {
      resyncing.abort('shutdown');
      await resyncs;
    }
    await this.recorder.flush();
  }

  private async loop(): Promise<void> {
    while (!this.stopped.signal.aborted) {
      const snapshot = this.options.source.snapshot();
      // Nothing to do, or nothing to do it with yet: the source triggers once it has a tree.
      if (!this.due.reconcile || 'missing' in snapshot) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      const resync = this.due.resync;
      this.due = { reconcile: false, resync: false };
      const ok = await this.reconcile(resync, snapshot);
      if (this.lastReconcile)
        this.deps.onNotice?.({ type: 'reconciled', reconcile: this.lastReconcile }, snapshot.revision);
      if (ok) {
        this.failures = 0;
      } else if (!this.stopped.signal.aborted) {
        // Jittered backoff, then try again: the cause may be passing (the API) or get fixed.
        const delay = backoffDelay(this.failures++, this.deps.random(), { baseMs: 1000, capMs: 60_000 });
        await this.deps.clock.sleep(delay, this.stopped.signal).catch(() => undefined);
        this.due = { reconcile: true, resync: this.due.resync || resync };
      }
    }
  }

  stop(): void {
    this.stopped.abort('shutdown');
    this.current?.abort('shutdown');
    this.wake?.();
  }

  /** The periodic resync, on the daemon's clock, until `signal` aborts. */
  private async resyncs(signal: AbortSignal): Promise<void> {
    for (;;) {
      // ±10% jitter, so that daemons started together do not resync together.
      const delay = this.options.intervalMs * (0.9 + this.deps.random() * 0.2);
      try {
        await this.deps.clock.sleep(delay, signal);
      } catch {
        return;
      }
      this.trigger('periodic resync', true);
    }
  }

  /** One reconcile; false when it failed and should be retried. */
  private async reconcile(resync: boolean, snapshot: Snapshot): Promise<boolean> {
    const { revision } = snapshot;
    const started = this.deps.clock.now();
    const interrupt = new AbortController();
    if (this.stopped.signal.aborted) interrupt.abort('shutdown');
    this.current = interrupt;
    let result: ReconcileResult = 'error';
    let summary: ApplySummary | undefined;
    let error: string | undefined;
    try {
      if (interrupt.signal.aborted) return true;
      if (this.recorder.failed !== undefined) {
        // What the failed recorder holds may not be durable: the store says what is.
        this.recording = await this.recording.reopen();
        this.deps.log('info', 'state read again after a failed write', { serial: this.recorder.state.serial });
      }
      const loaded = await this.load(snapshot, resync);
      this.diagnostics = loaded.diagnostics.map((d) => inRepository(d, snapshot.root));
      if (loaded.diagnostics.length > 0) {
        result = 'invalid';
        for (const d of this.diagnostics) {
          this.deps.log('warn', 'invalid manifest: nothing is applied until it is fixed', {
            ...d,
            ...(revision ? { revision: revision.commit } : {}),
          });
        }
        return true;
      }
      const region = this.options.region;
      const emit = (event: ApplyEvent) => {
        if (event.type === 'apply.dispatched') this.dispatched = true;
        this.deps.onEvent(event, revision);
      };
      const input = {
        manifests: loaded.manifests,
        ...(region === undefined ? {} : { region }),
        // A failed import is retried when its manifest changes or at a resync, not at every
        // reconcile: one that fails the same way would make a new job at every edit elsewhere.
        policy: { allowReplace: this.options.allowReplace, prune: this.options.prune, retryFailed: resync },
        // The cloud is looked at on resync; an edit is acted on at once against the state.
        refresh: resync ? ('refresh' as const) : ('skip' as const),
        graceMs: this.options.settleGraceMs,
        maxPrune: this.options.maxPrune,
        force: this.options.force,
        backoff: true,
      };
      const confirm = () => {
        // Interrupted before anything is carried out (the executor submits nothing once
        // stopped): the failed imports a resync retries are still owed by the next reconcile.
        if (resync && interrupt.signal.aborted) this.due = { ...this.due, resync: true };
        return Promise.resolve(true);
      };
      const executing = {
        parallelism: this.options.parallelism,
        settleGraceMs: this.options.settleGraceMs,
        pollMinMs: 1000,
        pollMaxMs: 15_000,
        deleteTimeoutMs: 10 * 60_000,
        stop: interrupt.signal,
        // Shutting down abandons requests in flight; the next start settles them by tag.
        abort: this.stopped.signal,
        ...(revision ? { revision: revision.commit } : {}),
      };
      const common = { recorder: this.recorder, clock: this.deps.clock, newAttemptId, emit };
      if (this.deps.regions) {
        const results = await reconcileRegions(
          this.deps.regions.map((each) => ({
            region: each.region,
            input: { ...input, region: each.region, ...(region === undefined ? {} : { defaultRegion: region }) },
            deps:
              'error' in each
                ? each.error
                : {
                    ...common,
                    ims: each.ims,
                    ...(each.preflight ? { preflight: this.withCache(each.preflight) } : {}),
                  },
          })),
          {
            planned: (planned) => {
              const merged = mergedPlans(planned);
              if (merged) this.onPlan(merged, revision);
            },
            confirm,
          },
          executing,
        );
        summary = totalSummary(results.flatMap((each) => (each.summary ? [each.summary] : [])));
        const failed = results.filter((each) => each.error !== undefined);
        if (failed.length > 0) {
          throw new Error(
            `${failed.length} of ${results.length} regions failed: ${failed.map((each) => `${each.region} (${each.error!.message})`).join('; ')}; the others were carried out`,
          );
        }
      } else {
        const reconciled = await reconcileOnce(
          {
            ...common,
            ims: this.deps.ims,
            ...(this.deps.preflight ? { preflight: this.withCache(this.deps.preflight) } : {}),
          },
          input,
          { planned: (planned) => this.onPlan(planned, revision), confirm },
          executing,
        );
        summary = reconciled.summary;
      }
      result = interrupt.signal.aborted ? 'interrupted' : 'applied';
      if (result === 'applied' && revision) this.applied = revision;
      return true;
    } catch (caught) {
      // Whatever of it still runs stops waiting and submitting: it can record nothing more.
      interrupt.abort('reconcile failed');
      error = caught instanceof Error ? caught.message : String(caught);
      this.deps.metrics.error((caught as { code?: string }).code ?? 'RECONCILE_FAILED');
      this.deps.log('error', 'reconcile failed; retrying with backoff', { error });
      return false;
    } finally {
      this.current = undefined;
      const finished = this.deps.clock.now();
      this.deps.metrics.reconciled(result, (finished - started) / 1000);
      if (result !== 'error') this.completed++;
      this.unwritable = result === 'error' ? this.recorder.failed?.message : undefined;
      this.lastReconcile = {
        startedAt: new Date(started).toISOString(),
        finishedAt: new Date(finished).toISOString(),
        result,
        ...(summary ? { summary } : {}),
        ...(error === undefined ? {} : { error }),
        ...(revision ? { revision } : {}),
      };
    }
  }

  /** The manifests of `snapshot`, reading again only the files changed since the last load when it can. */
  private async load(snapshot: Snapshot, resync: boolean) {
    const { read, changed } = this;
    this.changed = new Set();
    const reuse = !resync && changed && read?.from === snapshot ? { read: read.files, changed } : undefined;
    const loaded = await loadManifests(snapshot.paths, reuse).catch((error: unknown) => {
      this.changed = undefined; // what changed is not known any more: read everything next time
      throw error;
    });
    this.read = { from: snapshot, files: loaded.read };
    return loaded;
  }

  /** The pre-flight with what it found fine lately: the daemon keeps it, the state need not. */
  private withCache(stage: PreflightStage): PreflightStage {
    return 'skipped' in stage || this.checked === undefined ? stage : { ...stage, cache: this.checked };
  }

  private onPlan(planned: Planned, revision: Revision | undefined): void {
    this.lastPlan = planned;
    if (planned.preflightCache) this.checked = planned.preflightCache;
    const report = planned.plan.preflight;
    for (const problem of report?.problems ?? []) {
      this.deps.log('error', `pre-flight: ${problem.reason}`, { key: problem.key ?? null, code: problem.code });
    }
    for (const warning of report?.warnings ?? []) {
      const id = `${warning.code} ${warning.key ?? ''}`;
      if (this.blocked.has(id)) continue;
      this.deps.log('warn', `pre-flight: ${warning.reason}`, { key: warning.key ?? null, code: warning.code });
    }
    if (planned.elsewhere.length > 0) {
      this.deps.log('info', 'changes in other regions are left for a daemon connected there', {
        regions: planned.elsewhere,
      });
    }
    for (const [key, drift] of planned.plan.refresh.drift) {
      this.deps.log('warn', DRIFT_MESSAGES[drift.kind], { key, ...encodeDrift(drift) });
      this.deps.metrics.error(`DRIFT_${drift.kind.toUpperCase()}`);
      this.deps.onNotice?.({ type: 'drift', key, drift }, revision);
    }
    // What stays undone is said once, when it first appears, not at every reconcile.
    const blocked = new Map(blockedEntries(planned.plan).map((entry) => [`${entry.action} ${entry.key}`, entry]));
    for (const [id, entry] of blocked) {
      if (this.blocked.has(id)) continue;
      const imageId = 'recorded' in entry ? entry.recorded.imageId : undefined;
      this.deps.log('warn', BLOCKED_MESSAGES[entry.action as BlockedAction], {
        key: entry.key,
        image_id: imageId ?? null,
      });
      this.deps.onNotice?.({ type: 'blocked', entry }, revision);
    }
    // A warning, too, is said once, when it first appears.
    this.blocked = new Set([
      ...blocked.keys(),
      ...(report?.warnings ?? []).map((warning) => `${warning.code} ${warning.key ?? ''}`),
    ]);
    if (planned.refusal !== undefined)
      this.deps.log('error', 'plan refused; nothing is applied', { reason: planned.refusal });
  }
}

const newAttemptId = () => randomUUID().replaceAll('-', '');

/** Several regions' plans as one, for the log, the notices and /status: their entries, refresh and pre-flight together. */
function mergedPlans(results: readonly RegionResult[]): Planned | undefined {
  const planned = results.flatMap((each) => (each.planned ? [each.planned] : []));
  const [first] = planned;
  if (first === undefined) return undefined;
  const refusals = planned.flatMap((each) => (each.refusal === undefined ? [] : [each.refusal]));
  const reports = planned.flatMap((each) => (each.plan.preflight ? [each.plan.preflight] : []));
  const caches = planned.flatMap((each) => (each.preflightCache ? [each.preflightCache] : []));
  const plan = {
    ...first.plan,
    entries: planned.flatMap((each) => each.plan.entries).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    refresh: {
      changes: new Map(planned.flatMap((each) => [...each.plan.refresh.changes])),
      drift: new Map(planned.flatMap((each) => [...each.plan.refresh.drift])),
      unadopted: planned.flatMap((each) => each.plan.refresh.unadopted),
    },
    ...(reports.length === 0
      ? {}
      : {
          preflight: {
            files: reports.reduce((sum, report) => sum + report.files, 0),
            cached: reports.reduce((sum, report) => sum + report.cached, 0),
            requests: reports.reduce((sum, report) => sum + report.requests, 0),
            problems: reports.flatMap((report) => report.problems),
            warnings: reports.flatMap((report) => report.warnings),
          },
        }),
  };
  return {
    plan,
    elsewhere: [],
    ...(refusals.length === 0 ? {} : { refusal: refusals.join('; ') }),
    ...(caches.length === 0 ? {} : { preflightCache: mergeCaches(caches) }),
  };
}

/** What several regions' executors did, added up. */
function totalSummary(summaries: readonly ApplySummary[]): ApplySummary | undefined {
  if (summaries.length === 0) return undefined;
  const sum = (field: Exclude<keyof ApplySummary, 'seconds'>) =>
    summaries.reduce((total, each) => total + each[field], 0);
  return {
    imported: sum('imported'),
    adopted: sum('adopted'),
    updated: sum('updated'),
    deleted: sum('deleted'),
    failed: sum('failed'),
    blocked: sum('blocked'),
    stillRunning: sum('stillRunning'),
    seconds: Math.max(...summaries.map((each) => each.seconds)),
    stateWrites: sum('stateWrites'),
    stateBytes: sum('stateBytes'),
  };
}

/** A diagnostic of a checked-out commit, its file named as in the repository. */
function inRepository(diagnostic: Diagnostic, root: string | undefined): Diagnostic {
  if (root === undefined || diagnostic.source === undefined) return diagnostic;
  return { ...diagnostic, source: { ...diagnostic.source, file: relative(root, diagnostic.source.file) } };
}
