// The OBS calls the emulator serves on a bucket's virtual host (research/obs-preflight.md §1.2–1.4):
// HEAD Object, HEAD Bucket and GET ?location over the simulated OBS, and OBS's error answers (OTC's
// copy of the OBS error codes): on a HEAD, which has no body, the code in x-obs-error-code and
// x-obs-error-message; otherwise an XML body.
import type { WireAnswer } from './http.js';
import type { Encryption, Obs, StoredObject } from './obs.js';

/**
 * The emulator's stand-in for obs.{region}.myhuaweicloud.com: `{bucket}.obs.localhost` is a
 * bucket's virtual host at the default region's OBS, `{bucket}.obs.{region}.localhost` at a
 * region's. Names under `.localhost` are loopback (RFC 6761), so clients reach the emulator through
 * them when it listens on 127.0.0.1 (or on every address) without any DNS set up.
 */
export const OBS_DOMAIN = 'obs.localhost';

/** The OBS domain of a region, or the default region's (OBS_DOMAIN). */
export function obsDomain(region: string | undefined): string {
  return region === undefined ? OBS_DOMAIN : `obs.${region}.localhost`;
}

/**
 * How a request addresses OBS: a bucket's virtual host, or the bare domain (path style), of a
 * region's OBS (`region` undefined: the default region's).
 */
export type ObsHost =
  | { readonly style: 'virtual'; readonly bucket: string; readonly region: string | undefined }
  | { readonly style: 'path'; readonly region: string | undefined };

export type ObsOperation = 'HeadObject' | 'HeadBucket' | 'GetBucketLocation';

export interface ObsCall {
  readonly method: string;
  /** The region of the OBS endpoint called. */
  readonly region: string;
  readonly bucket: string;
  /** Decoded; '' for the bucket itself. */
  readonly key: string;
  /** Path and query as received. */
  readonly rawUrl: string;
  readonly requestId: string;
}

const ERRORS = {
  PermanentRedirect: [
    301,
    'The requested bucket can be accessed only through the specified address. Send subsequent requests to the address.',
  ],
  BadRequest: [400, 'Invalid request parameters.'],
  AccessDenied: [403, 'Access denied.'],
  InvalidAccessKeyId: [403, 'The access key ID provided by the customer does not exist in the system.'],
  RequestTimeTooSkewed: [
    403,
    'There was a large time offset between the OBS server time and the time when the client initiated a request.',
  ],
  SignatureDoesNotMatch: [403, 'The provided signature does not match the signature calculated by OBS.'],
  VirtualHostDomainRequired: [403, 'Virtual host domain is required while accessing a specific bucket.'],
  NoSuchBucket: [404, 'The specified bucket does not exist.'],
  NoSuchKey: [404, 'The specified key does not exist.'],
  MethodNotAllowed: [405, 'The specified method is not allowed against the requested resource.'],
  InternalError: [500, 'An internal error occurs. Retry later.'],
  ServiceUnavailable: [503, 'The server is overloaded or has internal errors.'],
  SlowDown: [503, 'Too frequent requests. Reduce your request frequency.'],
} as const satisfies Record<string, readonly [number, string]>;

export type ObsErrorCode = keyof typeof ERRORS;

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>';
const SERVED = 'the emulator serves HEAD /{key} (HEAD Object), HEAD / (HEAD Bucket) and GET /?location';

/**
 * The OBS addressing of a host name (lower case, without port), or undefined when the request is
 * not for OBS. A bucket name may hold dots: the longest name before `.obs.localhost` or
 * `.obs.{region}.localhost` is the bucket.
 */
export function obsHost(name: string): ObsHost | undefined {
  const found = /^(?:(.+)\.)?obs(?:\.([a-z]+(?:-[a-z]+)*-[0-9]+))?\.localhost$/.exec(name);
  if (found === null) return undefined;
  const [, bucket, region] = found;
  return bucket === undefined ? { style: 'path', region } : { style: 'virtual', bucket, region };
}

/** The answer to a request on the bare domain: the bucket belongs in the host name. */
export function pathStyleAnswer(method: string, path: string, requestId: string, host: ObsHost): WireAnswer {
  return path === '/'
    ? obsError(method, requestId, 'MethodNotAllowed', `${SERVED}, on a bucket's host; not ListBuckets`)
    : obsError(method, requestId, 'VirtualHostDomainRequired', `use {bucket}.${obsDomain(host.region)}`);
}

/** The operation a request on a bucket's host asks for, or the error answering it when it is none served. */
export function obsOperation(
  method: string,
  path: string,
  query: URLSearchParams,
  requestId: string,
): { operation: ObsOperation; key: string } | { refusal: WireAnswer } {
  let key: string;
  try {
    key = decodeURIComponent(path.slice(1));
  } catch {
    return { refusal: obsError(method, requestId, 'BadRequest', `the path ${path} is not percent-encoded correctly`) };
  }
  if (method === 'HEAD') return { operation: key === '' ? 'HeadBucket' : 'HeadObject', key };
  if (method === 'GET' && key === '' && query.has('location')) return { operation: 'GetBucketLocation', key };
  return { refusal: obsError(method, requestId, 'MethodNotAllowed', SERVED) };
}

/** The answer to a signed request, from the simulated OBS as it is now. */
export function answerObs(world: Obs, operation: ObsOperation, call: ObsCall): WireAnswer {
  const { method, requestId } = call;
  const bucket = world.bucket(call.bucket, call.region);
  if (bucket === undefined) return obsError(method, requestId, 'NoSuchBucket', `bucket ${call.bucket}`);
  // Answered whatever the bucket's region: the call exists to find it out.
  if (operation === 'GetBucketLocation') {
    const region = escapeXml(bucket.region);
    return xml(
      200,
      requestId,
      `<Location xmlns="http://obs.${region}.myhuaweicloud.com/doc/2015-06-30/">${region}</Location>`,
    );
  }
  if (bucket.region !== call.region) {
    // Unconfirmed: what OBS answers for a bucket addressed at another region's endpoint is not
    // documented (research/obs-preflight.md §1.1, §6). The emulator answers as OBS-ERR describes
    // PermanentRedirect, with a Location naming the bucket's own regional endpoint; a client should
    // not follow it, but report that the bucket is not in its region.
    const location = `https://${call.bucket}.obs.${bucket.region}.myhuaweicloud.com${call.rawUrl}`;
    return obsError(method, requestId, 'PermanentRedirect', `bucket ${call.bucket} is in region ${bucket.region}`, {
      location: headerSafe(location),
    });
  }
  if (operation === 'HeadBucket') {
    return {
      status: 200,
      headers: {
        ...common(requestId),
        'x-obs-bucket-location': headerSafe(bucket.region),
        // Unlike an object's, a bucket's class is sent when it is Standard too.
        'x-obs-storage-class': bucket.storageClass,
        'x-obs-version': '3.0',
      },
      text: '',
    };
  }
  const object = world.object(call.bucket, call.key);
  if (object === undefined) {
    return obsError(method, requestId, 'NoSuchKey', `key ${call.key} in bucket ${call.bucket}`);
  }
  return { status: 200, headers: { ...common(requestId), ...objectHeaders(object) }, text: '' };
}

/** HEAD Object's headers: x-obs-storage-class only when the class is not Standard (OBS-HEADOBJ). */
function objectHeaders(object: StoredObject): Record<string, string> {
  return {
    'content-length': String(object.size),
    etag: object.etag,
    'last-modified': new Date(object.uploadedAt).toUTCString(),
    ...(object.storageClass === 'STANDARD' ? {} : { 'x-obs-storage-class': object.storageClass }),
    ...(object.encryption === undefined ? {} : ENCRYPTION_HEADERS[object.encryption]),
  };
}

const ENCRYPTION_HEADERS: Readonly<Record<Encryption, Record<string, string>>> = {
  kms: { 'x-obs-server-side-encryption': 'kms' },
  AES256: { 'x-obs-server-side-encryption': 'AES256' },
  customer: { 'x-obs-server-side-encryption-customer-algorithm': 'AES256' },
};

/** OBS's error: its documented message, then the specific problem for people trying the emulator. */
export function obsError(
  method: string,
  requestId: string,
  code: ObsErrorCode,
  detail?: string,
  headers: Record<string, string> = {},
): WireAnswer {
  const [status, base] = ERRORS[code];
  const message = detail === undefined ? base : `${base.replace(/\.$/, '')}: ${detail}`;
  if (method === 'HEAD') {
    return {
      status,
      headers: {
        ...common(requestId),
        ...headers,
        'x-obs-error-code': code,
        'x-obs-error-message': headerSafe(message),
      },
      text: '',
    };
  }
  const body = `<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message><RequestId>${requestId}</RequestId></Error>`;
  return xml(status, requestId, body, headers);
}

function xml(status: number, requestId: string, body: string, headers: Record<string, string> = {}): WireAnswer {
  const text = `${XML_DECLARATION}${body}`;
  return {
    status,
    headers: {
      ...common(requestId),
      ...headers,
      'content-type': 'application/xml',
      'content-length': String(Buffer.byteLength(text)),
    },
    text,
  };
}

function common(requestId: string): Record<string, string> {
  return { server: 'OBS', 'x-obs-request-id': requestId };
}

/** Printable ASCII, so that node takes it as a header value: anything else percent-encoded. */
function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c));
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot' }[c]};`);
}
