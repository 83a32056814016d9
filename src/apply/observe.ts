// What one observation of an import means for its record: a job status, the import's image as
// listed, or the attempt not found by its tag. Pure (record × observation × now × grace → record,
// event, next step), so that every case is a row in a table test; the executor only does the I/O.
import type { ImsError } from '../ims/errors.js';
import type { Image, Job } from '../ims/types.js';
import {
  failedRecord,
  foundRecord,
  progressRecord,
  succeededRecord,
  type FailedRecord,
  type JobError,
  type SubmittedRecord,
  type SubmittingRecord,
  type SucceededRecord,
} from '../state/model.js';

export type Observation =
  /** GET of the import's job. */
  | { readonly kind: 'job'; readonly job: Job }
  /** The import's image, listed (by its attempt tag, or by id). */
  | { readonly kind: 'image'; readonly image: Image }
  /** Nothing found: not by the attempt tag, not by the recorded image id. */
  | { readonly kind: 'absent' };

/** What the executor does next for this import. */
export type Next =
  /** Look again in the next round. */
  | 'follow'
  /** The import ended (succeeded or failed). */
  | 'done'
  /** The image ended badly or vanished: the job knows why. */
  | 'ask-job'
  /** The job succeeded without naming its image: find it by the attempt tag. */
  | 'find-image'
  /** The attempt is provably absent: submit a new one. */
  | 'resubmit';

/** What the record's change means, for the event the executor emits; the executor adds key and time. */
export type Outcome =
  | { readonly type: 'import.settled'; readonly attemptId: string; readonly found: boolean }
  | { readonly type: 'job.progress'; readonly jobId?: string; readonly status: string; readonly percent?: number }
  | { readonly type: 'import.succeeded'; readonly imageId: string; readonly jobId?: string }
  | { readonly type: 'import.failed'; readonly jobId?: string; readonly code: string; readonly reason: string };

export interface Observed {
  /** The record as it now stands; undefined when unchanged. */
  readonly record?: SubmittedRecord | SucceededRecord | FailedRecord;
  readonly outcomes: readonly Outcome[];
  readonly next: Next;
}

const UNCHANGED_FOLLOW: Observed = { outcomes: [], next: 'follow' };

/**
 * The answers to one key's imports in this run that came (2xx) without a usable job id: IMS may
 * have taken such an import, so it is settled by its tag like a lost answer; but one that is then
 * not found is sent again only so many times, since whatever answers this way (a proxy's page, say)
 * would answer it so forever.
 */
export interface UnusableAnswers {
  readonly count: number;
  /** The last one, as the client quoted it (a bounded, printable excerpt). */
  readonly last: string;
}

export const MAX_UNUSABLE_ANSWERS = 3;

/** A failed import POST that was answered, 2xx, with nothing usable (not JSON, no job id, too large). */
export function isUnusableAnswer(error: ImsError): boolean {
  return error.retry === 'ambiguous' && error.status !== undefined && error.status >= 200 && error.status < 300;
}

/**
 * An import in flight, observed. `graceMs`: how long an attempt whose answer never came may stay
 * invisible (listing lag) before it counts as absent; `unusable`: this run's unusable answers to the key.
 */
export function observe(
  record: SubmittingRecord | SubmittedRecord,
  observation: Observation,
  now: Date,
  graceMs: number,
  unusable?: UnusableAnswers,
): Observed {
  if (record.phase === 'submitting') return settle(record, observation, now, graceMs, unusable);
  switch (observation.kind) {
    case 'job':
      return onJob(record, observation.job, now);
    case 'image':
      return onImage(record, observation.image, now);
    case 'absent':
      // Known by its job: the job says what became of it. Found only by its tag: it is gone.
      if (record.jobId !== undefined) return { outcomes: [], next: 'ask-job' };
      return fail(
        record,
        { code: 'IMAGE_NOT_FOUND', reason: `the image ${record.imageId} of this import is gone` },
        now,
      );
  }
}

function settle(
  record: SubmittingRecord,
  observation: Observation,
  now: Date,
  graceMs: number,
  unusable: UnusableAnswers | undefined,
): Observed {
  if (observation.kind === 'absent') {
    if (now.getTime() - Date.parse(record.updatedAt) < graceMs) return UNCHANGED_FOLLOW;
    if (unusable !== undefined && unusable.count >= MAX_UNUSABLE_ANSWERS) {
      const reason = `IMS answered ${unusable.count} imports with no usable job id, and none is found by its tag; the last answer: ${unusable.last}`;
      return fail(record, { code: 'IMPORT_ANSWER_UNUSABLE', reason }, now);
    }
    return { outcomes: [{ type: 'import.settled', attemptId: record.attemptId, found: false }], next: 'resubmit' };
  }
  if (observation.kind === 'job') return onJob(record, observation.job, now); // a job id came back late
  const found = foundRecord(record, observation.image.id, now);
  const then = onImage(found, observation.image, now);
  return {
    record: then.record ?? found,
    outcomes: [{ type: 'import.settled', attemptId: record.attemptId, found: true }, ...then.outcomes],
    next: then.next,
  };
}

function onJob(record: SubmittingRecord | SubmittedRecord, job: Job, now: Date): Observed {
  switch (job.status) {
    case 'SUCCESS': {
      const imageId = job.imageId ?? record.imageId;
      if (imageId === undefined) return { outcomes: [], next: 'find-image' };
      return succeed(record, imageId, now);
    }
    case 'FAIL':
      return fail(
        record,
        { code: job.errorCode ?? 'JOB_FAILED', reason: job.failReason ?? 'the import job failed' },
        now,
      );
    default:
      return progress(record, job.status, now, job.jobId, job.percent);
  }
}

function onImage(record: SubmittedRecord, image: Image, now: Date): Observed {
  if (image.status === 'active') return succeed(record, image.id, now);
  if (image.status === 'killed' || image.status === 'deleted') {
    if (record.jobId !== undefined) return { outcomes: [], next: 'ask-job' };
    return fail(
      record,
      { code: 'IMAGE_KILLED', reason: `the image ${image.id} of this import ended ${image.status}` },
      now,
    );
  }
  return progress(record, image.status, now, record.jobId);
}

function progress(
  record: SubmittingRecord | SubmittedRecord,
  status: string,
  now: Date,
  jobId: string | undefined,
  percent?: number,
): Observed {
  if (record.phase === 'submitting') return UNCHANGED_FOLLOW; // a job id without a record of it: settled by tag
  if (record.jobStatus === status) return UNCHANGED_FOLLOW;
  return {
    record: progressRecord(record, status, now),
    outcomes: [
      {
        type: 'job.progress',
        status,
        ...(jobId === undefined ? {} : { jobId }),
        ...(percent === undefined ? {} : { percent }),
      },
    ],
    next: 'follow',
  };
}

function succeed(record: SubmittingRecord | SubmittedRecord, imageId: string, now: Date): Observed {
  const jobId = record.jobId;
  return {
    record: succeededRecord(record, imageId, now),
    outcomes: [{ type: 'import.succeeded', imageId, ...(jobId === undefined ? {} : { jobId }) }],
    next: 'done',
  };
}

function fail(record: SubmittingRecord | SubmittedRecord, error: JobError, now: Date): Observed {
  const jobId = record.jobId;
  const failed = failedRecord(record, error, now);
  // Said as recorded: the reason cut to the length the state keeps.
  const { code, reason } = failed.error;
  return {
    record: failed,
    outcomes: [{ type: 'import.failed', code, reason, ...(jobId === undefined ? {} : { jobId }) }],
    next: 'done',
  };
}
