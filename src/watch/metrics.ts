// The daemon's Prometheus metrics (GET /metrics), in one registry of its own.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ApplyEvent } from '../apply/events.js';
import type { Phase } from '../state/model.js';
import type { Revision } from '../source/git.js';
import type { StoreStats } from '../state/store.js';

export type ReconcileResult = 'applied' | 'invalid' | 'interrupted' | 'error';

export type NotificationResult = 'delivered' | 'retried' | 'rejected' | 'expired' | 'unsent';

export interface MetricSources {
  /** Records by phase, read at each scrape. */
  readonly phases: () => Readonly<Record<Phase, number>>;
  readonly stateStats: () => StoreStats;
  /** Whether this replica leads (holds the state's lock) or stands by. */
  readonly leading: () => boolean;
  /** The source's commit last applied (a git source). */
  readonly revision: () => Revision | undefined;
}

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(sources: MetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const reconciles = new Counter({
    name: 'imsync_reconciles_total',
    help: 'Reconciles by result: applied, invalid (manifests with errors: nothing sent), interrupted, error.',
    labelNames: ['result'] as const,
    registers,
  });
  const reconcileSeconds = new Histogram({
    name: 'imsync_reconcile_duration_seconds',
    help: 'Time from reading the manifests to the end of a reconcile, following its jobs included.',
    buckets: [0.05, 0.25, 1, 5, 15, 60, 300, 1800],
    registers,
  });
  new Gauge({
    name: 'imsync_images',
    help: 'Recorded images by phase.',
    labelNames: ['phase'] as const,
    registers,
    collect() {
      for (const [phase, count] of Object.entries(sources.phases())) this.set({ phase }, count);
    },
  });
  new Gauge({
    name: 'imsync_leader',
    help: '1 while this replica leads (holds the state lock and reconciles), 0 while it stands by.',
    registers,
    collect() {
      this.set(sources.leading() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'imsync_jobs_in_flight',
    help: 'Imports submitted or awaiting settlement whose job has not ended.',
    registers,
    collect() {
      const phases = sources.phases();
      this.set(phases.submitting + phases.submitted);
    },
  });
  new Gauge({
    name: 'imsync_source_revision_info',
    help: 'The commit of the git source last applied: 1, with the repository, the ref and the commit as labels.',
    labelNames: ['url', 'ref', 'revision'] as const,
    registers,
    collect() {
      this.reset();
      const revision = sources.revision();
      if (revision) this.set({ url: revision.url, ref: revision.ref, revision: revision.commit }, 1);
    },
  });
  const sourceFetches = new Counter({
    name: 'imsync_source_fetches_total',
    help: 'Fetches of the git source by result: changed (a new commit), unchanged, failed.',
    labelNames: ['result'] as const,
    registers,
  });
  const apiRequests = new Counter({
    name: 'imsync_api_requests_total',
    help: 'IMS API requests by route and status (HTTP status, or the transport error code).',
    labelNames: ['route', 'status'] as const,
    registers,
  });
  const errors = new Counter({
    name: 'imsync_errors_total',
    help: 'Errors by code: failed imports (IMG codes), failed updates and deletes, failed reconciles.',
    labelNames: ['code'] as const,
    registers,
  });
  const jobPercent = new Gauge({
    name: 'imsync_job_progress_percent',
    help: 'Percent done of each running import job, by key, as the job progress API reports it.',
    labelNames: ['key'] as const,
    registers,
  });
  const notifications = new Counter({
    name: 'imsync_notifications_total',
    help: 'Notification posts by result: delivered, retried (an attempt that failed and is tried again), rejected (a 4xx: not sent again), expired (out of attempts or too old), unsent (left at shutdown).',
    labelNames: ['result'] as const,
    registers,
  });
  const notificationsDropped = new Counter({
    name: 'imsync_notifications_dropped_total',
    help: "Notifications dropped unsent because their receiver's queue was full (the oldest go first).",
    registers,
  });
  let counted = 0;
  new Counter({
    name: 'imsync_state_writes_total',
    help: 'State writes: journal appends and whole-file writes.',
    registers,
    collect() {
      const writes = sources.stateStats().writes;
      this.inc(writes - counted);
      counted = writes;
    },
  });
  return {
    registry,
    reconciled(result: ReconcileResult, seconds: number): void {
      reconciles.inc({ result });
      reconcileSeconds.observe(seconds);
    },
    sourceFetched(result: 'changed' | 'unchanged' | 'failed'): void {
      sourceFetches.inc({ result });
    },
    apiResponse(route: string, status: string): void {
      apiRequests.inc({ route, status });
    },
    error(code: string): void {
      errors.inc({ code });
    },
    notified(result: NotificationResult, count = 1): void {
      notifications.inc({ result }, count);
    },
    notificationDropped(): void {
      notificationsDropped.inc();
    },
    /** Counts what the executor reports as failed; follows each running job's percent. */
    event(event: ApplyEvent): void {
      if (event.type === 'import.failed' || event.type === 'action.failed') errors.inc({ code: event.code });
      if (event.type === 'job.progress' && event.percent !== undefined)
        jobPercent.set({ key: event.key }, event.percent);
      const ended = ['import.succeeded', 'import.failed', 'job.left-running'].includes(event.type);
      if (ended && 'key' in event) jobPercent.remove({ key: event.key });
    },
  };
}
