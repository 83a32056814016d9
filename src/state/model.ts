// The recorded state: what imsync has submitted and what became of it. Pure data and pure
// transitions; the stores (file-store.ts) own the I/O and the serial.
import { specHash } from '../manifest/spec.js';
import type { ImageSpec } from '../manifest/types.js';

export const STATE_VERSION = 1;

/**
 * `submitting`: the intent is durable, the POST may or may not have reached IMS.
 * `submitted`: IMS answered with a job id. `succeeded` / `failed`: the job ended.
 */
export type Phase = 'submitting' | 'submitted' | 'succeeded' | 'failed';

export interface JobError {
  /** The IMS error code, such as IMG.0010. */
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

export function emptyState(): State {
  return { version: STATE_VERSION, lineage: '', serial: 0, images: {} };
}

export interface ImportIntent {
  readonly spec: ImageSpec;
  readonly region?: string;
  readonly attemptId: string;
}

/** Records that an import is about to be sent; it must be durable before the POST. */
export function recordIntent(state: State, key: string, intent: ImportIntent, at: Date): State {
  const now = at.toISOString();
  const record: ImageRecord = {
    ...(intent.region === undefined ? {} : { region: intent.region }),
    spec: intent.spec,
    specHash: specHash(intent.spec),
    phase: 'submitting',
    attemptId: intent.attemptId,
    createdAt: state.images[key]?.createdAt ?? now,
    updatedAt: now,
  };
  return withRecord(state, key, record);
}

export function recordSubmitted(state: State, key: string, jobId: string, at: Date): State {
  return update(state, key, at, { phase: 'submitted', jobId, jobStatus: 'INIT' });
}

export function recordSucceeded(state: State, key: string, imageId: string, at: Date): State {
  return update(state, key, at, { phase: 'succeeded', jobStatus: 'SUCCESS', imageId });
}

export function recordFailed(state: State, key: string, error: JobError, at: Date): State {
  return update(state, key, at, { phase: 'failed', jobStatus: 'FAIL', error });
}

/** Records a spec applied in place (name, description, tags) to an existing image. */
export function recordUpdated(state: State, key: string, spec: ImageSpec, at: Date): State {
  return update(state, key, at, { spec, specHash: specHash(spec) });
}

export function forget(state: State, key: string): State {
  const { [key]: forgotten, ...images } = state.images;
  return { ...state, images };
}

function update(state: State, key: string, at: Date, changes: Partial<ImageRecord>): State {
  const record = state.images[key];
  if (!record) throw new Error(`bug: no state record for "${key}"`);
  const { error, ...rest } = record;
  return withRecord(state, key, { ...rest, ...changes, updatedAt: at.toISOString() });
}

function withRecord(state: State, key: string, record: ImageRecord): State {
  return { ...state, images: { ...state.images, [key]: record } };
}
