// The recorded state: what imsync has submitted and what became of it. Pure data and pure
// transitions of one record at a time; the stores (file-store.ts) own the I/O and the serial.
import { specHash } from '../manifest/spec.js';
import type { ImageSpec } from '../manifest/types.js';

export const STATE_VERSION = 1;

/**
 * `submitting`: the intent is durable, the POST may or may not have reached IMS.
 * `submitted`: IMS has the import (a job id came back, or the image was found by its tag).
 * `succeeded` / `failed`: the job ended.
 */
export type Phase = 'submitting' | 'submitted' | 'succeeded' | 'failed';

export interface JobError {
  /** The IMS error code, such as IMG.0057. */
  readonly code: string;
  readonly reason: string;
}

export interface ImageRecord {
  /** The region the image lives in, when it was known. */
  readonly region?: string;
  /** The spec last submitted (or applied in place). */
  readonly spec: ImageSpec;
  readonly specHash: string;
  readonly phase: Phase;
  /** Fresh for every import attempt; sent as the `imsync-attempt` tag to find the image again. */
  readonly attemptId: string;
  readonly jobId?: string;
  /** The job status IMS reported last: INIT, RUNNING, SUCCESS or FAIL. */
  readonly jobStatus?: string;
  readonly imageId?: string;
  readonly error?: JobError;
  /** The image this import replaces; deleted once the new one is active. */
  readonly supersedes?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface State {
  readonly version: typeof STATE_VERSION;
  /** Fixed when the state is first written; empty until then. */
  readonly lineage: string;
  /** Incremented by the store on every write. */
  readonly serial: number;
  /** One record per manifest key. */
  readonly images: Readonly<Record<string, ImageRecord>>;
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
}

/**
 * A new import attempt, durable before its POST. An attempt that replaces an active image
 * remembers that image, so that it can be deleted once the new one is active.
 */
export function intentRecord(previous: ImageRecord | undefined, intent: ImportIntent, at: Date): ImageRecord {
  const now = at.toISOString();
  const supersedes = previous?.supersedes ?? (previous?.phase === 'succeeded' ? previous.imageId : undefined);
  return {
    ...(intent.region === undefined ? {} : { region: intent.region }),
    spec: intent.spec,
    specHash: specHash(intent.spec),
    phase: 'submitting',
    attemptId: intent.attemptId,
    ...(supersedes === undefined ? {} : { supersedes }),
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
  };
}

export function submittedRecord(record: ImageRecord, jobId: string, at: Date): ImageRecord {
  return change(record, at, { phase: 'submitted', jobId, jobStatus: 'INIT' });
}

/** An attempt whose answer was lost, found again by its tag: IMS has it, its job id is unknown. */
export function foundRecord(record: ImageRecord, imageId: string, at: Date): ImageRecord {
  return change(record, at, { phase: 'submitted', imageId });
}

export function progressRecord(record: ImageRecord, jobStatus: string, at: Date): ImageRecord {
  return change(record, at, { jobStatus });
}

export function succeededRecord(record: ImageRecord, imageId: string, at: Date): ImageRecord {
  return change(record, at, { phase: 'succeeded', jobStatus: 'SUCCESS', imageId });
}

export function failedRecord(record: ImageRecord, error: JobError, at: Date): ImageRecord {
  return change(record, at, { phase: 'failed', jobStatus: 'FAIL', error });
}

/** A spec applied in place (name, description, tags) to the existing image. */
export function updatedRecord(record: ImageRecord, spec: ImageSpec, at: Date): ImageRecord {
  return change(record, at, { spec, specHash: specHash(spec) });
}

/** The superseded image is gone. */
export function replacedRecord(record: ImageRecord, at: Date): ImageRecord {
  const { supersedes, ...rest } = record;
  return { ...rest, updatedAt: at.toISOString() };
}

function change(record: ImageRecord, at: Date, changes: Partial<ImageRecord>): ImageRecord {
  const { error, ...rest } = record;
  return { ...rest, ...changes, updatedAt: at.toISOString() };
}
