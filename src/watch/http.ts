// The daemon's HTTP endpoints: /healthz (the process answers), /readyz (a reconcile has completed,
// the state can be written and the daemon is not shutting down; else 503 and why), /metrics
// (Prometheus text), /status (JSON).
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { formatLocation } from '../manifest/diagnostic.js';
import { encodeDrift } from '../plan/codec.js';
import type { PlanEntry } from '../plan/plan.js';
import type { Planned } from '../reconcile/reconcile.js';
import type { Daemon } from './daemon.js';
import type { Metrics } from './metrics.js';

export interface StatusSources {
  readonly daemon: Daemon;
  readonly metrics: Metrics;
  readonly paths: readonly string[];
  readonly stateLocation: string;
}

/** Listens on host:port and resolves with the address actually bound. */
export async function startStatusServer(
  host: string,
  port: number,
  sources: StatusSources,
): Promise<{ server: Server; address: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    };
    if (req.method !== 'GET') return reply(405, 'text/plain', 'method not allowed\n');
    switch (path) {
      case '/healthz':
        return reply(200, 'text/plain', 'ok\n');
      case '/readyz': {
        const unready = sources.daemon.unready;
        return unready === undefined
          ? reply(200, 'text/plain', 'ready\n')
          : reply(503, 'text/plain', `not ready: ${unready}\n`);
      }
      case '/metrics':
        void sources.metrics.registry.metrics().then(
          (text) => reply(200, sources.metrics.registry.contentType, text),
          (error: Error) => reply(500, 'text/plain', `${error.message}\n`),
        );
        return;
      case '/status':
        return reply(200, 'application/json', `${JSON.stringify(status(sources), null, 2)}\n`);
      default:
        return reply(404, 'text/plain', 'not found: try /healthz, /readyz, /metrics or /status\n');
    }
  });
  server.listen(port, host);
  await once(server, 'listening');
  const bound = server.address() as AddressInfo;
  return { server, address: `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` };
}

/** The documented /status document (README, "watch"). */
function status(sources: StatusSources): object {
  const { daemon } = sources;
  const last = daemon.lastReconcile;
  const images = Object.fromEntries(
    [...daemon.recorder.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, record]) => [
        key,
        {
          phase: record.phase,
          region: record.region ?? null,
          attempt_id: record.attemptId,
          job_id: record.jobId ?? null,
          job_status: record.phase === 'submitted' ? (record.jobStatus ?? null) : null,
          image_id: record.imageId ?? null,
          error: record.error ?? null,
          created_at: record.createdAt,
          updated_at: record.updatedAt,
        },
      ]),
  );
  return {
    ready: daemon.ready,
    reconciling: daemon.reconciling,
    watching: sources.paths,
    state: sources.stateLocation,
    last_reconcile: last
      ? {
          started_at: last.startedAt,
          finished_at: last.finishedAt,
          result: last.result,
          error: last.error ?? null,
          summary: last.summary
            ? {
                imported: last.summary.imported,
                adopted: last.summary.adopted,
                updated: last.summary.updated,
                deleted: last.summary.deleted,
                failed: last.summary.failed,
                blocked: last.summary.blocked,
                still_running: last.summary.stillRunning,
                seconds: last.summary.seconds,
              }
            : null,
        }
      : null,
    ...planStatus(daemon.lastPlan),
    diagnostics: daemon.diagnostics.map((d) => ({
      code: d.code,
      message: d.message,
      where: d.source ? formatLocation(d.source) : null,
    })),
    images,
  };
}

/** What the last plan found and left: drift, blocked replacements, orphans, held failures. */
function planStatus(planned: Planned | undefined): object {
  const entries = planned?.plan.entries ?? [];
  const keys = (...actions: PlanEntry['action'][]) =>
    entries.filter((entry) => actions.includes(entry.action)).map((entry) => entry.key);
  return {
    drift: Object.fromEntries(
      [...(planned?.plan.refresh.drift ?? [])].map(([key, drift]) => [key, encodeDrift(drift)]),
    ),
    blocked_replacements: keys('replace-blocked'),
    orphans: keys('keep-orphan', 'delete'),
    held_failures: keys('hold-failed'),
    refused: planned?.refusal ?? null,
  };
}
