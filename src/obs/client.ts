// The OBS client of the import pre-flight: HEAD Bucket and HEAD Object on the bucket's own host
// (virtual-hosted), with OBS's own signature, within a request budget of its own (OBS requests do
// not count toward IMS's rate). A HEAD has no effect, so every transient failure is retried.
import { randomInt } from 'node:crypto';
import { Agent, type Dispatcher } from 'undici';
import { systemClock, type Clock } from '../clock.js';
import { backoffDelay } from '../ims/backoff.js';
import { RequestBudget } from '../ims/budget.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, HEADER_VALUE, ownTransport, type TransportOptions } from '../ims/client.js';
import { classifyTransportError } from '../ims/errors.js';
import type { Credentials } from '../ims/signer.js';
import { excerpt } from '../text.js';
import { bucketNameProblem, bucketOrigin } from './endpoints.js';
import { signObsRequest, wirePath, type ObsRequest } from './signer.js';

export interface ObsClientOptions extends TransportOptions {
  /** From obsEndpoint(): `https://obs.{region}.myhuaweicloud.com`, or an override. */
  readonly endpoint: URL;
  /** OBS takes AK/SK signatures only, with the security token of temporary credentials. */
  readonly credentials: Credentials;
}

/** A 3xx: the bucket is served elsewhere (another region's endpoint). Never followed. */
export interface Moved {
  readonly kind: 'moved';
  readonly status: number;
  readonly location?: string;
  readonly requestId?: string;
}

/** A refusal other than "not found": 403 AccessDenied, SignatureDoesNotMatch, 400 InvalidBucketName, ... */
export interface Denied {
  readonly kind: 'denied';
  readonly status: number;
  /** From x-obs-error-code; HEAD answers have no body. */
  readonly code?: string;
  readonly message?: string;
  readonly requestId?: string;
}

export type BucketHead =
  | {
      readonly kind: 'found';
      /** x-obs-bucket-location: the region the bucket is in. */
      readonly region: string | undefined;
      /** The bucket's default storage class (sent for Standard buckets too). */
      readonly storageClass: string | undefined;
      /** A parallel file system rather than an object bucket. */
      readonly fileSystem: boolean;
    }
  | { readonly kind: 'missing' }
  | Moved
  | Denied;

/** SSE-KMS, SSE-OBS, and SSE-C (the key held by the customer). */
export type ObjectEncryption = 'kms' | 'AES256' | 'customer';

export type ObjectHead =
  | {
      readonly kind: 'found';
      /** Bytes. */
      readonly size: number;
      /** As sent, quotes included; not an MD5 for multipart uploads. */
      readonly etag: string;
      readonly lastModified?: string;
      /** STANDARD when OBS sends no class, as it does for Standard objects. */
      readonly storageClass: string;
      readonly encryption?: ObjectEncryption;
    }
  /** The code tells a missing object from a missing bucket, when OBS sent one. */
  | { readonly kind: 'missing'; readonly code?: 'NoSuchKey' | 'NoSuchBucket' }
  | Moved
  | Denied;

/** A call that failed: transient answers until the attempts ran out, a transport failure, or an unusable answer. */
export class ObsError extends Error {
  override readonly name = 'ObsError';
  constructor(
    message: string,
    /** OBS's code (SlowDown, InternalError), a transport code (ECONNREFUSED, TIMEOUT), or BAD_RESPONSE. */
    readonly code: string,
    readonly status?: number,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

interface Target {
  /** For metrics. */
  readonly route: 'obs_head_bucket' | 'obs_head_object';
  readonly bucket: string;
  /** '' for the bucket itself. */
  readonly key: string;
}

/** An answer that is not transient, with what is needed to quote it. */
interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly requestId: string | undefined;
}

type Attempt =
  | ({ readonly ok: true } & Answer)
  | { readonly ok: false; readonly error: ObsError; readonly retry: boolean; readonly throttled: boolean };

const DEFAULT_MAX_ATTEMPTS = 6;
const MAX_KEY_BYTES = 1024;
/** Error codes and request ids: short tokens; anything else is not quoted. */
const TOKEN = /^[A-Za-z0-9._-]{1,128}$/;
const REGION_ID = /^[a-z0-9-]{1,64}$/;
const STORAGE_CLASS = /^[A-Z][A-Z0-9_]{0,31}$/;
const CONTENT_LENGTH = /^[0-9]{1,16}$/;
/** An entity tag (RFC 9110 §8.8.3), of a length an MD5 or a multipart tag has room in. */
const ETAG = /^(?:W\/)?"[\x21\x23-\x7e]{0,200}"$/;
const MAX_LOCATION = 2048;
const MAX_MESSAGE = 300;

export class ObsClient {
  readonly endpoint: URL;
  readonly budget: RequestBudget;
  private readonly dispatcher: Dispatcher;
  /** The agent made here, closed by close(); none when a dispatcher was given. */
  private readonly ownAgent: Agent | undefined;
  private readonly clock: Clock;

  constructor(private readonly options: ObsClientOptions) {
    this.endpoint = options.endpoint;
    this.clock = options.clock ?? systemClock;
    this.budget = options.budget ?? new RequestBudget(this.clock);
    // An agent, not a pool: every bucket is an origin of its own.
    const transport = ownTransport(options, 16);
    this.dispatcher = transport.dispatcher;
    this.ownAgent = transport.own;
  }

  async close(): Promise<void> {
    await this.ownAgent?.close();
  }

  /** HEAD Bucket: where the bucket is and its default class, in one bodiless call. */
  async headBucket(bucket: string, signal?: AbortSignal): Promise<BucketHead> {
    const target: Target = { route: 'obs_head_bucket', bucket, key: '' };
    const answer = await this.head(target, signal);
    if (answer.status === 404) return { kind: 'missing' };
    if (!isSuccess(answer.status)) return refusal(answer);
    const fileInterface = header(answer, 'x-obs-fs-file-interface');
    return {
      kind: 'found',
      region: checked(target, answer, 'x-obs-bucket-location', REGION_ID),
      storageClass: checked(target, answer, 'x-obs-storage-class', STORAGE_CLASS),
      fileSystem: fileInterface?.toLowerCase() === 'enabled',
    };
  }

  /** HEAD Object: size, entity tag, class and encryption of an object. */
  async headObject(bucket: string, key: string, signal?: AbortSignal): Promise<ObjectHead> {
    const target: Target = { route: 'obs_head_object', bucket, key };
    const answer = await this.head(target, signal);
    if (answer.status === 404) {
      const code = errorCode(answer);
      return { kind: 'missing', ...(code === 'NoSuchKey' || code === 'NoSuchBucket' ? { code } : {}) };
    }
    if (!isSuccess(answer.status)) return refusal(answer);
    const length = checked(target, answer, 'content-length', CONTENT_LENGTH);
    const size = Number(length);
    if (length === undefined || !Number.isSafeInteger(size)) {
      throw malformed(target, answer, 'no usable Content-Length');
    }
    const etag = checked(target, answer, 'etag', ETAG);
    if (etag === undefined) throw malformed(target, answer, 'no ETag');
    const lastModified = header(answer, 'last-modified');
    if (lastModified !== undefined && (lastModified.length > 64 || Number.isNaN(Date.parse(lastModified)))) {
      throw malformed(target, answer, `a Last-Modified that is not a date: ${excerpt(lastModified, 64)}`);
    }
    const encryption = encryptionOf(target, answer);
    return {
      kind: 'found',
      size,
      etag,
      ...(lastModified === undefined ? {} : { lastModified }),
      storageClass: checked(target, answer, 'x-obs-storage-class', STORAGE_CLASS) ?? 'STANDARD',
      ...(encryption === undefined ? {} : { encryption }),
    };
  }

  /** Sends a HEAD within the budget until an answer that is not transient, with backoff and full jitter. */
  private async head(target: Target, signal: AbortSignal | undefined): Promise<Answer> {
    const problem =
      bucketNameProblem(target.bucket) ?? (target.route === 'obs_head_object' ? keyProblem(target.key) : undefined);
    if (problem !== undefined) {
      throw new ObsError(`HEAD ${subject(target)}: ${problem}; nothing was sent`, 'INVALID_NAME');
    }
    const maxAttempts = this.options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    for (let attempt = 0; ; attempt++) {
      await this.budget.acquire(signal);
      const outcome = await this.headOnce(target, signal);
      this.options.onResponse?.({
        route: target.route,
        status: outcome.ok ? String(outcome.status) : String(outcome.error.status ?? outcome.error.code),
      });
      if (outcome.ok) {
        // A 404 or a 403 went through as well as a 200: only transient answers say to slow down.
        this.budget.succeeded();
        return outcome;
      }
      if (outcome.throttled) this.budget.throttled();
      if (!outcome.retry) throw outcome.error;
      if (attempt + 1 >= maxAttempts) {
        const { message, code, status, requestId } = outcome.error;
        const attempts = maxAttempts === 1 ? 'the one attempt' : `${maxAttempts} attempts`;
        throw new ObsError(`${message}; gave up after ${attempts}`, code, status, requestId);
      }
      await this.clock.sleep(backoffDelay(attempt, randomInt(1_000_000) / 1_000_000), signal);
    }
  }

  private async headOnce(target: Target, signal: AbortSignal | undefined): Promise<Attempt> {
    const request: ObsRequest = { method: 'HEAD', bucket: target.bucket, key: target.key };
    const headers = signObsRequest(request, this.options.credentials, new Date(this.clock.now()));
    const what = `HEAD ${subject(target)}`;
    const unsendable = Object.keys(headers).find((name) => !HEADER_VALUE.test(headers[name]!));
    if (unsendable !== undefined) {
      const error = new ObsError(
        `${what}: the ${unsendable} header holds a character HTTP cannot carry; nothing was sent`,
        'INVALID_HEADER',
      );
      return { ok: false, error, retry: false, throttled: false };
    }
    const timeoutMs = this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const deadline = AbortSignal.timeout(timeoutMs);
    let status: number;
    let responseHeaders: Answer['headers'];
    try {
      const response = await this.dispatcher.request({
        origin: bucketOrigin(this.endpoint, target.bucket).origin,
        method: 'HEAD',
        path: wirePath(request),
        headers,
        signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
      });
      status = response.statusCode;
      responseHeaders = response.headers;
      // A HEAD answer has no body; whatever came is dropped.
      await response.body.dump();
    } catch (caught) {
      if (signal?.aborted) throw caught;
      const transport = classifyTransportError(caught);
      const detail = deadline.aborted ? `no answer within ${timeoutMs / 1000}s` : transport.detail;
      const error = new ObsError(`${what}: ${detail}`, transport.code);
      return { ok: false, error, retry: transport.retry !== 'never', throttled: false };
    }
    const answer = {
      status,
      headers: responseHeaders,
      requestId: checkedToken(headerValue(responseHeaders['x-obs-request-id'])),
    };
    if (status < 500 && status !== 429) return { ok: true, ...answer };
    const code = errorCode(answer);
    const error = new ObsError(
      `${what}: ${status} ${code ?? 'error'}${requestIdNote(answer)}`,
      code ?? `HTTP_${status}`,
      status,
      answer.requestId,
    );
    return { ok: false, error, retry: true, throttled: status === 429 || (status === 503 && code === 'SlowDown') };
  }
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** A 3xx (moved) or a 4xx other than 404 (denied). */
function refusal(answer: Answer): Moved | Denied {
  const requestId = answer.requestId === undefined ? {} : { requestId: answer.requestId };
  if (answer.status >= 300 && answer.status < 400) {
    const location = locationOf(header(answer, 'location'));
    return { kind: 'moved', status: answer.status, ...(location === undefined ? {} : { location }), ...requestId };
  }
  const code = errorCode(answer);
  const message = header(answer, 'x-obs-error-message');
  return {
    kind: 'denied',
    status: answer.status,
    ...(code === undefined ? {} : { code }),
    ...(message === undefined || excerpt(message) === '' ? {} : { message: excerpt(message, MAX_MESSAGE) }),
    ...requestId,
  };
}

/** A redirect's target as an absolute URL, normalised; undefined when absent or unusable. */
function locationOf(value: string | undefined): string | undefined {
  if (value === undefined || value.length > MAX_LOCATION || !URL.canParse(value)) return undefined;
  return new URL(value).href;
}

function encryptionOf(target: Target, answer: Answer): ObjectEncryption | undefined {
  if (header(answer, 'x-obs-server-side-encryption-customer-algorithm') !== undefined) return 'customer';
  const sse = header(answer, 'x-obs-server-side-encryption');
  if (sse === undefined || sse === 'kms' || sse === 'AES256') return sse;
  throw malformed(target, answer, `an unknown server-side encryption: ${excerpt(sse, 64)}`);
}

function errorCode(answer: Answer): string | undefined {
  return checkedToken(header(answer, 'x-obs-error-code'));
}

function checkedToken(value: string | undefined): string | undefined {
  return value !== undefined && TOKEN.test(value) ? value : undefined;
}

/** The header's value when it has the expected form, undefined when absent; any other value fails the call. */
function checked(target: Target, answer: Answer, name: string, form: RegExp): string | undefined {
  const value = header(answer, name);
  if (value === undefined || form.test(value)) return value;
  throw malformed(target, answer, `${name}: ${excerpt(value, 64) || 'empty'}`);
}

function header(answer: Answer, name: string): string | undefined {
  return headerValue(answer.headers[name]);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function malformed(target: Target, answer: Answer, detail: string): ObsError {
  return new ObsError(
    `HEAD ${subject(target)}: unexpected answer (${answer.status}, ${detail})${requestIdNote(answer)}`,
    'BAD_RESPONSE',
    answer.status,
    answer.requestId,
  );
}

function requestIdNote(answer: Answer): string {
  return answer.requestId === undefined ? '' : ` (request id ${answer.requestId})`;
}

/** `bucket NAME`, or `BUCKET:KEY` as manifests write an image file. */
function subject(target: Target): string {
  const bucket = excerpt(target.bucket, 100);
  return target.route === 'obs_head_bucket' ? `bucket ${bucket}` : `${bucket}:${excerpt(target.key, 300)}`;
}

function keyProblem(key: string): string | undefined {
  if (key === '') return 'an object key is not empty';
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(key)) {
    return 'the object key is not valid Unicode';
  }
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `an object key has at most ${MAX_KEY_BYTES} bytes`;
  return undefined;
}
