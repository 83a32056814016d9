// The daemon's HTTP endpoints: /healthz (the process answers), /readyz (a reconcile has completed,
// the state can be written and the daemon is not shutting down; else 503 and why), /metrics
// (Prometheus text), /status (JSON), / (the status page: page.ts) and /events (its live updates: live.ts).
//
// Only its own names are answered: a web page whose name was made to resolve to the daemon (DNS
// rebinding) sends that name as Host and reads nothing. Its own are IP addresses (a page can only
// reach one under the address itself, so probes and scrapes by pod IP work), localhost, the listen
// host and --allowed-host names. Connections are bounded in number and in idle time.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import { isIP, type AddressInfo } from 'node:net';
import { formatLocation } from '../manifest/diagnostic.js';
import { encodeDrift } from '../plan/codec.js';
import type { PlanEntry } from '../plan/plan.js';
import type { Planned } from '../reconcile/reconcile.js';
import type { Daemon } from './daemon.js';
import type { Revision } from '../source/git.js';
import { describeHolder } from '../state/store.js';
import { Standby } from './standby.js';
import type { Metrics } from './metrics.js';
import type { SourceFollower } from '../source/follow.js';
import type { GitSetting } from '../source/git.js';
import { EventStreams, type LiveView } from './live.js';
import { statusPage } from './page.js';
import type { LeaderStatus, SourceStatus, StandbyStatus, StatusDocument } from './status-document.js';

/** Where the manifests come from, as /status tells it. */
export type SourceView =
  | { readonly kind: 'directory'; readonly paths: readonly string[] }
  | {
      readonly kind: 'git';
      readonly setting: GitSetting;
      /** Once this replica leads. */
      readonly follower: () => SourceFollower | undefined;
    };

export interface StatusSources {
  /** The daemon once this replica leads; its standby while another daemon does. */
  readonly role: () => Daemon | Standby;
  readonly metrics: Metrics;
  readonly source: SourceView;
  readonly stateLocation: string;
  /** Each attempt's progress, and when the status changed: what the status page shows live. */
  readonly live: LiveView;
  /** POST /hooks/git: judges a push notification by its signature (with --webhook-secret-file). */
  readonly gitHook?: (headers: IncomingHttpHeaders, body: Buffer) => { status: number; text: string };
}

/** A push notification is a few kilobytes; GitHub's largest are 25 MB, and none is needed whole. */
const MAX_HOOK_BODY = 1024 * 1024;

export interface ServerLimits {
  /** Connections open at once; more are closed as they come. */
  readonly maxConnections: number;
  /** A connection that sends nothing for this long (before a request, or after an answer) is closed. */
  readonly idleMs: number;
  /** A request must have arrived whole within this. */
  readonly requestMs: number;
  /** Of maxConnections, how many may be status pages' event streams (GET /events), each held open. */
  readonly maxStreams: number;
}

/** Probes and scrapers are a few clients, each answered at once; a few people watch the page. */
export const DEFAULT_LIMITS: ServerLimits = { maxConnections: 64, idleMs: 10_000, requestMs: 10_000, maxStreams: 16 };

export interface ServerOptions {
  /** Host names answered besides IP addresses, localhost and the listen host (--allowed-host). */
  readonly allowedHosts?: readonly string[];
  readonly limits?: ServerLimits;
}

/** Listens on host:port and resolves with the address actually bound. */
export async function startStatusServer(
  host: string,
  port: number,
  sources: StatusSources,
  { allowedHosts = [], limits = DEFAULT_LIMITS }: ServerOptions = {},
): Promise<{ server: Server; address: string }> {
  const options = {
    // Node's default, said here: enough for a browser's cookies for localhost, and bounded.
    maxHeaderSize: 16 * 1024,
    headersTimeout: limits.requestMs,
    requestTimeout: limits.requestMs,
    keepAliveTimeout: limits.idleMs,
    connectionsCheckingInterval: Math.min(1000, limits.requestMs),
  };
  const document = (): StatusDocument => {
    const role = sources.role();
    return role instanceof Standby ? standbyStatus(role, sources) : status(role, sources);
  };
  const streams = new EventStreams(document, { maxStreams: limits.maxStreams, heartbeatMs: 15_000, coalesceMs: 250 });
  const server = createServer(options, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const reply = (status: number, type: string, body: string) => {
      res
        .writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
        .end(body);
    };
    // A push notification comes from the forge, under the daemon's public name: its signature,
    // not its Host, says whether it is to be heeded.
    if (path === '/hooks/git') return void gitHook(req, sources, reply);
    if (!servesHost(req.headers.host, host, allowedHosts)) {
      const name = JSON.stringify(req.headers.host ?? '');
      return reply(
        403,
        'text/plain',
        `host ${name} is not this daemon's: ask for its IP address or localhost, or start it with --allowed-host NAME\n`,
      );
    }
    if (req.method !== 'GET') return reply(405, 'text/plain', 'method not allowed\n');
    switch (path) {
      case '/healthz':
        return reply(200, 'text/plain', 'ok\n');
      case '/readyz': {
        const role = sources.role();
        // Ready: a standby is as it should be, and a rollout waits for no replica to lead.
        if (role instanceof Standby) return reply(200, 'text/plain', `standby: ${leaderOf(role)} leads\n`);
        const unready = role.unready;
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
        return reply(200, 'application/json', `${JSON.stringify(document(), null, 2)}\n`);
      case '/': {
        const query = (req.url ?? '/').slice(path.length + 1);
        const page = statusPage(document(), query, randomBytes(16).toString('base64'), Date.now());
        res
          .writeHead(page.status, { ...page.headers, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
          .end(page.body);
        return;
      }
      case '/events':
        return streams.serve(req, res);
      default:
        return reply(404, 'text/plain', 'not found: try /, /healthz, /readyz, /metrics or /status\n');
    }
  });
  server.once(
    'close',
    sources.live.onChange(() => streams.changed()),
  );
  server.maxConnections = limits.maxConnections;
  // A connection that never sends a request is not timed by the parser: the socket's own timeout closes it.
  server.timeout = limits.idleMs;
  server.listen(port, host);
  await once(server, 'listening');
  const bound = server.address() as AddressInfo;
  return { server, address: `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` };
}

/** POST /hooks/git: 202 and a fetch at once for a request signed with the secret; else 401. */
async function gitHook(
  req: IncomingMessage,
  sources: StatusSources,
  reply: (status: number, type: string, body: string) => void,
): Promise<void> {
  if (!sources.gitHook) {
    return reply(404, 'text/plain', 'no webhook here: start imsync watch with --git and --webhook-secret-file\n');
  }
  if (req.method !== 'POST') return reply(405, 'text/plain', 'method not allowed: POST a push notification\n');
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_HOOK_BODY) {
        reply(413, 'text/plain', `a notification of at most ${MAX_HOOK_BODY} bytes\n`);
        // The rest is read and dropped, within the request timeout.
        return void req.resume();
      }
      chunks.push(chunk);
    }
  } catch {
    return; // the client went away, or the request timed out: nobody to answer
  }
  const { status, text } = sources.gitHook(req.headers, Buffer.concat(chunks));
  reply(status, 'text/plain', `${text}\n`);
}

/**
 * Whether a request's Host header (`name`, `name:port`, `[v6]:port`) names this daemon: an IP
 * address, localhost, the listen host, or one of `allowedHosts` (case and a final dot aside).
 */
export function servesHost(header: string | undefined, listenHost: string, allowedHosts: readonly string[]): boolean {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::\d+)?$/.exec(header ?? '');
  if (!match) return false;
  if (match[1] !== undefined) return isIP(match[1]) === 6;
  const name = canonicalHost(match[2]!);
  if (isIP(name) !== 0 || name === 'localhost') return true;
  return [listenHost, ...allowedHosts].some((allowed) => canonicalHost(allowed) === name);
}

function canonicalHost(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function leaderOf(standby: Standby): string {
  return standby.leader ? describeHolder(standby.leader) : 'another daemon';
}

/** /status of a standby: who leads; the images are the leader's to tell. */
function standbyStatus(standby: Standby, sources: StatusSources): StandbyStatus {
  const { leader } = standby;
  return {
    role: 'standby',
    ready: true,
    leader: leader
      ? { host: leader.host, pid: leader.pid, command: leader.command, since: leader.since, lock_id: leader.id }
      : null,
    source: sourceStatus(sources.source),
    state: sources.stateLocation,
  };
}

/** The documented /status document (README, "watch"). */
function status(daemon: Daemon, sources: StatusSources): LeaderStatus {
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
          revision: record.revision ?? null,
          created_at: record.createdAt,
          updated_at: record.updatedAt,
          ...sources.live.of(key, record.attemptId),
        },
      ]),
  );
  return {
    role: 'leader',
    ready: daemon.ready,
    reconciling: daemon.reconciling,
    source: sourceStatus(sources.source, daemon.applied),
    state: sources.stateLocation,
    last_reconcile: last
      ? {
          started_at: last.startedAt,
          finished_at: last.finishedAt,
          result: last.result,
          error: last.error ?? null,
          revision: last.revision?.commit ?? null,
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

/** The directory watched, or the repository followed: what was fetched, and what applied. */
function sourceStatus(view: SourceView, applied?: Revision): SourceStatus {
  if (view.kind === 'directory') return { kind: 'directory', paths: view.paths };
  const follower = view.follower();
  return {
    kind: 'git',
    url: view.setting.source.url,
    ref: view.setting.source.ref,
    path: view.setting.path,
    interval_seconds: view.setting.intervalMs / 1000,
    fetched_revision: follower?.current?.commit ?? null,
    applied_revision: applied?.commit ?? null,
    last_fetch_at: follower?.lastFetchAt ?? null,
    fetch_error: follower?.failure?.error ?? null,
  };
}

/** What the last plan found and left: drift, blocked replacements, orphans, held failures. */
function planStatus(
  planned: Planned | undefined,
): Pick<LeaderStatus, 'drift' | 'blocked_replacements' | 'orphans' | 'held_failures' | 'refused'> {
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
