// Apply progress: JSON lines for machines, plain lines for CI logs and pipes, a live view on a
// terminal. All three read only the events' own fields, so nothing else (no secret) can leak out;
// the fields that came from IMS (reasons, ids, statuses) are shown on one printable line.
import { createLogUpdate } from 'log-update';
import type { ApplyEvent, ApplySummary, EmitEvent, ImportPhase } from '../apply/events.js';
import { jsonText, printable } from '../text.js';
import type { Output } from './output.js';

export type ProgressMode = 'live' | 'plain' | 'json';

export interface ProgressRenderer {
  readonly emit: EmitEvent;
  /** Stops the live view (final frame stays) and flushes. */
  close(): void;
}

/** live on a terminal (`isTTY`: process.stdout.isTTY), plain elsewhere, json when --json. */
export function progressMode(json: boolean, isTTY: boolean): ProgressMode {
  if (json) return 'json';
  return isTTY ? 'live' : 'plain';
}

/**
 * `now` (milliseconds) times the live view: its elapsed columns and its redraw throttle.
 * `stream`, used only in live mode, is the terminal the live view redraws in place: the one
 * `output.out` writes to (process.stdout), since the lines kept above the view go through it.
 * While a live view is open, write to that terminal only through `emit`; after `close`,
 * `output.out` again (the summary goes there).
 */
export function createProgressRenderer(
  mode: ProgressMode,
  output: Output,
  now: () => number = Date.now,
  stream: NodeJS.WriteStream = process.stdout,
): ProgressRenderer {
  if (mode === 'json') return { emit: (event) => output.out(jsonText(applyEventToJson(event)) + '\n'), close() {} };
  const renderer = mode === 'plain' ? plainRenderer(output, now) : liveRenderer(output, now, stream);
  return { emit: (event) => renderer.emit(printableEvent(event)), close: () => renderer.close() };
}

/** The event with each of its texts printable, on one line: a reason cannot forge a line of its own. */
function printableEvent(event: ApplyEvent): ApplyEvent {
  const fields = Object.entries<unknown>({ ...event }).map(([name, value]) => [
    name,
    typeof value === 'string' ? printable(value) : value,
  ]);
  return Object.fromEntries(fields) as ApplyEvent;
}

/**
 * The `--json` line of each event (documented in the README; fields are only ever added).
 * Every object has `type` and `time` (ISO); an optional id is `null` when absent.
 *
 * | type                | fields                                                                                    |
 * | ------------------- | ----------------------------------------------------------------------------------------- |
 * | `apply.started`     | `imports`, `updates`, `deletes`, `following`, `parallelism`                               |
 * | `import.submitting` | `key`, `attempt_id`                                                                       |
 * | `import.submitted`  | `key`, `job_id`                                                                           |
 * | `import.queued`     | `key`, `attempt_id`, `reason`: the account's import cap (IMG.0194); it waits for a slot      |
 * | `import.ambiguous`  | `key`, `attempt_id`, `reason`                                                             |
 * | `import.settled`    | `key`, `attempt_id`, `found`                                                              |
 * | `job.progress`      | `key`, `job_id`, `status`, `percent` (null when IMS gives none)                           |
 * | `job.left-running`  | `key`, `job_id`, `seconds`: waited that long (--wait-timeout); the next apply follows it (no job id: settles it) |
 * | `import.succeeded`  | `key`, `image_id`, `job_id`, `seconds`                                                    |
 * | `import.failed`     | `key`, `job_id`, `code`, `reason`                                                         |
 * | `update.succeeded`  | `key`, `image_id`, `fields`                                                               |
 * | `delete.succeeded`  | `key`, `image_id`                                                                         |
 * | `replace.blocked`   | `key`                                                                                     |
 * | `adopt.succeeded`   | `key`, `image_id`                                                                         |
 * | `orphan.kept`       | `key`, `image_id` (null when the orphan has no image)                                     |
 * | `action.failed`     | `key`, `action` (`update` or `delete`), `code`, `reason`                                  |
 * | `apply.dispatched`  | (none): every change was sent, or failed; what is left is following jobs                 |
 * | `apply.interrupted` | `reason`                                                                                  |
 * | `apply.finished`    | `summary`: `{imported, adopted, updated, deleted, failed, blocked, still_running, seconds, state_writes, state_bytes}` |
 */
export function applyEventToJson(event: ApplyEvent): object {
  const { type, time } = event;
  switch (event.type) {
    case 'apply.started': {
      const { imports, updates, deletes, following, parallelism } = event;
      return { type, time, imports, updates, deletes, following, parallelism };
    }
    case 'import.submitting':
      return { type, time, key: event.key, attempt_id: event.attemptId };
    case 'import.submitted':
      return { type, time, key: event.key, job_id: event.jobId };
    case 'import.queued':
    case 'import.ambiguous':
      return { type, time, key: event.key, attempt_id: event.attemptId, reason: event.reason };
    case 'import.settled':
      return { type, time, key: event.key, attempt_id: event.attemptId, found: event.found };
    case 'job.progress':
      return {
        type,
        time,
        key: event.key,
        job_id: event.jobId ?? null,
        status: event.status,
        percent: event.percent ?? null,
      };
    case 'job.left-running':
      return { type, time, key: event.key, job_id: event.jobId ?? null, seconds: event.seconds };
    case 'import.succeeded':
      return {
        type,
        time,
        key: event.key,
        image_id: event.imageId,
        job_id: event.jobId ?? null,
        seconds: event.seconds,
      };
    case 'import.failed':
      return { type, time, key: event.key, job_id: event.jobId ?? null, code: event.code, reason: event.reason };
    case 'update.succeeded':
      return { type, time, key: event.key, image_id: event.imageId, fields: event.fields };
    case 'delete.succeeded':
      return { type, time, key: event.key, image_id: event.imageId };
    case 'orphan.kept':
      return { type, time, key: event.key, image_id: event.imageId ?? null };
    case 'replace.blocked':
      return { type, time, key: event.key };
    case 'adopt.succeeded':
      return { type, time, key: event.key, image_id: event.imageId };
    case 'action.failed':
      return { type, time, key: event.key, action: event.action, code: event.code, reason: event.reason };
    case 'apply.dispatched':
      return { type, time };
    case 'apply.interrupted':
      return { type, time, reason: event.reason };
    case 'apply.finished': {
      const { imported, adopted, updated, deleted, failed, blocked, stillRunning, seconds, stateWrites, stateBytes } =
        event.summary;
      return {
        type,
        time,
        summary: {
          imported,
          adopted,
          updated,
          deleted,
          failed,
          blocked,
          still_running: stillRunning,
          seconds,
          state_writes: stateWrites,
          state_bytes: stateBytes,
        },
      };
    }
  }
}

/** Without a terminal, a line at least this often while imports run: CI logs show it is alive. */
const HEARTBEAT_MS = 30_000;

function plainRenderer(output: Output, now: () => number): ProgressRenderer {
  const log = new EventLog(output.color);
  const tally = new Tally();
  let lastLine = now();
  const write = (line: string) => {
    lastLine = now();
    output.out(line + '\n');
  };
  const heartbeat = setInterval(() => {
    const at = now();
    const active = tally.active();
    if (active.length === 0 || at - lastLine < HEARTBEAT_MS) return;
    const shown = active
      .slice(0, 5)
      .map(([key, entry]) => (entry.percent === undefined ? key : `${key} ${entry.percent}%`));
    const more = active.length > shown.length ? `, and ${active.length - shown.length} more` : '';
    const done = tally.counts().get('succeeded') ?? 0;
    write(
      `${log.stamp(at)}  ${active.length} running (${shown.join(', ')}${more}), ${done} done; ${timing(tally, at)}`,
    );
  }, 1000).unref();
  return {
    emit(event) {
      tally.track(event, Date.parse(event.time));
      const line = log.line(event);
      if (line !== undefined) write(line);
      if (event.type === 'apply.finished') output.out(log.report(event.summary));
    },
    close() {
      clearInterval(heartbeat);
    },
  };
}

type Colors = Output['color'];
type Failure = Extract<ApplyEvent, { type: 'import.failed' | 'action.failed' }>;

/** The plain lines, and what the closing report needs: failures and whether apply was interrupted. */
class EventLog {
  private start: number | undefined;
  private readonly statuses = new Map<string, string>();
  private readonly failures: Failure[] = [];
  private interrupted = false;

  constructor(private readonly color: Colors) {}

  /** The line for a meaningful event, prefixed by the seconds since apply started (the executor's clock). */
  line(event: ApplyEvent): string | undefined {
    const text = this.describe(event);
    return text === undefined ? undefined : `${this.stamp(Date.parse(event.time))}  ${text}`;
  }

  /** Seconds since apply started, as every line begins. */
  stamp(at: number): string {
    this.start ??= at;
    return `${((at - this.start) / 1000).toFixed(1)}s`.padStart(7);
  }

  private describe(event: ApplyEvent): string | undefined {
    const { color } = this;
    const key = 'key' in event ? color.bold(event.key) : '';
    switch (event.type) {
      case 'apply.started':
        return `apply started: ${event.imports} to import, ${event.updates} to update, ${event.deletes} to delete, ${event.following} to follow from an earlier run (${event.parallelism} at a time)`;
      case 'import.submitting':
        return undefined; // `submitted` follows at once; a lost answer has its own event
      case 'import.submitted':
        this.statuses.delete(event.key); // a new job: its first status is news
        return `${key}  submitted (job ${event.jobId})`;
      case 'job.progress':
        // Polls repeat the status; only a change is worth a line.
        if (this.statuses.get(event.key) === event.status) return undefined;
        this.statuses.set(event.key, event.status);
        return `${key}  ${event.jobId ? 'job' : 'image'} ${event.status}`;
      case 'job.left-running':
        return event.jobId === undefined
          ? `${key}  ${color.yellow('not settled')} after ${event.seconds}s (--wait-timeout): IMS has not shown whether it took the import; recorded, and the next apply looks for it by its tag`
          : `${key}  ${color.yellow('still running')} after ${event.seconds}s (--wait-timeout): recorded, and the next apply follows it`;
      case 'import.queued':
        return `${key}  ${color.yellow('queued')}: the account runs as many imports as it allows (IMG.0194); it goes when one of this run's jobs ends`;
      case 'import.ambiguous':
        return `${key}  ${color.yellow(`no answer to the import (${event.reason})`)}; looking it up by its tag before anything is sent again`;
      case 'import.settled':
        return event.found
          ? `${key}  ${color.yellow('found by its tag')}: the import did arrive; following it`
          : `${key}  ${color.yellow('not found by its tag')}: the import never arrived and will be sent again`;
      case 'import.succeeded':
        return `${key}  ${color.green('imported')} as image ${event.imageId} in ${event.seconds.toFixed(1)}s`;
      case 'import.failed':
        this.failures.push(event);
        return `${key}  ${color.red('FAILED')} ${event.code}: ${event.reason}${jobSuffix(event.jobId)}`;
      case 'update.succeeded':
        return `${key}  ${color.green('updated')} image ${event.imageId} (${event.fields.join(', ')})`;
      case 'delete.succeeded':
        return `${key}  ${color.green('deleted')} image ${event.imageId}`;
      case 'replace.blocked':
        return `${key}  ${color.yellow('replacement not allowed')}: apply with --allow-replace to import it anew and delete the old image`;
      case 'adopt.succeeded':
        return `${key}  ${color.green('adopted')} image ${event.imageId}: it carries this key's imsync-key tag`;
      case 'orphan.kept':
        return `${key}  ${color.yellow('orphan')}: in no manifest any more; ${event.imageId ? `image ${event.imageId}` : 'its record'} is kept (--prune deletes it)`;
      case 'action.failed':
        this.failures.push(event);
        return `${key}  ${color.red(`${event.action} FAILED`)} ${event.code}: ${event.reason}`;
      case 'apply.interrupted':
        this.interrupted = true;
        return `${color.yellow(`interrupted (${event.reason})`)}: imports already submitted go on, and the next apply follows them`;
      case 'apply.dispatched':
      case 'apply.finished':
        return undefined; // the live view shows the one, the report says the other
    }
  }

  /** The summary line, then the failures again: they are what people scroll for. */
  report(summary: ApplySummary): string {
    const { color } = this;
    const failed = `${summary.failed} failed`;
    const running =
      summary.stillRunning > 0
        ? `; ${color.yellow(`${summary.stillRunning} still running`)}: apply again to follow them`
        : '';
    const head = color.bold(this.interrupted ? 'Apply interrupted:' : 'Apply complete:');
    const blocked = summary.blocked > 0 ? `, ${color.yellow(`${summary.blocked} blocked`)}` : '';
    let text = `\n${head} ${summary.imported} imported, ${summary.adopted > 0 ? `${summary.adopted} adopted, ` : ''}${summary.updated} updated, ${summary.deleted} deleted, ${summary.failed > 0 ? color.red(failed) : failed}${blocked} in ${summary.seconds.toFixed(1)}s${running}.\n`;
    if (this.failures.length > 0) {
      const width = Math.max(...this.failures.map((f) => f.key.length));
      text += `\n${color.red('Failures:')}\n`;
      for (const f of this.failures) {
        const what = f.type === 'import.failed' ? 'import' : f.action;
        const job = f.type === 'import.failed' ? jobSuffix(f.jobId) : '';
        text += `  ${f.key.padEnd(width)}  ${what.padEnd(6)}  ${f.code}: ${f.reason}${job}\n`;
      }
    }
    return text;
  }
}

function jobSuffix(jobId: string | undefined): string {
  return jobId ? ` (job ${jobId})` : '';
}

const REDRAW_MS = 100;
/** Redraws with no event, so that elapsed times keep counting between polls. */
const TICK_MS = 1000;
const MAX_LINES = 15;
const PHASES: readonly ImportPhase[] = ['waiting', 'submitting', 'running', 'settling', 'succeeded', 'failed'];
/** Progress lines (job.progress, submitted) live in the view; every other line is kept above it. */
const VIEW_ONLY = new Set<ApplyEvent['type']>(['import.submitted', 'job.progress']);

interface Import {
  readonly phase: ImportPhase;
  readonly status: string | undefined;
  readonly jobId: string | undefined;
  /** The job's percent, when the progress API gives one. */
  readonly percent?: number;
  /** When it was submitted (or first heard of, for an import followed from an earlier run). */
  readonly since: number;
}

type ImportEvent = Extract<ApplyEvent, { type: `import.${string}` | 'job.progress' }>;

function isImportEvent(event: ApplyEvent): event is ImportEvent {
  return event.type.startsWith('import.') || event.type === 'job.progress';
}

/** An import's phase, as the events move it. */
function advance(entry: Import, event: ImportEvent, at: number): Import {
  switch (event.type) {
    case 'import.submitting':
      return { phase: 'submitting', status: undefined, jobId: undefined, since: at };
    case 'import.submitted':
      return { phase: 'running', status: undefined, jobId: event.jobId, since: at };
    case 'job.progress': {
      const percent = event.percent ?? entry.percent;
      return {
        ...entry,
        phase: 'running',
        status: event.status,
        jobId: event.jobId ?? entry.jobId,
        ...(percent === undefined ? {} : { percent }),
      };
    }
    case 'import.queued':
      return { ...entry, phase: 'waiting' };
    case 'import.ambiguous':
      return { ...entry, phase: 'settling' };
    case 'import.settled':
      // Found: its job or image is followed from here; absent: it waits to be sent again.
      return { ...entry, phase: event.found ? 'running' : 'waiting' };
    case 'import.succeeded':
      return { ...entry, phase: 'succeeded' };
    case 'import.failed':
      return { ...entry, phase: 'failed' };
  }
}

/** Where every import stands, and what that says of the time left. Both renderers keep one. */
class Tally {
  readonly imports = new Map<string, Import>();
  /** Imports to make or follow, from apply.started: the ones not heard of yet are waiting. */
  private planned = 0;
  private start: number | undefined;
  /** How long finished imports took, for the time left of those without a percent. */
  private readonly durations: number[] = [];

  track(event: ApplyEvent, at: number): void {
    this.start ??= at;
    if (event.type === 'apply.started') this.planned = event.imports + event.following;
    if (event.type === 'import.succeeded') this.durations.push(event.seconds * 1000);
    if (!isImportEvent(event)) return;
    const entry = this.imports.get(event.key) ?? { phase: 'waiting', status: undefined, jobId: undefined, since: at };
    this.imports.set(event.key, advance(entry, event, at));
  }

  counts(): Map<ImportPhase, number> {
    const counts = new Map<ImportPhase, number>(PHASES.map((phase) => [phase, 0]));
    for (const { phase } of this.imports.values()) counts.set(phase, (counts.get(phase) ?? 0) + 1);
    counts.set('waiting', (counts.get('waiting') ?? 0) + Math.max(0, this.planned - this.imports.size));
    return counts;
  }

  /** The imports in flight, oldest first. */
  active(): [string, Import][] {
    return [...this.imports]
      .filter(([, entry]) => ['submitting', 'running', 'settling'].includes(entry.phase))
      .sort(([, a], [, b]) => a.since - b.since);
  }

  elapsed(at: number): number {
    return at - (this.start ?? at);
  }

  /**
   * The time left, roughly: the longest of the running imports' (from their percent, or from how
   * long finished ones took), plus the rounds the waiting ones need at the pace of those running.
   * Undefined without a basis.
   */
  eta(at: number): number | undefined {
    const typical =
      this.durations.length > 0 ? this.durations.reduce((a, b) => a + b, 0) / this.durations.length : undefined;
    let left: number | undefined;
    for (const [, entry] of this.active()) {
      const ran = at - entry.since;
      const mine =
        entry.percent !== undefined && entry.percent > 0
          ? (ran * (100 - entry.percent)) / entry.percent
          : typical === undefined
            ? undefined
            : Math.max(0, typical - ran);
      if (mine === undefined) return undefined;
      left = Math.max(left ?? 0, mine);
    }
    // Those waiting go as those running end, as many at a time as run now.
    const waiting = this.counts().get('waiting') ?? 0;
    if (waiting === 0) return left;
    if (typical === undefined) return undefined;
    return (left ?? 0) + Math.ceil(waiting / Math.max(1, this.active().length)) * typical;
  }
}

/** `elapsed 1m05s, about 40s left`, as far as known. */
function timing(tally: Tally, at: number): string {
  const eta = tally.eta(at);
  return `elapsed ${elapsed(tally.elapsed(at))}${eta === undefined ? '' : `, about ${elapsed(eta)} left`}`;
}

function liveRenderer(output: Output, now: () => number, stream: NodeJS.WriteStream): ProgressRenderer {
  const { color } = output;
  const view = createLogUpdate(stream);
  const log = new EventLog(color);
  const tally = new Tally();
  let summary: ApplySummary | undefined;
  let started = false;
  let lastDraw = -Infinity;
  let trailing: NodeJS.Timeout | undefined;
  const ticker = setInterval(() => schedule(), TICK_MS).unref();

  function frame(): string {
    const at = now();
    const counts = tally.counts();
    const paint = (phase: ImportPhase, text: string) =>
      phase === 'succeeded' ? color.green(text) : phase === 'failed' ? color.red(text) : text;
    const header = `${color.bold('Imports:')} ${PHASES.map((phase) => paint(phase, `${counts.get(phase)} ${phase}`)).join(', ')}`;
    const active = tally.active();
    const shown = active.slice(0, MAX_LINES);
    const width = Math.max(0, ...shown.map(([key]) => key.length));
    const lines = shown.map(([key, entry]) => {
      const job = entry.jobId ? `  job ${short(entry.jobId)}` : '';
      const status = entry.percent === undefined ? label(entry) : `${label(entry)} ${entry.percent}%`;
      return `  ${key.padEnd(width)}  ${status.padEnd(10)}  ${elapsed(at - entry.since).padStart(6)}${job}`;
    });
    if (active.length > shown.length) lines.push(`  … and ${active.length - shown.length} more`);
    return [header, `  ${color.dim(timing(tally, at))}`, ...lines].join('\n');
  }

  function draw(): void {
    clearTimeout(trailing);
    trailing = undefined;
    if (!started) return;
    lastDraw = now();
    view(frame());
  }

  /** At most one frame per REDRAW_MS: now if the last one is old enough, else once when it is. */
  function schedule(): void {
    if (trailing !== undefined) return;
    const wait = lastDraw + REDRAW_MS - now();
    if (wait <= 0) draw();
    else trailing = setTimeout(draw, wait).unref();
  }

  return {
    emit(event) {
      started = true;
      tally.track(event, now());
      const line = log.line(event);
      if (line !== undefined && !VIEW_ONLY.has(event.type)) {
        // Written past log-update, which would hard-wrap it: long ids must copy whole from the scrollback.
        view.clear();
        stream.write(line + '\n');
      }
      if (event.type === 'apply.finished') {
        summary = event.summary;
        draw();
      } else schedule();
    },
    close() {
      clearInterval(ticker);
      draw();
      view.done();
      if (summary) output.out(log.report(summary));
    },
  };
}

function label(entry: Import): string {
  if (entry.phase === 'submitting') return 'submitting';
  if (entry.phase === 'settling') return 'looking up';
  return entry.status ?? 'submitted';
}

/** The tail of a job id: IMS job ids (`ff808081…`) begin alike and differ at the end. */
function short(id: string): string {
  return id.length > 9 ? `…${id.slice(-8)}` : id;
}

function elapsed(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}
