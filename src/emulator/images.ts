// The project's private images and their import jobs. A job's progress is derived from the clock:
// INIT for the first tenth of its time, RUNNING until the end, then SUCCESS or FAIL; its image is
// queued, saving, then active or killed, and is settled into its final state when first seen after.
// The realism switches (realism.ts) are played here too, from the same clock: an image is listed
// only once its listing lag has passed, and a deleted one stays listed for the delete lag.
import { ImsFailure, imsMessage } from './errors.js';
import type { FileCheck, Obs } from './obs.js';
import type { IdSource } from './random.js';
import { applyPatch, type Attributes } from './patch.js';
import type { ListTagsStyle, Realism } from './realism.js';
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
  /** Decided at submission, from the simulated OBS as it is then: a later upload does not change a running job. */
  readonly outcome: FileCheck;
}

interface Image {
  readonly id: string;
  /** Submission order, the tie-break of every sort so that pages never overlap. */
  readonly seq: number;
  attributes: Attributes;
  readonly tags: Map<string, string>;
  readonly job: Job;
  /** When GET /v2/cloudimages and the tag query start to show it (the listing lag). */
  readonly listedAt: number;
}

/** A deleted image that stays listed, and counts against the quota, until `goneAt` (the delete lag). */
interface Deleting {
  readonly image: Image;
  readonly goneAt: number;
}

/** An image as GET /v2/cloudimages lists it. */
export interface ImageInfo {
  readonly [field: string]: unknown;
  /** `key=value` (or as the realism's listTags says). */
  readonly tags: readonly string[];
}

export interface ListedImage {
  readonly seq: number;
  readonly info: ImageInfo;
  /** The image's tags as key/value pairs, whatever `info.tags` shows: the tag filter matches these. */
  readonly tags: readonly Tag[];
}

export interface ImageStoreConfig {
  readonly projectId: string;
  /** The region the images are made in: an image file must be in a bucket of this region. */
  readonly region: string;
  readonly obs: Obs;
  readonly ids: IdSource;
  readonly clock: () => number;
  readonly jobMs: number;
  readonly imageQuota: number;
  /** listingLagSeconds, listTags, deleteLagSeconds, obsErrors, unknownId, patchAddConflict, maxConcurrentImports. */
  readonly realism: Realism;
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
  /** Deleted images still listed, by id (empty without a delete lag). */
  private readonly deleting = new Map<string, Deleting>();
  private seq = 0;

  constructor(private readonly config: ImageStoreConfig) {}

  clear(): void {
    this.images.clear();
    this.jobs.clear();
    this.unsettled.clear();
    this.deleting.clear();
    this.seq = 0;
  }

  /**
   * Creates the image (queued) and its job, or refuses with IMG.0015 when the private image quota
   * is used up (every image counts, killed ones and deleted ones still listed too) or IMG.0194 when
   * the cap of running import jobs is reached. With obsErrors `sync`, an OBS problem refuses the
   * request first, with the code its job would fail with. Returns the job id.
   */
  submit(request: ImportRequest): string {
    const { config } = this;
    const { realism } = config;
    const now = config.clock();
    const outcome = config.obs.check(request.bucket, request.key, config.region);
    if (!outcome.ok && realism.obsErrors === 'sync') throw new ImsFailure(outcome.code, outcome.reason);
    if (this.quotaUsed(now) >= config.imageQuota) {
      throw new ImsFailure('IMG.0015', `the quota is ${config.imageQuota} private images`);
    }
    if (this.runningJobs() >= realism.maxConcurrentImports) {
      throw new ImsFailure('IMG.0194', `at most ${realism.maxConcurrentImports} import jobs run at once`);
    }
    const id = config.ids.uuid();
    const job: Job = {
      id: config.ids.hex32(),
      type: request.type === 'DataImage' ? 'imsImportDataImageJob' : 'imsImportImageJob',
      imageId: id,
      imageName: request.name,
      beginAt: now,
      runningAt: now + config.jobMs / 10,
      endAt: now + config.jobMs,
      outcome,
    };
    const image: Image = {
      id,
      seq: this.seq++,
      attributes: newAttributes(id, request, config.projectId, isoSeconds(now)),
      tags: new Map(request.tags.map(({ key, value }) => [key, value])),
      job,
      listedAt: now + realism.listingLagSeconds * 1000,
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

  /** The job as GET /v1/cloudimages/job/{id} shows it: the job, and in `entities` its percent and task. */
  jobProgress(id: string): Record<string, unknown> | undefined {
    const job = this.jobs.get(id);
    return job && jobProgressView(job, this.config.clock());
  }

  jobList(): Record<string, unknown>[] {
    const now = this.config.clock();
    return [...this.jobs.values()].map((job) => jobView(job, now));
  }

  /**
   * Every image GET /v2/cloudimages and the tag query show now, settled up to now: those past their
   * listing lag, deleted ones still in their delete lag among them.
   */
  list(): ListedImage[] {
    const now = this.config.clock();
    this.purge(now);
    const shown = [...this.images.values()];
    // In submission order, as the tag query pages by offset.
    if (this.deleting.size > 0) {
      shown.push(...[...this.deleting.values()].map(({ image }) => image));
      shown.sort((x, y) => x.seq - y.seq);
    }
    return shown
      .filter((image) => image.listedAt <= now)
      .map((image) => listed(this.settle(image, now), this.config.realism.listTags));
  }

  /** One image as list() would show it, or undefined. */
  find(id: string): ListedImage | undefined {
    const now = this.config.clock();
    this.purge(now);
    const image = this.images.get(id) ?? this.deleting.get(id)?.image;
    if (image === undefined || image.listedAt > now) return undefined;
    return listed(this.settle(image, now), this.config.realism.listTags);
  }

  /**
   * What the project holds, for inspection: every image (listed yet or not), tags as `key=value`;
   * apart, deleted images still listed, with when they go.
   */
  snapshot(): { images: ImageInfo[]; deleting: (ImageInfo & { readonly gone_at: string })[] } {
    const now = this.config.clock();
    this.purge(now);
    return {
      images: [...this.images.values()].map((image) => listed(this.settle(image, now), 'k=v').info),
      deleting: [...this.deleting.values()].map(({ image, goneAt }) => ({
        ...listed(image, 'k=v').info,
        gone_at: new Date(goneAt).toISOString(),
      })),
    };
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
    const attributes = applyPatch(image.attributes, body, { addConflict: this.config.realism.patchAddConflict });
    image.attributes = { ...attributes, updated_at: isoSeconds(this.config.clock()) };
    return listed(image, this.config.realism.listTags).info;
  }

  /**
   * DELETE /v2/images/{id}: refused with IMG.0090 while the import job runs. With a delete lag the
   * image stays listed, unchanged, and uses its quota until the lag has passed; deleting it again
   * meanwhile is accepted. The other per-image APIs no longer know it.
   */
  delete(id: string): void {
    const now = this.config.clock();
    this.purge(now);
    if (this.deleting.has(id)) return;
    const image = this.get(id);
    if (this.unsettled.has(image)) {
      throw new ImsFailure('IMG.0090', `the image is ${String(image.attributes.status)} until its import job ends`);
    }
    this.images.delete(id);
    const lagMs = this.config.realism.deleteLagSeconds * 1000;
    if (lagMs > 0) this.deleting.set(id, { image, goneAt: now + lagMs });
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
    const used = this.quotaUsed(this.config.clock());
    return { type: 'image', used, quota: imageQuota, min: 1, max: Math.max(1000, imageQuota) };
  }

  /** The refusal of an unknown image or job id: IMG.0027 with the realism's status (404 or 400). */
  unknownId(detail: string | undefined, base?: string): ImsFailure {
    return new ImsFailure('IMG.0027', detail, this.config.realism.unknownId, base);
  }

  private get(id: string): Image {
    const image = this.images.get(id);
    if (image === undefined) throw this.unknownId(`no image ${id}`);
    return this.settle(image, this.config.clock());
  }

  /** Images counted against the quota: those that exist and those deleted but not yet gone. */
  private quotaUsed(now: number): number {
    this.purge(now);
    return this.images.size + this.deleting.size;
  }

  /** Forgets deleted images whose delete lag has passed. */
  private purge(now: number): void {
    for (const [id, { goneAt }] of this.deleting) if (goneAt <= now) this.deleting.delete(id);
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

/** How far a job is, in the progress API's terms: a percent that grows with the job's time, and a task. */
function jobProgressView(job: Job, now: number): Record<string, unknown> {
  const view = jobView(job, now);
  const span = Math.max(1, job.endAt - job.beginAt);
  const percent =
    view.status === 'SUCCESS' ? 100 : Math.min(99, Math.floor((100 * Math.max(0, now - job.beginAt)) / span));
  const task = view.status === 'INIT' ? 'WaitForImport' : view.status === 'RUNNING' ? 'ConvertImage' : '';
  return {
    ...view,
    entities: {
      ...(view.entities as object),
      image_id: job.imageId,
      image_name: job.imageName,
      process_percent: percent,
      current_task: task,
    },
  };
}

function listed(image: Image, style: ListTagsStyle): ListedImage {
  const tags = [...image.tags].map(([key, value]) => ({ key, value }));
  const shown = style === 'none' ? [] : tags.map(({ key, value }) => `${key}${style === 'k.v' ? '.' : '='}${value}`);
  return { seq: image.seq, info: { ...image.attributes, tags: shown }, tags };
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
