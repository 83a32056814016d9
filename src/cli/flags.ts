// Flag values shared by commands, checked before anything is read or sent.
import type { PreflightFlags } from './session.js';
import { MAX_TIMER_MS } from '../clock.js';
import type { Policy } from '../plan/plan.js';
import type { RefreshMode } from '../reconcile/reconcile.js';
import { UsageError } from './config.js';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * `500ms`, `30s`, `5m`, `1.5h` in milliseconds; a bare number is seconds. At most what one timer
 * holds: every duration ends up waited for, and Node fires a longer timer at once.
 */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`${flag} "${text}" is not a duration such as 500ms, 30s, 5m or 1h`);
  const ms = Math.round(Number(match[1]) * UNITS[match[2] ?? 's']!);
  if (ms > MAX_TIMER_MS) {
    throw new UsageError(
      `${flag} "${text}" is too long: at most ${Math.floor(MAX_TIMER_MS / UNITS.h!)}h (about 24 days)`,
    );
  }
  return ms;
}

/** The executor's flags, shared by `apply` and `watch`. */
export interface ExecutorFlags {
  parallelism?: string;
  lockTimeout?: string;
  settleGrace?: string;
}

export function parseExecutorFlags(flags: ExecutorFlags): {
  parallelism: number;
  lockWaitMs: number;
  settleGraceMs: number;
} {
  return {
    parallelism: parseParallelism(flags.parallelism),
    lockWaitMs: parseLockTimeout(flags.lockTimeout),
    settleGraceMs: parseSettleGrace(flags.settleGrace),
  };
}

/** `--lock-timeout`: how long to wait for the state lock (default: not at all). */
export function parseLockTimeout(value: string | undefined): number {
  return value === undefined ? 0 : parseDuration(value, '--lock-timeout');
}

/**
 * `--settle-grace` (default 2m): how long IMS may take to list a new image. An unanswered import
 * is sent again, and a recorded image missing from the list called deleted, only after it.
 */
export function parseSettleGrace(value: string | undefined): number {
  return parseDuration(value ?? '2m', '--settle-grace');
}

/** Import requests in flight at once (default 10). */
function parseParallelism(value: string | undefined): number {
  if (value === undefined) return 10;
  const parallelism = Number(value);
  if (!/^\d+$/.test(value) || parallelism < 1 || parallelism > 256) {
    throw new UsageError(`--parallelism "${value}" must be a whole number from 1 to 256`);
  }
  return parallelism;
}

/** The plan's flags, shared by `plan`, `apply` and `watch`: what apply may do, and how to refresh. */
export interface PlanFlags {
  allowReplace?: boolean;
  prune?: boolean;
  maxPrune?: string;
  force?: boolean;
  refresh?: string;
  refreshOnly?: boolean;
  /** false with --no-preflight. */
  preflight?: boolean;
  reupload?: string;
  preflightMaxAge?: string;
}

/** Long enough for a plan and its apply, short enough that a re-upload is seen within the hour. */
const PREFLIGHT_MAX_AGE = '1h';

const REUPLOAD = ['warn', 'replace'] as const;

export function parsePlanFlags(flags: PlanFlags): {
  policy: Policy;
  refresh: RefreshMode;
  maxPrune: number;
  force: boolean;
  preflight: PreflightFlags;
} {
  if (flags.reupload !== undefined && !(REUPLOAD as readonly string[]).includes(flags.reupload)) {
    throw new UsageError(`--reupload "${flags.reupload}" must be warn or replace`);
  }
  if (flags.refresh !== undefined && !['true', 'false'].includes(flags.refresh)) {
    throw new UsageError(`--refresh "${flags.refresh}" must be true or false`);
  }
  if (flags.refreshOnly && flags.refresh === 'false') {
    throw new UsageError('--refresh-only and --refresh=false contradict each other');
  }
  const maxPrune = flags.maxPrune === undefined ? 10 : Number(flags.maxPrune);
  if (flags.maxPrune !== undefined && !/^\d+$/.test(flags.maxPrune)) {
    throw new UsageError(`--max-prune "${flags.maxPrune}" must be a whole number`);
  }
  return {
    policy: { allowReplace: Boolean(flags.allowReplace), prune: Boolean(flags.prune), retryFailed: true },
    refresh: flags.refreshOnly ? 'only' : flags.refresh === 'false' ? 'skip' : 'refresh',
    maxPrune,
    force: Boolean(flags.force),
    preflight: {
      preflight: flags.preflight !== false,
      onReupload: (flags.reupload as (typeof REUPLOAD)[number] | undefined) ?? 'warn',
      maxAgeMs: parseDuration(flags.preflightMaxAge ?? PREFLIGHT_MAX_AGE, '--preflight-max-age'),
    },
  };
}

export const PLAN_FORMATS = ['text', 'json', 'markdown'] as const;
export type PlanFormat = (typeof PLAN_FORMATS)[number];

/** `--format text|json|markdown` (default text); `--json` is `--format json`, and contradicts any other. */
export function parsePlanFormat(flags: { format?: string; json?: boolean }): PlanFormat {
  const { format, json } = flags;
  if (format !== undefined && !(PLAN_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format "${format}" must be one of ${PLAN_FORMATS.join(', ')}`);
  }
  if (json && format !== undefined && format !== 'json') {
    throw new UsageError(`--json and --format ${format} contradict each other: --json is --format json`);
  }
  return json ? 'json' : ((format as PlanFormat | undefined) ?? 'text');
}
