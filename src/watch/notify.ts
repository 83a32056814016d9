// Notifications of `imsync watch --notify URL`: what an operator wants to be told, posted as JSON
// (or as a Slack message) to each URL. What to send is decided by a pure function
// (notificationFor); an Outbox per URL posts it in the background, in order, retrying with
// backoff, so that a receiver slow or down never holds up a reconcile: when one falls too far
// behind, its oldest notifications are dropped, and counted.
//
// Posts follow Standard Webhooks (https://www.standardwebhooks.com), the scheme GitLab's signing
// token uses: `webhook-id` (the same on every attempt, for a receiver to drop duplicates),
// `webhook-timestamp` and, with a secret, `webhook-signature: v1,<base64 HMAC-SHA256 of
// id.timestamp.body>`, so that a receiver can refuse a replayed or forged post.
import { Agent } from 'undici';
import type { ApplyEvent } from '../apply/events.js';
import type { Clock } from '../clock.js';
import { backoffDelay, type BackoffPolicy } from '../ims/backoff.js';
import { classifyTransportError } from '../ims/errors.js';
import type { Drift } from '../refresh/refresh.js';
import type { Revision } from '../source/git.js';
import { standardSignature, type WebhookSecret } from '../source/webhook.js';
import type { LockHolder } from '../state/store.js';
import { printable } from '../text.js';
import { BLOCKED_MESSAGES, DRIFT_MESSAGES, type DaemonNotice } from './daemon.js';
import type { Metrics } from './metrics.js';

export type NotifyFormat = 'json' | 'slack';

export interface NotifyTarget {
  /** Where to post, without its user part. */
  readonly url: URL;
  readonly format: NotifyFormat;
  /** Basic authentication from the URL's user part, when it had one. */
  readonly authorization?: string;
  /** How logs name it: its origin, as a webhook URL's path or query is often its secret (Slack's is). */
  readonly label: string;
}

/** A `--notify` value that is not a URL to post to; the message never quotes the URL. */
export class NotifyTargetError extends Error {
  override readonly name = 'NotifyTargetError';
}

const SLACK_PREFIX = 'slack+';

/** `--notify` values: `URL` is posted JSON, `slack+URL` a Slack message. */
export function parseNotifyTargets(values: readonly string[]): NotifyTarget[] {
  const parsed = values.map((value, index) => {
    const refuse = (problem: string) => new NotifyTargetError(`--notify #${index + 1} ${problem}`);
    const slack = value.startsWith(SLACK_PREFIX);
    let url: URL;
    try {
      url = new URL(slack ? value.slice(SLACK_PREFIX.length) : value);
    } catch {
      throw refuse('is not a URL: give https://HOST/PATH, or slack+https://HOST/PATH for a Slack webhook');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw refuse(`is a ${url.protocol} URL: only http:// and https:// URLs are posted to`);
    }
    const { username, password } = url;
    let credentials: string;
    try {
      credentials = `${decodeURIComponent(username)}:${decodeURIComponent(password)}`;
    } catch {
      throw refuse('has a user part with a % not followed by two hex digits');
    }
    url.username = url.password = url.hash = '';
    const format: NotifyFormat = slack ? 'slack' : 'json';
    return {
      url,
      format,
      ...(username || password ? { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` } : {}),
    };
  });
  // Two URLs of one origin are told apart by their place among the flags.
  const shared = (origin: string) => parsed.filter((target) => target.url.origin === origin).length > 1;
  return parsed.map((target, index) => ({
    ...target,
    label: shared(target.url.origin) ? `${target.url.origin} (#${index + 1})` : target.url.origin,
  }));
}

// ---------------------------------------------------------------------------------------------
// What is sent.

/** Reconciles that fail in a row before `reconcile.failing` is sent. */
export const FAILING_AFTER = 3;

/** What the daemon (its events, its notices) and its leadership tell the notifier. */
export type Happening =
  | { readonly kind: 'event'; readonly event: ApplyEvent; readonly revision?: Revision | undefined }
  | { readonly kind: 'notice'; readonly notice: DaemonNotice; readonly revision?: Revision | undefined }
  /** The state's lock is taken: this daemon leads; `previous` is the leader a standby saw last. */
  | { readonly kind: 'leading'; readonly previous?: LockHolder | undefined }
  | { readonly kind: 'lost'; readonly reason: string; readonly revision?: Revision | undefined };

interface About {
  /** ISO time of what happened. */
  readonly time: string;
  /** The daemon's host name. */
  readonly host: string;
  /** The source's commit it came from (a git source); null when none is known. */
  readonly revision: string | null;
}

/** A notification's JSON body (documented in the README; fields are only ever added). */
export type Notification = About &
  (
    | {
        readonly type: 'import.succeeded';
        readonly key: string;
        readonly image_id: string;
        readonly job_id: string | null;
        readonly seconds: number;
      }
    | {
        readonly type: 'import.failed';
        readonly key: string;
        readonly job_id: string | null;
        readonly code: string;
        readonly reason: string;
      }
    | {
        readonly type: 'drift.found';
        readonly key: string;
        readonly kind: Drift['kind'];
        readonly image_id: string;
        /** The fields edited out of band; empty for the other kinds. */
        readonly fields: readonly string[];
      }
    | {
        readonly type: 'replace.blocked';
        readonly key: string;
        readonly image_id: string | null;
        /** The manifest's changes that need a new image. */
        readonly fields: readonly string[];
      }
    | { readonly type: 'reconcile.failing'; readonly failures: number; readonly since: string; readonly error: string }
    | { readonly type: 'reconcile.recovered'; readonly failures: number; readonly since: string }
    | { readonly type: 'leader.acquired'; readonly previous_leader: PreviousLeader | null }
    | { readonly type: 'leader.lost'; readonly reason: string }
  );

interface PreviousLeader {
  readonly host: string;
  readonly pid: number;
  readonly command: string;
  readonly since: string;
  readonly lock_id: string;
}

/** Reconciles failed in a row, since the first one started; `told` once reconcile.failing is sent. */
export interface Streak {
  readonly failures: number;
  readonly since?: string;
  readonly told: boolean;
}

export const NO_STREAK: Streak = { failures: 0, told: false };

export interface Decision {
  readonly streak: Streak;
  readonly notification?: Notification;
}

/**
 * What to send for `happening`, if anything, at `now` on `host`. Only ends of imports are sent
 * from the events: progress is for logs. Reconciles are counted in `streak`: the FAILING_AFTER-th
 * failure in a row is sent, and the first reconcile that does not fail after it; any result but
 * an error ends a streak, as it ends the daemon's backoff.
 */
export function notificationFor(happening: Happening, streak: Streak, host: string, now: number): Decision {
  const about = (time: string, revision?: Revision): About => ({ time, host, revision: revision?.commit ?? null });
  const at = new Date(now).toISOString();
  const send = (notification: Notification): Decision => ({ streak, notification });
  switch (happening.kind) {
    case 'event': {
      const { event, revision } = happening;
      if (event.type === 'import.succeeded') {
        const { key, imageId, jobId, seconds } = event;
        return send({
          type: event.type,
          ...about(event.time, revision),
          key,
          image_id: imageId,
          job_id: jobId ?? null,
          seconds,
        });
      }
      if (event.type === 'import.failed') {
        const { key, jobId, code, reason } = event;
        return send({ type: event.type, ...about(event.time, revision), key, job_id: jobId ?? null, code, reason });
      }
      return { streak };
    }
    case 'notice': {
      const { notice, revision } = happening;
      if (notice.type === 'drift') {
        const { key, drift } = notice;
        const fields = drift.kind === 'edited' ? drift.fields : [];
        return send({
          type: 'drift.found',
          ...about(at, revision),
          key,
          kind: drift.kind,
          image_id: drift.imageId,
          fields,
        });
      }
      if (notice.type === 'blocked') {
        const { entry } = notice;
        if (entry.action !== 'replace-blocked') return { streak };
        const fields = entry.changes.filter((change) => change.forcesReplacement).map((change) => change.field);
        return send({
          type: 'replace.blocked',
          ...about(at, revision),
          key: entry.key,
          image_id: entry.recorded.imageId ?? null,
          fields,
        });
      }
      const { result, startedAt, finishedAt, error } = notice.reconcile;
      if (result !== 'error') {
        if (!streak.told) return { streak: NO_STREAK };
        const { failures, since = startedAt } = streak;
        return {
          streak: NO_STREAK,
          notification: { type: 'reconcile.recovered', ...about(finishedAt, revision), failures, since },
        };
      }
      const failing = { failures: streak.failures + 1, since: streak.since ?? startedAt, told: streak.told };
      if (failing.told || failing.failures < FAILING_AFTER) return { streak: failing };
      return {
        streak: { ...failing, told: true },
        notification: {
          type: 'reconcile.failing',
          ...about(finishedAt, revision),
          failures: failing.failures,
          since: failing.since,
          error: error ?? 'unknown error',
        },
      };
    }
    case 'leading': {
      const { previous } = happening;
      const previous_leader = previous
        ? {
            host: previous.host,
            pid: previous.pid,
            command: previous.command,
            since: previous.since,
            lock_id: previous.id,
          }
        : null;
      return send({ type: 'leader.acquired', ...about(at), previous_leader });
    }
    case 'lost':
      return send({ type: 'leader.lost', ...about(at, happening.revision), reason: happening.reason });
  }
}

/** One line for people: the Slack message's text. */
export function summaryOf(notification: Notification): string {
  const who = `imsync on ${notification.host}`;
  const commit = notification.revision === null ? '' : ` (commit ${notification.revision.slice(0, 12)})`;
  const list = (fields: readonly string[]) => (fields.length === 0 ? '' : `: ${fields.join(', ')}`);
  switch (notification.type) {
    case 'import.succeeded': {
      const { key, image_id, seconds } = notification;
      return `${who}: ${key} imported, image ${image_id}, in ${Math.round(seconds)} s${commit}`;
    }
    case 'import.failed': {
      const { key, code, reason, job_id } = notification;
      return `${who}: import of ${key} failed: ${code} ${reason}${job_id === null ? '' : ` (job ${job_id})`}${commit}`;
    }
    case 'drift.found': {
      const { key, kind, image_id, fields } = notification;
      return `${who}: ${key}: ${DRIFT_MESSAGES[kind]} (image ${image_id}${list(fields)})${commit}`;
    }
    case 'replace.blocked': {
      const { key, fields } = notification;
      return `${who}: ${key}${list(fields)}: ${BLOCKED_MESSAGES['replace-blocked']}${commit}`;
    }
    case 'reconcile.failing': {
      const { failures, since, error } = notification;
      return `${who}: ${failures} reconciles in a row failed since ${since}, retrying with backoff: ${error}`;
    }
    case 'reconcile.recovered': {
      const { failures, since } = notification;
      return `${who}: reconciling again, after ${failures} failed reconciles since ${since}`;
    }
    case 'leader.acquired': {
      const previous = notification.previous_leader;
      const before =
        previous === null ? '' : `; ${previous.command} (pid ${previous.pid} on ${previous.host}) led before`;
      return `${who} leads now: the state lock is its own${before}`;
    }
    case 'leader.lost':
      return `${who} lost the state lock and stepped down: ${notification.reason}`;
  }
}

/** The body posted: the notification itself, or a Slack message of its summary. */
export function bodyFor(format: NotifyFormat, notification: Notification): string {
  if (format === 'json') return JSON.stringify(notification);
  // Slack reads &, < and > as markup: escaped, a text from IMS shows as it is and links nothing.
  const text = printable(summaryOf(notification)).replace(
    /[&<>]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!,
  );
  return JSON.stringify({ text });
}

/** The headers of one attempt: the id is the notification's, the timestamp and signature the attempt's. */
export function deliveryHeaders(
  body: string,
  id: string,
  now: number,
  secret: WebhookSecret | undefined,
): Record<string, string> {
  const timestamp = String(Math.floor(now / 1000));
  const signature = secret && `v1,${standardSignature(secret, id, timestamp, body).toString('base64')}`;
  return {
    'content-type': 'application/json',
    'user-agent': 'imsync',
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    ...(signature ? { 'webhook-signature': signature } : {}),
  };
}

/** What an answer means: 2xx delivered; 408, 429 and 5xx may pass, so tried again; any other is final. */
export function verdictOf(status: number): 'delivered' | 'retry' | 'rejected' {
  if (status >= 200 && status < 300) return 'delivered';
  return status === 408 || status === 429 || status >= 500 ? 'retry' : 'rejected';
}

// ---------------------------------------------------------------------------------------------
// How it is sent.

export interface Poster {
  /** Posts `body`; the answer's status, or a rejection with a reason safe to log when none came. */
  post(
    target: NotifyTarget,
    body: string,
    headers: Readonly<Record<string, string>>,
    signal: AbortSignal,
  ): Promise<number>;
}

export interface DeliveryOptions {
  /** Notifications waiting per URL; beyond it the oldest is dropped. */
  readonly capacity: number;
  /** Attempts per notification, the first included. */
  readonly maxAttempts: number;
  /** A notification not delivered this long after it was queued is given up. */
  readonly maxAgeMs: number;
  /** Between failed attempts to one URL. */
  readonly backoff: BackoffPolicy;
}

export const DEFAULT_DELIVERY: DeliveryOptions = {
  capacity: 1000,
  maxAttempts: 10,
  maxAgeMs: 60 * 60_000,
  backoff: { baseMs: 1000, capMs: 5 * 60_000 },
};

/** How long a shutdown waits for what is still queued. */
export const DRAIN_MS = 5000;

export interface NotifyDeps {
  readonly poster: Poster;
  readonly clock: Clock;
  /** Uniform in [0, 1): the backoff's jitter. */
  readonly random: () => number;
  /** A notification's `webhook-id`. */
  readonly newId: () => string;
  readonly host: string;
  readonly secret?: WebhookSecret;
  readonly log: (level: 'info' | 'warn' | 'error', message: string, fields?: object) => void;
  readonly metrics: Pick<Metrics, 'notified' | 'notificationDropped'>;
}

/** Decides what to send and hands it to an outbox per URL; never waits for a post. */
export class Notifier {
  private streak = NO_STREAK;
  private readonly outboxes: Outbox[];

  constructor(
    targets: readonly NotifyTarget[],
    private readonly deps: NotifyDeps,
    options: DeliveryOptions = DEFAULT_DELIVERY,
  ) {
    this.outboxes = targets.map((target) => new Outbox(target, deps, options));
  }

  tell(happening: Happening): void {
    const { streak, notification } = notificationFor(happening, this.streak, this.deps.host, this.deps.clock.now());
    this.streak = streak;
    if (notification) for (const outbox of this.outboxes) outbox.push(notification);
  }

  /**
   * Best effort at shutdown: what is queued gets one more attempt each, without backoff, for at
   * most `ms`; then posts in flight are abandoned, and what is left is counted as unsent.
   */
  async close(ms = DRAIN_MS): Promise<void> {
    for (const outbox of this.outboxes) outbox.drain();
    const timer = new AbortController();
    const drained = Promise.all(this.outboxes.map((outbox) => outbox.done));
    await Promise.race([drained, this.deps.clock.sleep(ms, timer.signal).catch(() => undefined)]);
    timer.abort();
    for (const outbox of this.outboxes) outbox.abandon();
    await drained;
  }
}

interface Pending {
  readonly id: string;
  readonly type: Notification['type'];
  readonly body: string;
  readonly queuedAt: number;
  attempts: number;
}

/** One URL's queue, posted in order by a loop of its own. */
class Outbox {
  private readonly queue: Pending[] = [];
  /** The notification being posted, or waiting for its next attempt. */
  private current: Pending | undefined;
  private wake: (() => void) | undefined;
  /** Failed attempts in a row: the backoff before the next. */
  private failures = 0;
  /** Set while the queue is full: a full queue is told once, not at every drop. */
  private full = false;
  private draining = false;
  /** Aborted to cut a backoff short: at shutdown. */
  private readonly hurry = new AbortController();
  private readonly abandoned = new AbortController();
  readonly done: Promise<void>;

  constructor(
    private readonly target: NotifyTarget,
    private readonly deps: NotifyDeps,
    private readonly options: DeliveryOptions,
  ) {
    this.done = this.run();
  }

  push(notification: Notification): void {
    if (this.draining) return;
    if (this.queue.length >= this.options.capacity) {
      this.queue.shift();
      this.deps.metrics.notificationDropped();
      if (!this.full) {
        this.deps.log('warn', 'notifications queue full: the oldest are dropped', {
          target: this.target.label,
          capacity: this.options.capacity,
        });
      }
      this.full = true;
    }
    this.queue.push({
      id: this.deps.newId(),
      type: notification.type,
      body: bodyFor(this.target.format, notification),
      queuedAt: this.deps.clock.now(),
      attempts: 0,
    });
    this.wake?.();
  }

  drain(): void {
    this.draining = true;
    this.hurry.abort();
    this.wake?.();
  }

  abandon(): void {
    this.abandoned.abort();
  }

  private async run(): Promise<void> {
    for (;;) {
      this.current ??= this.queue.shift();
      const pending = this.current;
      if (pending === undefined) {
        this.full = false;
        if (this.draining) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      const outcome = await this.attempt(pending);
      if (this.abandoned.signal.aborted) return this.unsent();
      if (outcome !== 'again') this.current = undefined;
      if (outcome === 'done') continue;
      const delay = backoffDelay(this.failures - 1, this.deps.random(), this.options.backoff);
      try {
        await this.deps.clock.sleep(delay, this.hurry.signal);
      } catch {
        // Shutting down: one last attempt at once.
      }
    }
  }

  /**
   * Posts `pending` once: `done` with it; to be tried `again` after the backoff; or given up
   * after a failure, the next one to `wait` for the backoff all the same (the URL still fails).
   */
  private async attempt(pending: Pending): Promise<'done' | 'again' | 'wait'> {
    const { clock, poster, metrics, log, secret } = this.deps;
    const target = this.target.label;
    const now = clock.now();
    if (now - pending.queuedAt >= this.options.maxAgeMs) {
      this.giveUp(pending, `not delivered within ${this.options.maxAgeMs / 60_000} min`);
      return 'done';
    }
    pending.attempts++;
    let problem: string;
    try {
      const headers = deliveryHeaders(pending.body, pending.id, now, secret);
      const status = await poster.post(this.target, pending.body, headers, this.abandoned.signal);
      const verdict = verdictOf(status);
      if (verdict === 'delivered') {
        metrics.notified('delivered');
        if (this.failures > 0) log('info', 'notifications delivered again', { target, failed_attempts: this.failures });
        this.failures = 0;
        return 'done';
      }
      if (verdict === 'rejected') {
        metrics.notified('rejected');
        log('warn', 'notification refused by its receiver; it is not sent again', {
          target,
          type: pending.type,
          status,
        });
        return 'done';
      }
      problem = `answered ${status}`;
    } catch (error) {
      if (this.abandoned.signal.aborted) return 'done';
      problem = error instanceof Error ? error.message : String(error);
    }
    if (this.failures++ === 0) log('warn', 'notifications failing; retrying with backoff', { target, error: problem });
    // Shutting down: no backoff, on to the next.
    if (this.draining) {
      metrics.notified('unsent');
      return 'done';
    }
    if (pending.attempts >= this.options.maxAttempts) {
      this.giveUp(pending, `${pending.attempts} attempts failed`);
      return 'wait';
    }
    metrics.notified('retried');
    return 'again';
  }

  private giveUp(pending: Pending, why: string): void {
    this.deps.metrics.notified('expired');
    this.deps.log('warn', `notification given up: ${why}`, { target: this.target.label, type: pending.type });
  }

  /** What shutdown left: counted, and told once. */
  private unsent(): void {
    const left = this.queue.length + (this.current ? 1 : 0);
    if (left === 0) return;
    this.deps.metrics.notified('unsent', left);
    this.deps.log('warn', 'notifications not sent before shutdown', { target: this.target.label, count: left });
  }
}

/** The ceiling of one post, from connecting to the answer's last byte. */
export const POST_TIMEOUT_MS = 10_000;

/** Posts with undici, each request whole within `timeoutMs`, as the IMS client's requests are. */
export function httpPoster(timeoutMs = POST_TIMEOUT_MS): Poster & { close(): Promise<void> } {
  // One deadline for the whole request: undici's own timeouts restart with every byte.
  const agent = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: 0, bodyTimeout: 0 });
  return {
    async post(target, body, headers, signal) {
      const deadline = AbortSignal.timeout(timeoutMs);
      try {
        const response = await agent.request({
          origin: target.url.origin,
          path: target.url.pathname + target.url.search,
          method: 'POST',
          headers: target.authorization ? { ...headers, authorization: target.authorization } : headers,
          body,
          signal: AbortSignal.any([signal, deadline]),
        });
        // The answer's body says nothing more; a receiver that stops sending it has answered all the same.
        await response.body.dump().catch(() => undefined);
        return response.statusCode;
      } catch (error) {
        // The code alone: an error's message may quote the URL.
        throw new Error(
          deadline.aborted
            ? `no answer within ${timeoutMs / 1000} s`
            : `no answer (${classifyTransportError(error).code})`,
          { cause: error },
        );
      }
    },
    close: () => agent.close(),
  };
}
