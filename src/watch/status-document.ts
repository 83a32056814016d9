// The /status document (README, "watch"), as its one builder (http.ts) makes it and its readers
// (the status page, its live updates) read it. Snake case: it is JSON for operators and scripts.
import type { DriftJson } from '../plan/codec.js';
import type { Phase } from '../state/model.js';
import type { ReconcileResult } from './metrics.js';

export type StatusDocument = LeaderStatus | StandbyStatus;

export interface LeaderStatus {
  readonly role: 'leader';
  readonly ready: boolean;
  readonly reconciling: boolean;
  readonly source: SourceStatus;
  /** Where the state is, never with a password. */
  readonly state: string;
  readonly last_reconcile: ReconcileStatus | null;
  /** What the last plan found and left, by key. */
  readonly drift: Readonly<Record<string, DriftJson>>;
  readonly blocked_replacements: readonly string[];
  readonly orphans: readonly string[];
  readonly held_failures: readonly string[];
  readonly refused: string | null;
  readonly diagnostics: readonly DiagnosticStatus[];
  /** By key, in key order. */
  readonly images: Readonly<Record<string, ImageStatus>>;
}

export interface StandbyStatus {
  readonly role: 'standby';
  readonly ready: true;
  readonly leader: {
    readonly host: string;
    readonly pid: number;
    readonly command: string;
    readonly since: string;
    readonly lock_id: string;
  } | null;
  readonly source: SourceStatus;
  readonly state: string;
}

export type SourceStatus =
  | { readonly kind: 'directory'; readonly paths: readonly string[] }
  | {
      readonly kind: 'git';
      /** Without any password or token. */
      readonly url: string;
      readonly ref: string;
      readonly path: string;
      readonly interval_seconds: number;
      readonly fetched_revision: string | null;
      readonly applied_revision: string | null;
      readonly last_fetch_at: string | null;
      readonly fetch_error: string | null;
    };

export interface ReconcileStatus {
  readonly started_at: string;
  readonly finished_at: string;
  readonly result: ReconcileResult;
  readonly error: string | null;
  readonly revision: string | null;
  readonly summary: {
    readonly imported: number;
    readonly adopted: number;
    readonly updated: number;
    readonly deleted: number;
    readonly failed: number;
    readonly blocked: number;
    readonly still_running: number;
    readonly seconds: number;
  } | null;
}

export interface DiagnosticStatus {
  readonly code: string;
  readonly message: string;
  /** file:line:column, when the diagnostic has a place. */
  readonly where: string | null;
}

export interface ImageStatus {
  readonly phase: Phase;
  readonly region: string | null;
  readonly attempt_id: string;
  readonly job_id: string | null;
  readonly job_status: string | null;
  readonly image_id: string | null;
  readonly error: { readonly code: string; readonly reason: string } | null;
  readonly revision: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  /** The job's percent done as last reported, 100 once it succeeded; null when this daemon has seen none. */
  readonly progress_percent: number | null;
  /** When this daemon submitted the current attempt; null for one it did not submit (before a restart). */
  readonly attempt_started_at: string | null;
  /** When the current attempt's job ended, as this daemon saw it. */
  readonly attempt_ended_at: string | null;
}
