// What the executor reports while it works. The engine never prints: the CLI and the daemon
// render these events (a live view on a terminal, plain lines elsewhere, JSON lines for machines).

/** Where an import stands, as the live view counts it. */
export type ImportPhase = 'waiting' | 'submitting' | 'running' | 'settling' | 'succeeded' | 'failed';

interface At {
  /** ISO time from the executor's clock. */
  readonly time: string;
  readonly key: string;
}

export type ApplyEvent =
  | {
      readonly type: 'apply.started';
      readonly time: string;
      /** New imports and imports that replace an image. */
      readonly imports: number;
      readonly updates: number;
      readonly deletes: number;
      /** Imports from earlier runs still running or awaiting settlement: followed, never resubmitted. */
      readonly following: number;
      readonly parallelism: number;
    }
  /** The intent is durable; the quick-import request goes now. */
  | (At & { readonly type: 'import.submitting'; readonly attemptId: string })
  | (At & { readonly type: 'import.submitted'; readonly jobId: string })
  /** The account runs as many imports as it allows (IMG.0194): this one waits for a slot, then goes as it is. */
  | (At & { readonly type: 'import.queued'; readonly attemptId: string; readonly reason: string })
  /** The answer never came (timeout, reset, 5xx): the attempt is looked up by its tag, never resent blindly. */
  | (At & { readonly type: 'import.ambiguous'; readonly attemptId: string; readonly reason: string })
  /** An earlier attempt was found (`found`), or is provably absent and will be submitted again. */
  | (At & { readonly type: 'import.settled'; readonly attemptId: string; readonly found: boolean })
  /** The job or image status moved (INIT, RUNNING; queued, saving). */
  | (At & {
      readonly type: 'job.progress';
      readonly jobId?: string;
      readonly status: string;
      readonly percent?: number;
    })
  /** Waited for as long as --wait-timeout allows: still running, recorded; the next apply follows it. */
  | (At & { readonly type: 'job.left-running'; readonly jobId?: string; readonly seconds: number })
  | (At & {
      readonly type: 'import.succeeded';
      readonly imageId: string;
      readonly jobId?: string;
      readonly seconds: number;
    })
  | (At & { readonly type: 'import.failed'; readonly jobId?: string; readonly code: string; readonly reason: string })
  | (At & { readonly type: 'update.succeeded'; readonly imageId: string; readonly fields: readonly string[] })
  /** An image imsync owns is gone from the account: the one a replacement superseded, or an orphan pruned. */
  | (At & { readonly type: 'delete.succeeded'; readonly imageId: string })
  /** A replacement the plan did not allow (only --allow-replace carries replacements out). */
  | (At & { readonly type: 'replace.blocked' })
  /** An image found with imsync's tag for this key and no record, recorded as this key's image. */
  | (At & { readonly type: 'adopt.succeeded'; readonly imageId: string })
  /** Recorded, but in no manifest any more; its image is kept (only --prune deletes it). */
  | (At & { readonly type: 'orphan.kept'; readonly imageId?: string })
  /** A request failed for an update or delete; the import failures have their own event. */
  | (At & {
      readonly type: 'action.failed';
      readonly action: 'update' | 'delete';
      readonly code: string;
      readonly reason: string;
    })
  /** Every change of the plan has been sent (or has failed): what is left is following jobs. */
  | { readonly type: 'apply.dispatched'; readonly time: string }
  | { readonly type: 'apply.interrupted'; readonly time: string; readonly reason: string }
  | { readonly type: 'apply.finished'; readonly time: string; readonly summary: ApplySummary };

export interface ApplySummary {
  readonly imported: number;
  readonly adopted: number;
  readonly updated: number;
  readonly deleted: number;
  readonly failed: number;
  /** Changes the plan left undone: replacements not allowed, orphans kept, failures held. */
  readonly blocked: number;
  /** Imports still running when the wait stopped (interrupt or timeout); the next apply follows them. */
  readonly stillRunning: number;
  readonly seconds: number;
  /** State writes (journal appends and whole-file writes) of the run, and their bytes. */
  readonly stateWrites: number;
  readonly stateBytes: number;
}

export type EmitEvent = (event: ApplyEvent) => void;
