// The project's private images and their import jobs. A job's progress is derived from the clock:
// INIT for the first tenth of its time, RUNNING until the end, then SUCCESS or FAIL; its image is
// queued, saving, then active or killed, and is settled into its final state when first seen after.
import { ImsFailure, imsMessage } from './errors.js';
import type { FileCheck, Obs } from './obs.js';
import type { IdSource } from './random.js';
import { applyPatch, type Attributes } from './patch.js';
import { MAX_TAGS, type ImportRequest, type Tag } from './validate.js';

export type JobStatus = 'INIT' | 'RUNNING' | 'SUCCESS' | 'FAIL';

interface Job {
  readonly id: string;
  readonly type: 'imsImportImageJob' | 'imsImportDataImageJob';
  readonly imageId: string;
  readonly imageName: string;
  readonly beginAt: number;
  readonly runningAt: number;
  readonly endAt: number;
  /** Decided at submission: the simulated OBS does not change while the job runs. */
  readonly outcome: FileCheck;
}

interface Image {
  readonly id: string;
  /** Submission order, the tie-break of every sort so that pages never overlap. */
  readonly seq: number;
  attributes: Attributes;
  readonly tags: Map<string, string>;
  readonly job: Job;
}

/** An image as GET /v2/cloudimages lists it. */
export interface ImageInfo {
  readonly [field: string]: unknown;
  /** `key=value`. */
  readonly tags: readonly string[];
}

export interface ListedImage {
  readonly seq: number;
  readonly info: ImageInfo;
}

export interface ImageStoreConfig {
  readonly projectId: string;
  readonly obs: Obs;
  readonly ids: IdSource;
  readonly clock: () => number;
  readonly jobMs: number;
  readonly imageQuota: number;
  readonly maxConcurrentImports: number;
}

const IMAGE_STATUS: Readonly<Record<JobStatus, string>> = {
  INIT: 'queued',
  RUNNING: 'saving',
  SUCCESS: 'active',
  FAIL: 'killed',
};

export class ImageStore {
  private readonly images = new Map<string, Image>();
  private readonly jobs = new Map<string, Job>();
  /** Images whose job had not ended when last looked at. */
  private readonly unsettled = new Set<Image>();
  private seq = 0;

  constructor(private readonly config: ImageStoreConfig) {}

  clear(): void {
    this.images.clear();
    this.jobs.clear();
    this.unsettled.clear();
    this.seq = 0;
  }

  /**
   * Creates the image (queued) and its job, or refuses with IMG.0015 when the private image quota
   * is used up (every image counts, killed ones too) or IMG.0194 when the cap of running import
   * jobs is reached. Returns the job id.
   */
  submit(request: ImportRequest): string {
    const { config } = this;
    if (this.images.size >= config.imageQuota) {
      throw new ImsFailure('IMG.0015', `the quota is ${config.imageQuota} private images`);
    }
    if (this.runningJobs() >= config.maxConcurrentImports) {
      throw new ImsFailure('IMG.0194', `at most ${config.maxConcurrentImports} import jobs run at once`);
    }
    const now = config.clock();
    const id = config.ids.uuid();
    const job: Job = {
      id: config.ids.hex32(),
      type: request.type === 'DataImage' ? 'imsImportDataImageJob' : 'imsImportImageJob',
      imageId: id,
      imageName: request.name,
      beginAt: now,
      runningAt: now + config.jobMs / 10,
      endAt: now + config.jobMs,
      outcome: config.obs.check(request.bucket, request.key),
    };
    const image: Image = {
      id,
      seq: this.seq++,
      attributes: newAttributes(id, request, config.projectId, isoSeconds(now)),
      tags: new Map(request.tags.map(({ key, value }) => [key, value])),
      job,
    };
    this.jobs.set(job.id, job);
    this.images.set(id, image);
    this.unsettled.add(image);
    this.settle(image, now);
    return job.id;
  }

  /** The job in the shape of GET /v1/{project_id}/jobs/{job_id}, or undefined. */
  job(id: string): Record<string, unknown> | undefined {
    const job = this.jobs.get(id);
    return job && jobView(job, this.config.clock());
  }

  jobList(): Record<string, unknown>[] {
    const now = this.config.clock();
    return [...this.jobs.values()].map((job) => jobView(job, now));
  }

  /** Every image, settled up to now. */
  list(): ListedImage[] {
    const now = this.config.clock();
    return [...this.images.values()].map((image) => listed(this.settle(image, now)));
  }

  /** One image, settled up to now, or undefined. */
  find(id: string): ListedImage | undefined {
    const image = this.images.get(id);
    return image && listed(this.settle(image, this.config.clock()));
  }

  /** PATCH /v2/cloudimages/{id}: only active images can be updated (IMG.0046 otherwise). */
  update(id: string, body: Buffer): ImageInfo {
    const image = this.get(id);
    if (image.attributes.status !== 'active') {
      throw new ImsFailure(
        'IMG.0046',
        `the image is ${String(image.attributes.status)}; only active images can be updated`,
      );
    }
    image.attributes = { ...applyPatch(image.attributes, body), updated_at: isoSeconds(this.config.clock()) };
    return listed(image).info;
  }

  /** DELETE /v2/images/{id}: refused with IMG.0090 while the import job runs. */
  delete(id: string): void {
    const image = this.get(id);
    if (this.unsettled.has(image)) {
      throw new ImsFailure('IMG.0090', `the image is ${String(image.attributes.status)} until its import job ends`);
    }
    this.images.delete(id);
  }

  tags(id: string): Tag[] {
    return [...this.get(id).tags].map(([key, value]) => ({ key, value }));
  }

  /** Adds or overwrites; refused with IMG.0116 when the image would have more than MAX_TAGS. */
  addTags(id: string, tags: readonly Tag[]): void {
    const image = this.get(id);
    const keys = new Set([...image.tags.keys(), ...tags.map(({ key }) => key)]);
    if (keys.size > MAX_TAGS) {
      throw new ImsFailure('IMG.0116', `the image would have ${keys.size} tags; at most ${MAX_TAGS} are allowed`);
    }
    for (const { key, value } of tags) image.tags.set(key, value);
    this.touch(image);
  }

  /** Batch delete: by key, whatever the value; a missing tag counts as deleted. */
  removeTags(id: string, keys: readonly string[]): void {
    const image = this.get(id);
    for (const key of keys) image.tags.delete(key);
    this.touch(image);
  }

  /** Single delete: not idempotent, a missing key is 404 as documented. */
  removeTag(id: string, key: string): void {
    const image = this.get(id);
    if (!image.tags.delete(key)) {
      throw new ImsFailure('IMG.0115', `the image has no tag with key ${JSON.stringify(key)}`, 404);
    }
    this.touch(image);
  }

  /** Every tag key in the project with its distinct values, both sorted. */
  projectTags(): { key: string; values: string[] }[] {
    const values = new Map<string, Set<string>>();
    for (const image of this.images.values()) {
      for (const [key, value] of image.tags) values.set(key, (values.get(key) ?? new Set()).add(value));
    }
    return [...values].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, set]) => ({ key, values: [...set].sort() }));
  }

  quota(): { type: string; used: number; quota: number; min: number; max: number } {
    const { imageQuota } = this.config;
    return { type: 'image', used: this.images.size, quota: imageQuota, min: 1, max: Math.max(1000, imageQuota) };
  }

  private get(id: string): Image {
    const image = this.images.get(id);
    if (image === undefined) throw new ImsFailure('IMG.0027', `no image ${id}`, 404);
    return this.settle(image, this.config.clock());
  }

  private touch(image: Image): void {
    image.attributes = { ...image.attributes, updated_at: isoSeconds(this.config.clock()) };
  }

  /** Jobs not yet ended; at most the cap, so counting them is cheap. */
  private runningJobs(): number {
    const now = this.config.clock();
    for (const image of this.unsettled) this.settle(image, now);
    return this.unsettled.size;
  }

  /** Brings the image's status up to `now`; an image is settled for good once its job has ended. */
  private settle(image: Image, now: number): Image {
    if (!this.unsettled.has(image)) return image;
    const { job } = image;
    const status = jobStatus(job, now);
    if (IMAGE_STATUS[status] === image.attributes.status) return image;
    const changed: Attributes = { status: IMAGE_STATUS[status] };
    if (status === 'RUNNING') changed.updated_at = isoSeconds(job.runningAt);
    if (status === 'SUCCESS' || status === 'FAIL') {
      changed.updated_at = isoSeconds(job.endAt);
      this.unsettled.delete(image);
    }
    if (status === 'SUCCESS' && job.outcome.ok) {
      changed.active_at = isoSeconds(job.endAt);
      changed.__image_size = String(job.outcome.size);
    }
    image.attributes = { ...image.attributes, ...changed };
    return image;
  }
}

function jobStatus(job: Job, now: number): JobStatus {
  if (now >= job.endAt) return job.outcome.ok ? 'SUCCESS' : 'FAIL';
  return now >= job.runningAt ? 'RUNNING' : 'INIT';
}

/** The documented ShowJob shape (research/ims-api.md §3.1); end_time is "" until the job ends. */
function jobView(job: Job, now: number): Record<string, unknown> {
  const status = jobStatus(job, now);
  const ended = status === 'SUCCESS' || status === 'FAIL';
  const failure = job.outcome.ok ? undefined : job.outcome;
  return {
    job_id: job.id,
    job_type: job.type,
    begin_time: new Date(job.beginAt).toISOString(),
    end_time: ended ? new Date(job.endAt).toISOString() : '',
    status,
    error_code: status === 'FAIL' && failure ? failure.code : null,
    fail_reason: status === 'FAIL' && failure ? imsMessage(failure.code, failure.reason) : null,
    entities: status === 'SUCCESS' ? { image_id: job.imageId, image_name: job.imageName } : {},
  };
}

function listed(image: Image): ListedImage {
  const tags = [...image.tags].map(([key, value]) => `${key}=${value}`);
  return { seq: image.seq, info: { ...image.attributes, tags } };
}

/** The attributes of a new image, in the documented ImageInfo fields (research/ims-api.md §7.2). */
function newAttributes(id: string, request: ImportRequest, owner: string, now: string): Attributes {
  const format = /\.([a-z0-9]+)$/i.exec(request.key)?.[1]?.toLowerCase();
  const attributes: Attributes = {
    schema: '/v2/schemas/image',
    id,
    name: request.name,
    status: 'queued',
    visibility: 'private',
    protected: false,
    container_format: 'bare',
    // IMS's default format stands in for a file of any other kind (its job fails anyway).
    disk_format: format === 'raw' ? 'raw' : 'zvhd2',
    min_disk: request.minDisk,
    min_ram: 0,
    size: 0,
    virtual_size: null,
    owner,
    self: `/v2/images/${id}`,
    file: `/v2/images/${id}/file`,
    created_at: now,
    updated_at: now,
    __imagetype: 'private',
    __isregistered: 'true',
    __image_source_type: 'uds',
    __image_size: '0',
    __os_type: request.osType,
    __root_origin: 'file',
    __lazyloading: 'true',
    virtual_env_type: { ECS: 'FusionCompute', BMS: 'Ironic', DataImage: 'DataImage' }[request.type],
    enterprise_project_id: request.enterpriseProjectId,
  };
  if (request.os !== undefined) {
    attributes.__os_version = request.os.os_version;
    attributes.__platform = request.os.platform;
    attributes.__os_bit = String(request.os.os_bit);
  }
  if (request.architecture !== undefined) {
    attributes.architecture = request.architecture;
    if (request.architecture === 'arm') attributes.__support_arm = 'true';
  }
  if (request.firmware !== undefined) attributes.hw_firmware_type = request.firmware;
  // IMS leaves an empty description out (Terraform's drift fix a066ae23d8).
  if (request.description !== '') attributes.__description = request.description;
  return attributes;
}

/** ISO 8601 UTC without milliseconds, as IMS writes image times. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
