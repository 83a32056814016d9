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
  type PreflightCache,
  type SourceObject,
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

/** An import submitted after the pre-flight saw its image file as `source`. */
export function sourced(state: State, key: string, spec: ImageSpec, source: SourceObject = imageFile): State {
  const next = set(state, key, intentRecord(state.images[key], { spec, attemptId: `attempt-${key}`, source }, at));
  return set(next, key, submittedRecord(next.images[key]!, `job-${key}`, at));
}

/** An 8 GiB file uploaded in one PUT: its ETag is its MD5. */
export const imageFile: SourceObject = { etag: '"9b2cf535f27731c974343645a3985328"', size: 8 * 2 ** 30 };

/** What a pre-flight found fine: two files (one of them a multipart upload) and their bucket. */
export function preflightCache(): PreflightCache {
  const checkedAt = at.toISOString();
  return {
    objects: {
      'golden-images:web-base.zvhd2': { ...imageFile, checkedAt },
      'golden-images:db.raw': { etag: '"d41d8cd98f00b204e9800998ecf8427e-3"', size: 42 * 2 ** 30, checkedAt },
    },
    buckets: { 'golden-images': { region: 'ap-southeast-1', storageClass: 'STANDARD', checkedAt } },
  };
}

export function failed(state: State, key: string, spec: ImageSpec, error: JobError): State {
  const next = submitted(state, key, spec);
  return set(next, key, failedRecord(next.images[key]!, error, at));
}

export { emptyState };
