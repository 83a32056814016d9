// What the status page shows live: each attempt's progress as the daemon's events tell it (the
// state records neither a job's percent nor when this attempt started), and GET /events, the
// server-sent events that carry each change of the /status document to the open pages.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApplyEvent } from '../apply/events.js';
import type { ImageStatus, StatusDocument } from './status-document.js';

/** What the daemon saw of a key's current import attempt. */
export interface AttemptProgress {
  /** Unknown for a job submitted before this daemon started, and followed since. */
  readonly attemptId?: string;
  readonly startedAt?: string;
  readonly endedAt?: string;
  readonly percent?: number;
}

/** The attempt's progress after `event` (one of its key's). */
export function progressAfter(progress: AttemptProgress, event: ApplyEvent): AttemptProgress {
  switch (event.type) {
    case 'import.submitting':
      // Sent again after a wait for a slot or a lookup that found nothing: the same attempt.
      return progress.attemptId === event.attemptId ? progress : { attemptId: event.attemptId, startedAt: event.time };
    case 'job.progress':
      return event.percent === undefined ? progress : { ...progress, percent: event.percent };
    case 'import.succeeded':
      return { ...progress, percent: 100, endedAt: event.time };
    case 'import.failed':
      return { ...progress, endedAt: event.time };
    default:
      return progress;
  }
}

/** Fed every daemon event; tells its listeners whenever the status may have changed. */
export class LiveView {
  private readonly attempts = new Map<string, AttemptProgress>();
  private readonly listeners = new Set<() => void>();

  event(event: ApplyEvent): void {
    if ('key' in event) this.attempts.set(event.key, progressAfter(this.attempts.get(event.key) ?? {}, event));
    this.changed();
  }

  /** Something else changed: a reconcile ended, the source was fetched. */
  changed(): void {
    for (const listener of this.listeners) listener();
  }

  /** Returns the function that stops `listener` from being told. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The /status fields of `attemptId` of `key`: nulls when this daemon saw nothing of it. */
  of(
    key: string,
    attemptId: string,
  ): Pick<ImageStatus, 'progress_percent' | 'attempt_started_at' | 'attempt_ended_at'> {
    const seen = this.attempts.get(key);
    const progress = seen && (seen.attemptId ?? attemptId) === attemptId ? seen : {};
    return {
      progress_percent: progress.percent ?? null,
      attempt_started_at: progress.startedAt ?? null,
      attempt_ended_at: progress.endedAt ?? null,
    };
  }
}

export interface StreamOptions {
  /** Streams open at once; more are answered 503. */
  readonly maxStreams: number;
  /** A comment this often keeps proxies and the browser from taking a quiet stream for a dead one. */
  readonly heartbeatMs: number;
  /** Changes within this are sent as one event: a reconcile of many images makes many events. */
  readonly coalesceMs: number;
}

/** Answers from a stream that is this far behind are not queued any more: the page reconnects. */
const MAX_BUFFERED = 8 * 1024 * 1024;

/**
 * GET /events: `status` with the whole /status document when a stream opens, then `delta` at
 * each change: the document's other fields whole, and of `images` only those that changed since
 * the last delta, with `removed_images`. Deltas are computed once for every stream: one that
 * opened after the last delta gets changes it already has again, which replace them.
 */
export class EventStreams {
  private readonly streams = new Set<ServerResponse>();
  /** Each image's JSON as the last delta (or the first stream's document) had it. */
  private sentImages = new Map<string, string>();
  private sentRest = '';
  private pending: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly document: () => StatusDocument,
    private readonly options: StreamOptions,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  serve(req: IncomingMessage, res: ServerResponse): void {
    const { maxStreams } = this.options;
    if (this.streams.size >= maxStreams) {
      res
        .writeHead(503, { 'content-type': 'text/plain', 'cache-control': 'no-store', 'retry-after': '30' })
        .end(`at most ${maxStreams} live pages at once: close one, or read /status\n`);
      return;
    }
    // Held open for as long as the page is: not idle, whatever the server's idle timeout. The
    // daemon's shutdown closes it with every other connection.
    req.socket.setTimeout(0);
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    const document = this.document();
    if (this.streams.size === 0) this.remember(document);
    this.streams.add(res);
    this.heartbeat ??= setInterval(() => this.send(': heartbeat\n\n'), this.options.heartbeatMs).unref();
    res.on('close', () => {
      this.streams.delete(res);
      if (this.streams.size > 0) return;
      clearInterval(this.heartbeat);
      clearTimeout(this.pending);
      this.heartbeat = this.pending = undefined;
    });
    res.write(`retry: 3000\nevent: status\ndata: ${JSON.stringify(document)}\n\n`);
  }

  /** The status may have changed: a delta goes within `coalesceMs`, if it did. */
  changed(): void {
    if (this.streams.size === 0 || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.flush();
    }, this.options.coalesceMs).unref();
  }

  private flush(): void {
    const document = this.document();
    const { images, rest } = parts(document);
    const changed = Object.fromEntries(
      Object.entries(images).filter(([key, image]) => this.sentImages.get(key) !== JSON.stringify(image)),
    );
    const removed = [...this.sentImages.keys()].filter((key) => !Object.hasOwn(images, key));
    const restText = JSON.stringify(rest);
    if (Object.keys(changed).length === 0 && removed.length === 0 && restText === this.sentRest) return;
    this.remember(document);
    this.send(`event: delta\ndata: ${JSON.stringify({ ...rest, images: changed, removed_images: removed })}\n\n`);
  }

  private remember(document: StatusDocument): void {
    const { images, rest } = parts(document);
    this.sentImages = new Map(Object.entries(images).map(([key, image]) => [key, JSON.stringify(image)]));
    this.sentRest = JSON.stringify(rest);
  }

  private send(text: string): void {
    for (const res of this.streams) {
      if (res.writableLength > MAX_BUFFERED) res.destroy();
      else res.write(text);
    }
  }
}

/** A standby's document has no images. */
function parts(document: StatusDocument): { images: Readonly<Record<string, ImageStatus>>; rest: object } {
  if (document.role === 'standby') return { images: {}, rest: document };
  const { images, ...rest } = document;
  return { images, rest };
}
