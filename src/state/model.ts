// The recorded state: what imsync has submitted and what became of it. Pure data and pure
// transitions of one record at a time; the stores (file-store.ts) own the I/O and the serial.
import { specHash } from '../manifest/spec.js';
import type { ImageSpec } from '../manifest/types.js';
import { truncate } from '../text.js';

export const STATE_VERSION = 1;
/** A failure's reason is kept to this many characters: an answer may hold megabytes. */
const MAX_REASON = 1000;

export interface JobError {
  /** The IMS error code, such as IMG.0057. */
  readonly code: string;
  readonly reason: string;
}

interface RecordBase {
  /** The region the image lives in, when it was known. */
  readonly region?: string;
  /** The spec last submitted (or applied in place, or observed by a refresh). */
  readonly spec: ImageSpec;
  readonly specHash: string;
  /** Fresh for every import attempt; sent as the `imsync-attempt` tag to find the image again. */
  readonly attemptId: string;
  /** The image this import replaces; deleted once the new one is active. */
  readonly supersedes?: string;
  /** The source's commit whose manifest the spec was last applied from (a git source). */
  readonly revision?: string;
  /** Failed attempts of this spec in a row, this one's failure included: how long the next waits. */
  readonly failures?: number;
  /** The image file as the pre-flight saw it when this attempt was made: a re-upload under the same key shows. */
  readonly source?: SourceObject;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The intent is durable; the POST may or may not have reached IMS. */
export interface SubmittingRecord extends RecordBase {
  readonly phase: 'submitting';
  readonly jobId?: undefined;
  readonly imageId?: undefined;
  readonly error?: undefined;
}

/** IMS has the import: its job id came back, or its image was found by the attempt's tag. */
export type SubmittedRecord = RecordBase & {
  readonly phase: 'submitted';
  /** The job or image status seen last: INIT, RUNNING; queued, saving. */
  readonly jobStatus?: string;
  readonly error?: undefined;
} & ({ readonly jobId: string; readonly imageId?: string } | { readonly jobId?: undefined; readonly imageId: string });

export interface SucceededRecord extends RecordBase {
  readonly phase: 'succeeded';
  readonly imageId: string;
  readonly jobId?: string;
  readonly error?: undefined;
}

export interface FailedRecord extends RecordBase {
  readonly phase: 'failed';
  readonly error: JobError;
  readonly jobId?: string;
  readonly imageId?: string;
}

export type ImageRecord = SubmittingRecord | SubmittedRecord | SucceededRecord | FailedRecord;
export type Phase = ImageRecord['phase'];
export const PHASES: readonly Phase[] = ['submitting', 'submitted', 'succeeded', 'failed'];

/** Where a region's images live: the IMS endpoint (or `embedded-emulator`) and the project. */
export interface RegionAccount {
  readonly endpoint: string;
  readonly projectId: string;
}

/** The account a state describes, by region (`default` when the region is not known). */
export interface Account {
  readonly regions: Readonly<Record<string, RegionAccount>>;
}

/** An image file in OBS as HEAD Object described it. */
export interface SourceObject {
  /** As OBS sends it, quotes included; not an MD5 for multipart uploads. */
  readonly etag: string;
  /** Bytes. */
  readonly size: number;
}

/** An image file that passed every pre-flight check, and when. */
export interface CheckedObject extends SourceObject {
  readonly checkedAt: string;
}

/** A bucket that passed the pre-flight's checks (region, storage class), and when. */
export interface CheckedBucket {
  readonly region: string;
  readonly storageClass: string;
  readonly checkedAt: string;
}

/** What the pre-flight found fine, so that the next plans need not ask OBS again for a while. */
export interface PreflightCache {
  /** By `bucket:key`, as image_url names the file. */
  readonly objects: Readonly<Record<string, CheckedObject>>;
  /** By bucket name. */
  readonly buckets: Readonly<Record<string, CheckedBucket>>;
}

export interface State {
  readonly version: typeof STATE_VERSION;
  /** Fixed when the state is first written; empty until then. */
  readonly lineage: string;
  /** Incremented by the store on every write. */
  readonly serial: number;
  /** Set by the first command that talks to IMS. */
  readonly account?: Account;
  /** One record per manifest key. */
  readonly images: Readonly<Record<string, ImageRecord>>;
  /** Image files and buckets the pre-flight checked lately. */
  readonly preflight?: PreflightCache;
}

/** Changed records by key; null removes the record. */
export type RecordChanges = ReadonlyMap<string, ImageRecord | null>;

export function emptyState(): State {
  return { version: STATE_VERSION, lineage: '', serial: 0, images: {} };
}

/** The state with `changes` applied; serial and lineage are the store's business. */
export function withChanges(state: State, changes: RecordChanges): State {
  const images = { ...state.images };
  for (const [key, record] of changes) {
    if (record) images[key] = record;
    else delete images[key];
  }
  return { ...state, images };
}

export interface ImportIntent {
  readonly spec: ImageSpec;
  readonly region?: string;
  readonly attemptId: string;
  /** A replacement that leaves the image it replaces alone (no longer imsync's to delete). */
  readonly keepsPrevious?: boolean;
  readonly revision?: string;
  /** The image file as the pre-flight saw it, when it looked. */
  readonly source?: SourceObject;
}

/**
 * A new import attempt, durable before its POST. An attempt that replaces an active image
 * remembers that image, so that it can be deleted once the new one is active.
 */
export function intentRecord(previous: ImageRecord | undefined, intent: ImportIntent, at: Date): SubmittingRecord {
  const now = at.toISOString();
  const supersedes = intent.keepsPrevious
    ? undefined
    : (previous?.supersedes ?? (previous?.phase === 'succeeded' ? previous.imageId : undefined));
  return {
    ...(intent.region === undefined ? {} : { region: intent.region }),
    spec: intent.spec,
    specHash: specHash(intent.spec),
    phase: 'submitting',
    attemptId: intent.attemptId,
    ...(supersedes === undefined ? {} : { supersedes }),
    ...(intent.revision === undefined ? {} : { revision: intent.revision }),
    ...(intent.source === undefined ? {} : { source: intent.source }),
    ...failuresOf(previous, intent.spec),
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
  };
}

export function submittedRecord(record: ImageRecord, jobId: string, at: Date): SubmittedRecord {
  return { ...base(record, at), phase: 'submitted', jobId, jobStatus: 'INIT' };
}

/** An attempt whose answer was lost, found again by its tag: IMS has it, its job id is unknown. */
export function foundRecord(record: ImageRecord, imageId: string, at: Date): SubmittedRecord {
  return { ...base(record, at), phase: 'submitted', imageId };
}

export function progressRecord(record: SubmittedRecord, jobStatus: string, at: Date): SubmittedRecord {
  return { ...record, jobStatus, updatedAt: at.toISOString() };
}

export function succeededRecord(record: ImageRecord, imageId: string, at: Date): SucceededRecord {
  const { failures, ...rest } = base(record, at);
  return { ...rest, phase: 'succeeded', imageId, ...jobOf(record) };
}

export function failedRecord(record: ImageRecord, error: JobError, at: Date): FailedRecord {
  const imageId = record.imageId;
  const kept = { code: error.code, reason: truncate(error.reason, MAX_REASON) };
  const failures = (record.failures ?? 0) + 1;
  return {
    ...base(record, at),
    failures,
    phase: 'failed',
    error: kept,
    ...jobOf(record),
    ...(imageId ? { imageId } : {}),
  };
}

/** A spec applied in place (name, description, tags, firmware) to the existing image. */
export function updatedRecord(record: SucceededRecord, spec: ImageSpec, at: Date, revision?: string): SucceededRecord {
  return {
    ...record,
    spec,
    specHash: specHash(spec),
    ...(revision === undefined ? {} : { revision }),
    updatedAt: at.toISOString(),
  };
}

/** The superseded image is gone. */
export function replacedRecord(record: SucceededRecord, at: Date): SucceededRecord {
  const { supersedes, ...rest } = record;
  return { ...rest, updatedAt: at.toISOString() };
}

/** An image found in the account, carrying imsync's tag for this key, taken over as it is. */
export function adoptedRecord(found: {
  readonly imageId: string;
  readonly attemptId: string;
  readonly spec: ImageSpec;
  readonly region?: string;
  readonly at: Date;
}): SucceededRecord {
  const now = found.at.toISOString();
  return {
    ...(found.region === undefined ? {} : { region: found.region }),
    spec: found.spec,
    specHash: specHash(found.spec),
    phase: 'succeeded',
    attemptId: found.attemptId,
    imageId: found.imageId,
    createdAt: now,
    updatedAt: now,
  };
}

/** The fields every phase shares, with the time moved on. */
function base(record: ImageRecord, at: Date): RecordBase {
  const { region, spec, specHash: hash, attemptId, supersedes, revision, failures, source, createdAt } = record;
  return {
    ...(region === undefined ? {} : { region }),
    spec,
    specHash: hash,
    attemptId,
    ...(supersedes === undefined ? {} : { supersedes }),
    ...(revision === undefined ? {} : { revision }),
    ...(failures === undefined ? {} : { failures }),
    ...(source === undefined ? {} : { source }),
    createdAt,
    updatedAt: at.toISOString(),
  };
}

function jobOf(record: ImageRecord): { jobId?: string } {
  return record.jobId === undefined ? {} : { jobId: record.jobId };
}

/** A new attempt of the spec a failed one tried counts on from it; any other starts afresh. */
function failuresOf(previous: ImageRecord | undefined, spec: ImageSpec): { failures?: number } {
  if (previous?.phase !== 'failed' || previous.specHash !== specHash(spec)) return {};
  return { failures: previous.failures ?? 1 };
}

/** The first retry of a failing spec waits this long; each failure after doubles it, up to RETRY_MAX_MS. */
export const RETRY_BASE_MS = 30_000;
export const RETRY_MAX_MS = 60 * 60_000;

/** Whether a failed import may be tried again at `now`: its backoff since it failed has passed. */
export function retryDue(record: FailedRecord, now: Date): boolean {
  const step = Math.min(RETRY_BASE_MS * 2 ** ((record.failures ?? 1) - 1), RETRY_MAX_MS);
  return now.getTime() >= Date.parse(record.updatedAt) + step;
}
