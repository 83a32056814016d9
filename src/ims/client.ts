// The IMS HTTP client: one keep-alive pool per endpoint (or a dispatcher it is given), AK/SK or
// token authentication, the shared request budget, and retries that never repeat a request that may
// have had an effect unless repeating it is harmless.
import { randomInt } from 'node:crypto';
import { Agent, Pool, type Dispatcher } from 'undici';
import { systemClock, type Clock } from '../clock.js';
import { loopbackLookup } from '../loopback.js';
import { excerpt } from '../text.js';
import { backoffDelay } from './backoff.js';
import { RequestBudget } from './budget.js';
import { classifyStatus, classifyTransportError, ImsError, parseErrorBody } from './errors.js';
import { signRequest, type Credentials } from './signer.js';
import type {
  Image,
  ImageTag,
  Job,
  JobStatus,
  ListImagesQuery,
  OsVersion,
  PatchOperation,
  QuickImportBody,
  Quota,
  TaggedImage,
} from './types.js';

export type Authentication =
  { readonly kind: 'aksk'; readonly credentials: Credentials } | { readonly kind: 'token'; readonly token: string };

/** How a client of an HTTP API sends: its budget, attempts, timeouts and connections. */
export interface TransportOptions {
  /** Shared by every client of the same endpoint; one is made when not given. */
  readonly budget?: RequestBudget;
  readonly clock?: Clock;
  /** Attempts per call, the first included, for answers that allow another. */
  readonly maxAttempts?: number;
  readonly connectTimeoutMs?: number;
  /**
   * How long one attempt may take, from sending to the last byte of the answer; an answer not
   * complete by then counts as never received (an ambiguous TIMEOUT).
   */
  readonly requestTimeoutMs?: number;
  /** Connections per origin. */
  readonly connections?: number;
  /**
   * Sends the requests instead of connections of the client's own (the options above are then
   * unused): an undici MockAgent for tests, or a proxy agent. Its owner closes it.
   */
  readonly dispatcher?: Dispatcher;
  /** Told of every attempt's outcome: the HTTP status, or the transport error's code. */
  readonly onResponse?: (response: { readonly route: string; readonly status: string }) => void;
}

/**
 * What a client sends through: the dispatcher it was given, or an agent of its own (to be closed
 * with it) reaching several origins, each request bounded by its own deadline rather than undici's.
 */
export function ownTransport(
  options: TransportOptions,
  connections: number,
): { readonly dispatcher: Dispatcher; readonly own?: Agent } {
  if (options.dispatcher !== undefined) return { dispatcher: options.dispatcher };
  const own = new Agent({
    connections: options.connections ?? connections,
    connect: { timeout: options.connectTimeoutMs ?? 10_000, lookup: loopbackLookup },
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  return { dispatcher: own, own };
}

export interface ImsClientOptions extends TransportOptions {
  /** `https://ims.{region}.myhuaweicloud.com`, or an emulator's URL. */
  readonly endpoint: string;
  readonly projectId: string;
  readonly auth: Authentication;
}

interface Call {
  /** The API operation, for metrics: quick_import, get_job, ... */
  readonly route: string;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: unknown;
  /** Whether sending it twice has the effect of sending it once. */
  readonly idempotent: boolean;
  readonly signal?: AbortSignal | undefined;
  /** Statuses that are not errors besides 2xx (a DELETE's 404: already gone). */
  readonly alsoFine?: readonly number[];
  /** Error codes that are no error either (a DELETE's IMG.0027, unknown id: already gone). */
  readonly alsoFineCodes?: readonly string[];
  /** Error codes the caller handles itself: thrown at once, never retried here. */
  readonly handOver?: readonly string[];
}

interface Answer {
  readonly status: number;
  readonly json: unknown;
  /** The body as received, for quoting an answer that is not what was expected. */
  readonly text: string;
}

const JOB_STATUSES: readonly JobStatus[] = ['INIT', 'RUNNING', 'SUCCESS', 'FAIL'];
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/**
 * The largest answer read. The largest legitimate one, a page of 1000 images with every field,
 * ten tags and a full description, is about 5.5 MiB; beyond the cap the answer is dropped unread.
 */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
/** Job and image ids: 32 hex digits and UUIDs in every IMS seen; anything else is no id of IMS's. */
const ID = /^[A-Za-z0-9-]{1,64}$/;
/** Error codes (IMG.0057, APIGW.0308) and statuses (active, saving): short tokens. */
const TOKEN = /^[A-Za-z0-9._-]{1,64}$/;
/** API messages and job failure reasons are cut to this many characters. */
const MAX_MESSAGE = 1000;
/**
 * What a header value may hold (undici's own rule). undici refuses any other value only once it
 * has taken one of the pool's connections for the request, and never gives that connection back.
 */
export const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export class ImsClient {
  readonly endpoint: URL;
  readonly budget: RequestBudget;
  private readonly dispatcher: Dispatcher;
  /** The pool made here, closed by close(); none when a dispatcher was given. */
  private readonly ownPool: Pool | undefined;
  private readonly clock: Clock;
  /** Whether the endpoint serves the job progress API; learnt at the first job asked. */
  private progressApi = true;

  constructor(private readonly options: ImsClientOptions) {
    this.endpoint = new URL(options.endpoint);
    this.clock = options.clock ?? systemClock;
    this.budget = options.budget ?? new RequestBudget(this.clock);
    if (options.dispatcher !== undefined) {
      this.ownPool = undefined;
      this.dispatcher = options.dispatcher;
    } else {
      this.ownPool = new Pool(this.endpoint.origin, {
        connections: options.connections ?? 32,
        connect: { timeout: options.connectTimeoutMs ?? 10_000, lookup: loopbackLookup },
        // The request's own deadline covers the wait for headers and for the whole body.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      this.dispatcher = this.ownPool;
    }
  }

  async close(): Promise<void> {
    await this.ownPool?.close();
  }

  /**
   * Submits a quick import and returns its job id. Never repeated after an ambiguous failure:
   * the caller settles those (DESIGN.md §5); only provably unprocessed attempts are retried.
   */
  async quickImport(body: QuickImportBody, signal?: AbortSignal): Promise<string> {
    const answer = await this.send({
      route: 'quick_import',
      method: 'POST',
      path: '/v2/cloudimages/quickimport/action',
      body,
      idempotent: false,
      signal,
      // The concurrent-import cap: the executor waits for one of its jobs to end, not for a backoff.
      handOver: ['IMG.0194'],
    });
    const jobId = (answer.json as { job_id?: unknown } | null)?.job_id;
    if (typeof jobId !== 'string' || !ID.test(jobId)) throw badResponse('quick import', 'no usable job_id', answer);
    return jobId;
  }

  async getJob(jobId: string, signal?: AbortSignal): Promise<Job> {
    if (this.progressApi) {
      // The progress API answers what the job API does, and its percent too (research/ims-api.md §3.2).
      const path = `/v1/cloudimages/job/${encodeURIComponent(jobId)}`;
      try {
        const call = { route: 'get_job_progress', method: 'GET' as const, path, idempotent: true, signal };
        return decodeJob((await this.send(call)).json);
      } catch (error) {
        // An endpoint without it answers the gateway's "no such API": asked no more.
        if (!(error instanceof ImsError && error.code === 'APIGW.0101')) throw error;
        this.progressApi = false;
      }
    }
    const path = `/v1/${encodeURIComponent(this.options.projectId)}/jobs/${encodeURIComponent(jobId)}`;
    return decodeJob((await this.send({ route: 'get_job', method: 'GET', path, idempotent: true, signal })).json);
  }

  /** One page of GET /v2/cloudimages. */
  async listImages(query: ListImagesQuery = {}, signal?: AbortSignal): Promise<Image[]> {
    const answer = await this.send({
      route: 'list_images',
      method: 'GET',
      path: '/v2/cloudimages',
      // An IAM user scoped to enterprise projects sees only the default one without it (as TF sends it).
      query: { enterprise_project_id: 'all_granted_eps', ...query },
      idempotent: true,
      signal,
    });
    const images = (answer.json as { images?: unknown } | null)?.images;
    if (!Array.isArray(images)) throw badResponse('list images', 'no images array');
    return images.map(decodeImage);
  }

  /**
   * Every page of GET /v2/cloudimages, following the last id as the marker until an empty page. A
   * short page does not prove the end: the server's largest page is not documented and may be
   * smaller than the limit asked for (Terraform's provider pages the same way).
   */
  async *listAllImages(query: ListImagesQuery = {}, signal?: AbortSignal): AsyncGenerator<Image> {
    const limit = query.limit ?? 500;
    let marker = query.marker;
    for (;;) {
      const page = await this.listImages({ ...query, limit, ...(marker === undefined ? {} : { marker }) }, signal);
      if (page.length === 0) return;
      yield* page;
      marker = page[page.length - 1]!.id;
    }
  }

  /**
   * Every image carrying the tag key, whatever its value, with its tags, through the tag query API
   * (POST .../images/resource_instances/action) in pages of its documented maximum, 1000, until the
   * offset reaches the total the server counts or a page comes back empty.
   */
  async *listTaggedImages(tagKey: string, signal?: AbortSignal): AsyncGenerator<TaggedImage> {
    const path = `/v2/${encodeURIComponent(this.options.projectId)}/images/resource_instances/action`;
    let offset = 0;
    for (;;) {
      const answer = await this.send({
        route: 'list_images_by_tag',
        method: 'POST',
        path,
        body: { action: 'filter', tags: [{ key: tagKey, values: [] }], limit: '1000', offset: String(offset) },
        idempotent: true,
        signal,
      });
      const { resources, total_count: total } = (answer.json ?? {}) as { resources?: unknown; total_count?: unknown };
      if (!Array.isArray(resources) || typeof total !== 'number') {
        throw badResponse('list images by tag', 'no resources array or total_count');
      }
      if (resources.length === 0) return;
      yield* resources.map(decodeTaggedImage);
      offset += resources.length;
      if (offset >= total) return;
    }
  }

  /** The image with this id, or undefined when there is none (an empty list means gone). */
  async getImage(id: string, signal?: AbortSignal): Promise<Image | undefined> {
    const [image] = await this.listImages({ id }, signal);
    return image;
  }

  async updateImage(id: string, operations: readonly PatchOperation[], signal?: AbortSignal): Promise<Image> {
    const path = `/v2/cloudimages/${encodeURIComponent(id)}`;
    return decodeImage(
      (await this.send({ route: 'update_image', method: 'PATCH', path, body: operations, idempotent: true, signal }))
        .json,
    );
  }

  /** Deletes an image; one that is already gone counts as deleted. */
  async deleteImage(id: string, signal?: AbortSignal): Promise<void> {
    await this.sendDelete('delete_image', `/v2/images/${encodeURIComponent(id)}`, signal);
  }

  async listImageTags(id: string, signal?: AbortSignal): Promise<ImageTag[]> {
    const answer = await this.send({
      route: 'list_image_tags',
      method: 'GET',
      path: this.tagsPath(id),
      idempotent: true,
      signal,
    });
    const tags = (answer.json as { tags?: unknown } | null)?.tags;
    if (!Array.isArray(tags)) throw badResponse('list image tags', 'no tags array');
    return tags.map((tag) => {
      const { key, value } = (tag ?? {}) as { key?: unknown; value?: unknown };
      if (typeof key !== 'string' || typeof value !== 'string')
        throw badResponse('list image tags', 'a tag without key or value');
      return { key, value };
    });
  }

  /** Adds or deletes tags in one call; both are idempotent (an existing key is overwritten, a missing one ignored). */
  async changeImageTags(
    id: string,
    action: 'create' | 'delete',
    tags: readonly ImageTag[],
    signal?: AbortSignal,
  ): Promise<void> {
    await this.send({
      route: 'change_image_tags',
      method: 'POST',
      path: `${this.tagsPath(id)}/action`,
      body: { action, tags },
      idempotent: true,
      signal,
    });
  }

  async addImageTag(id: string, tag: ImageTag, signal?: AbortSignal): Promise<void> {
    await this.send({
      route: 'add_image_tag',
      method: 'POST',
      path: this.tagsPath(id),
      body: { tag },
      idempotent: true,
      signal,
    });
  }

  /** Deletes one tag; a key that is not there (404) counts as deleted. */
  async deleteImageTag(id: string, key: string, signal?: AbortSignal): Promise<void> {
    await this.sendDelete('delete_image_tag', `${this.tagsPath(id)}/${encodeURIComponent(key)}`, signal);
  }

  async getQuota(signal?: AbortSignal): Promise<Quota[]> {
    const answer = await this.send({
      route: 'get_quota',
      method: 'GET',
      path: '/v1/cloudimages/quota',
      idempotent: true,
      signal,
    });
    const resources = (answer.json as { quotas?: { resources?: unknown } } | null)?.quotas?.resources;
    if (!Array.isArray(resources)) throw badResponse('quota', 'no quotas.resources array');
    return resources as Quota[];
  }

  async listOsVersions(signal?: AbortSignal): Promise<OsVersion[]> {
    const answer = await this.send({
      route: 'list_os_versions',
      method: 'GET',
      path: '/v1/cloudimages/os_version',
      idempotent: true,
      signal,
    });
    if (!Array.isArray(answer.json)) throw badResponse('os versions', 'not an array');
    return (
      answer.json as { version_list?: { platform: string; os_version: string; os_bit: number; os_type: string }[] }[]
    ).flatMap((group) =>
      (group.version_list ?? []).map((v) => ({
        platform: v.platform,
        osVersion: v.os_version,
        osBit: v.os_bit,
        osType: v.os_type,
      })),
    );
  }

  /** A DELETE of something that may be gone already: 404, or IMG.0027 (unknown id), counts as done. */
  private async sendDelete(route: string, path: string, signal: AbortSignal | undefined): Promise<void> {
    await this.send({
      route,
      method: 'DELETE',
      path,
      idempotent: true,
      signal,
      alsoFine: [404],
      alsoFineCodes: ['IMG.0027'],
    });
  }

  private tagsPath(id: string): string {
    return `/v2/${encodeURIComponent(this.options.projectId)}/images/${encodeURIComponent(id)}/tags`;
  }

  /** Sends a call within the budget, retrying what may be retried with backoff and full jitter. */
  private async send(call: Call): Promise<Answer> {
    const maxAttempts = this.options.maxAttempts ?? 6;
    for (let attempt = 0; ; attempt++) {
      await this.budget.acquire(call.signal);
      let error: ImsError;
      try {
        const answer = await this.sendOnce(call);
        this.budget.succeeded();
        this.options.onResponse?.({ route: call.route, status: String(answer.status) });
        return answer;
      } catch (caught) {
        if (!(caught instanceof ImsError)) throw caught;
        error = caught;
      }
      this.options.onResponse?.({
        route: call.route,
        status: error.status === undefined ? error.code : String(error.status),
      });
      // Only the gateway's 429 is about the request rate; IMS flow control (IMG.0060, IMG.0194) is
      // about running jobs, which backing off answers.
      if (error.status === 429) this.budget.throttled();
      const mayRetry =
        !call.handOver?.includes(error.code) &&
        (error.retry === 'safe' || (error.retry === 'ambiguous' && call.idempotent));
      if (!mayRetry || attempt + 1 >= maxAttempts) throw error;
      await this.clock.sleep(
        error.retryAfterMs ?? backoffDelay(attempt, randomInt(1_000_000) / 1_000_000),
        call.signal,
      );
    }
  }

  private async sendOnce(call: Call): Promise<Answer> {
    const url = new URL(call.path + queryString(call.query), this.endpoint);
    const body = call.body === undefined ? '' : JSON.stringify(call.body);
    const headers = this.authenticate(call.method, url, body);
    const what = `${call.method} ${url.pathname}`;
    const unsendable = Object.keys(headers).find((name) => !HEADER_VALUE.test(headers[name]!));
    if (unsendable !== undefined) {
      throw new ImsError(
        `${what}: the ${unsendable} header holds a character HTTP cannot carry; nothing was sent`,
        'INVALID_HEADER',
        'never',
      );
    }
    // One deadline for the whole attempt: undici's own timeouts restart with every byte, so an
    // answer that drips would never end.
    const timeoutMs = this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const deadline = AbortSignal.timeout(timeoutMs);
    let status: number;
    let text: string | undefined;
    let responseHeaders: Record<string, string | string[] | undefined>;
    try {
      const response = await this.dispatcher.request({
        origin: this.endpoint.origin,
        method: call.method,
        path: url.pathname + url.search,
        headers,
        ...(body === '' ? {} : { body }),
        signal: call.signal ? AbortSignal.any([call.signal, deadline]) : deadline,
      });
      status = response.statusCode;
      responseHeaders = response.headers;
      text = await readAnswer(response.body);
    } catch (error) {
      if (call.signal?.aborted) throw error;
      const transport = classifyTransportError(error);
      const detail = deadline.aborted ? `no complete answer within ${timeoutMs / 1000}s` : transport.detail;
      throw new ImsError(`${what}: ${detail}`, transport.code, transport.retry);
    }
    if (text === undefined) {
      throw new ImsError(
        `${what}: the answer (${status}) is over ${MAX_ANSWER_BYTES} bytes; it was not read`,
        'ANSWER_TOO_LARGE',
        'ambiguous',
        status,
      );
    }
    const requestId = headerValue(responseHeaders['x-request-id']);
    if ((status >= 200 && status < 300) || call.alsoFine?.includes(status)) {
      try {
        return { status, text, json: text === '' ? null : (JSON.parse(text) as unknown) };
      } catch {
        throw new ImsError(
          `${what}: the answer (${status}) is not JSON: ${excerpt(text)}`,
          'BAD_RESPONSE',
          'ambiguous',
          status,
          requestId,
        );
      }
    }
    const parsed = parseErrorBody(text);
    const code = parsed.code !== undefined && TOKEN.test(parsed.code) ? parsed.code : undefined;
    if (code !== undefined && call.alsoFineCodes?.includes(code)) return { status, text, json: null };
    const retryAfterMs = parseRetryAfter(headerValue(responseHeaders['retry-after']), this.clock.now());
    const message = excerpt(parsed.message ?? text, MAX_MESSAGE) || 'no message';
    throw new ImsError(
      `${what}: ${status} ${code ?? 'error'}: ${message}${requestId ? ` (request id ${excerpt(requestId, 64)})` : ''}`,
      code ?? `HTTP_${status}`,
      classifyStatus(status, code),
      status,
      requestId,
      retryAfterMs,
    );
  }

  private authenticate(method: string, url: URL, body: string): Record<string, string> {
    const headers = { 'content-type': 'application/json' };
    if (this.options.auth.kind === 'token') return { ...headers, 'x-auth-token': this.options.auth.token };
    return signRequest(
      { method, url, headers: { ...headers, 'x-project-id': this.options.projectId }, body },
      this.options.auth.credentials,
      new Date(this.clock.now()),
    );
  }
}

/** `?a=1&b=x%20y`: spaces as %20, as the signature's canonical query has them. */
function queryString(query: Call['query']): string {
  const pairs = Object.entries(query ?? {}).filter(
    (entry): entry is [string, string | number] => entry[1] !== undefined,
  );
  if (pairs.length === 0) return '';
  return `?${pairs.map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`).join('&')}`;
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 120_000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.min(Math.max(0, date - now), 120_000);
}

/**
 * The body as text, read as it streams in; undefined over `maxBytes`, where it is dropped and the
 * connection with it.
 */
export async function readAnswer(
  body: Dispatcher.ResponseData['body'],
  maxBytes = MAX_ANSWER_BYTES,
): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** An answer of the wrong shape; quoted when it is at hand. */
function badResponse(what: string, detail: string, answer?: Answer): ImsError {
  const quoted = answer === undefined ? '' : `: ${excerpt(answer.text) || 'an empty body'}`;
  return new ImsError(`${what}: unexpected answer (${detail})${quoted}`, 'BAD_RESPONSE', 'ambiguous', answer?.status);
}

function decodeJob(value: unknown): Job {
  const job = (value ?? {}) as Record<string, unknown>;
  const status = job.status as JobStatus;
  if (typeof job.job_id !== 'string' || !ID.test(job.job_id) || !JOB_STATUSES.includes(status))
    throw badResponse('job', 'no usable job_id or an unknown status');
  const entities = (job.entities ?? {}) as {
    image_id?: unknown;
    sub_jobs_result?: { entities?: { image_id?: unknown } }[];
    error_code?: unknown;
    error?: unknown;
    addition_error_code?: unknown;
    addition_error_msg?: unknown;
    process_percent?: unknown;
    current_task?: unknown;
  };
  const imageId = text(entities.image_id ?? entities.sub_jobs_result?.[0]?.entities?.image_id);
  if (imageId !== undefined && !ID.test(imageId)) throw badResponse('job', 'an image id of no known form');
  // A failure's detail may sit at the top level or only in `entities` (SDK JobEntities).
  const errorCode = [job.error_code, entities.error_code, entities.addition_error_code].map(text).find(isToken);
  const reason = text(job.fail_reason) ?? text(entities.error) ?? text(entities.addition_error_msg);
  const failReason = reason === undefined ? undefined : excerpt(reason, MAX_MESSAGE);
  return {
    jobId: job.job_id,
    status,
    ...optional('jobType', text(job.job_type)),
    ...optional('imageId', imageId),
    ...optional('errorCode', errorCode),
    ...optional('failReason', failReason),
    ...optional('beginTime', text(job.begin_time)),
    ...optional('endTime', text(job.end_time)),
    ...optional('currentTask', text(entities.current_task)),
    ...(typeof entities.process_percent === 'number' && entities.process_percent >= 0 && entities.process_percent <= 100
      ? { percent: entities.process_percent }
      : {}),
  };
}

function decodeImage(value: unknown): Image {
  const image = (value ?? {}) as Record<string, unknown>;
  if (typeof image.id !== 'string' || typeof image.name !== 'string' || typeof image.status !== 'string') {
    throw badResponse('image', 'an image without id, name or status');
  }
  if (!ID.test(image.id) || !isToken(image.status)) throw badResponse('image', 'an id or a status of no known form');
  const tags = Array.isArray(image.tags) ? image.tags.filter((tag): tag is string => typeof tag === 'string') : [];
  return { ...image, id: image.id, name: image.name, status: image.status, tags };
}

function decodeTaggedImage(value: unknown): TaggedImage {
  const resource = (value ?? {}) as {
    resource_id?: unknown;
    resource_name?: unknown;
    resource_detail?: unknown;
    tags?: unknown;
  };
  if (typeof resource.resource_id !== 'string' || typeof resource.resource_name !== 'string') {
    throw badResponse('list images by tag', 'a resource without resource_id or resource_name');
  }
  if (!ID.test(resource.resource_id)) throw badResponse('list images by tag', 'a resource_id of no known form');
  if (!Array.isArray(resource.tags)) throw badResponse('list images by tag', 'a resource without a tags array');
  const tags = resource.tags.map((tag: unknown) => {
    const { key, value } = (tag ?? {}) as { key?: unknown; value?: unknown };
    if (typeof key !== 'string' || typeof value !== 'string') {
      throw badResponse('list images by tag', 'a tag without key or value');
    }
    return { key, value };
  });
  const status = (resource.resource_detail as { status?: unknown } | null | undefined)?.status;
  return {
    id: resource.resource_id,
    name: resource.resource_name,
    ...optional('status', isToken(status) ? status : undefined),
    tags,
  };
}

function text(field: unknown): string | undefined {
  return typeof field === 'string' && field !== '' ? field : undefined;
}

function isToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN.test(value);
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}
