// States built with the model's own transitions, for tests.
import type { ImageSpec } from '../../src/manifest/types.js';
import {
  emptyState,
  failedRecord,
  intentRecord,
  submittedRecord,
  succeededRecord,
  withChanges,
  type ImageRecord,
  type JobError,
  type State,
} from '../../src/state/model.js';

export const at = new Date('2026-11-26T10:00:00Z');

export function set(state: State, key: string, record: ImageRecord | null): State {
  return withChanges(state, new Map([[key, record]]));
}

/** An import whose intent is durable and whose answer has not come. */
export function submitting(state: State, key: string, spec: ImageSpec, region?: string): State {
  const intent = { spec, attemptId: `attempt-${key}`, ...(region === undefined ? {} : { region }) };
  return set(state, key, intentRecord(state.images[key], intent, at));
}

export function submitted(state: State, key: string, spec: ImageSpec, jobId = `job-${key}`, region?: string): State {
  const next = submitting(state, key, spec, region);
  return set(next, key, submittedRecord(next.images[key]!, jobId, at));
}

export function imported(state: State, key: string, spec: ImageSpec, region?: string, imageId = `image-${key}`): State {
  const next = submitted(state, key, spec, `job-${key}`, region);
  return set(next, key, succeededRecord(next.images[key]!, imageId, at));
}

export function failed(state: State, key: string, spec: ImageSpec, error: JobError): State {
  const next = submitted(state, key, spec);
  return set(next, key, failedRecord(next.images[key]!, error, at));
}

export { emptyState };
