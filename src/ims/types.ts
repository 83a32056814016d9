// The IMS wire shapes imsync uses, with the API's own field names (research/ims-api.md §2–§11).
import type { ImageSpec, ImageTag } from '../manifest/types.js';

/** The body of POST /v2/cloudimages/quickimport/action. */
export type QuickImportBody = ImageSpec;

export type JobStatus = 'INIT' | 'RUNNING' | 'SUCCESS' | 'FAIL';

export interface Job {
  readonly jobId: string;
  readonly jobType?: string;
  readonly status: JobStatus;
  /** From `entities.image_id`, or the first sub-job's, once known. */
  readonly imageId?: string;
  readonly errorCode?: string;
  readonly failReason?: string;
  readonly beginTime?: string;
  readonly endTime?: string;
  /** `entities.process_percent` of the progress API (GET /v1/cloudimages/job/{id}), 0–100. */
  readonly percent?: number;
  /** `entities.current_task` of the progress API. */
  readonly currentTask?: string;
}

/** An image as GET /v2/cloudimages lists it; the fields imsync reads, the rest kept as sent. */
export interface Image {
  readonly id: string;
  readonly name: string;
  /** queued, saving, active, killed, deleted. */
  readonly status: string;
  /** `key=value` strings. */
  readonly tags: readonly string[];
  readonly [field: string]: unknown;
}

/** An image as the tag query (POST .../images/resource_instances/action) finds it. */
export interface TaggedImage {
  readonly id: string;
  readonly name: string;
  /** From `resource_detail`, when the answer has it. */
  readonly status?: string;
  readonly tags: readonly ImageTag[];
}

export interface ListImagesQuery {
  readonly id?: string;
  readonly name?: string;
  readonly status?: string;
  readonly __imagetype?: 'gold' | 'private' | 'shared' | 'market';
  /** `key=value`. */
  readonly tag?: string;
  readonly limit?: number;
  readonly marker?: string;
  readonly sort_key?: string;
  readonly sort_dir?: 'asc' | 'desc';
}

/** One operation of PATCH /v2/cloudimages/{id}. */
export interface PatchOperation {
  readonly op: 'add' | 'replace' | 'remove';
  /** `/name`, `/__description`, ... */
  readonly path: string;
  readonly value?: string | number;
}

export interface Quota {
  readonly type: string;
  readonly used: number;
  readonly quota: number;
  readonly min: number;
  readonly max: number;
}

export interface OsVersion {
  readonly platform: string;
  readonly osVersion: string;
  readonly osBit: number;
  readonly osType: string;
}

export type { ImageTag };
