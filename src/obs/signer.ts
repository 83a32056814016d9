// OBS's own header signature (research/obs-preflight.md §2.1): HMAC-SHA1 over the verb, the
// Content-MD5 and Content-Type, the date, the x-obs-* headers and the bucket-qualified resource.
// Not the API gateway's SDK-HMAC-SHA256 (ims/signer.ts): OBS is not behind the gateway. And the
// emulator's side of the check.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Credentials } from '../ims/signer.js';

/** The sub-resources that take part in the signature (OBS-SIGN's fixed list, sorted). */
const SUB_RESOURCES = new Set([
  'CDNNotifyConfiguration',
  'acl',
  'append',
  'attname',
  'backtosource',
  'cors',
  'customdomain',
  'delete',
  'deletebucket',
  'directcoldaccess',
  'encryption',
  'inventory',
  'length',
  'lifecycle',
  'location',
  'logging',
  'metadata',
  'modify',
  'name',
  'notification',
  'partNumber',
  'policy',
  'position',
  'quota',
  'rename',
  'replication',
  'requestPayment',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'response-content-language',
  'response-content-type',
  'response-expires',
  'restore',
  'storageClass',
  'storagePolicy',
  'storageinfo',
  'tagging',
  'torrent',
  'truncate',
  'uploadId',
  'uploads',
  'versionId',
  'versioning',
  'versions',
  'website',
  'x-image-process',
  'x-image-save-bucket',
  'x-image-save-object',
  'x-obs-security-token',
]);
const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;

export interface ObsRequest {
  /** Upper case. */
  readonly method: string;
  readonly bucket: string;
  /** The object key as stored (not encoded); '' for a bucket-level request. */
  readonly key: string;
  /** Sub-resources, e.g. { location: '' } for GET /?location. */
  readonly query?: Readonly<Record<string, string>>;
}

/** The path of a virtual-hosted request: the key encoded as the official SDK does, '/' kept. */
export function objectPath(key: string): string {
  return `/${encodeURIComponent(key)
    .replaceAll('%2F', '/')
    .replace(/[!*'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

/** Path and query as sent on the wire. */
export function wirePath(request: ObsRequest): string {
  const query = Object.entries(request.query ?? {})
    .map(([name, value]) =>
      value === '' ? encodeURIComponent(name) : `${encodeURIComponent(name)}=${encodeURIComponent(value)}`,
    )
    .join('&');
  return `${objectPath(request.key)}${query === '' ? '' : `?${query}`}`;
}

/** The headers to send with request: date, the security token when there is one, authorization. */
export function signObsRequest(request: ObsRequest, credentials: Credentials, date: Date): Record<string, string> {
  const headers: Record<string, string> = { date: date.toUTCString() };
  if (credentials.securityToken !== undefined) headers['x-obs-security-token'] = credentials.securityToken;
  const signature = sign(
    credentials.secretKey,
    stringToSign(request.method, headers, `/${request.bucket}${wirePath(request)}`),
  );
  return { ...headers, authorization: `OBS ${credentials.accessKey}:${signature}` };
}

/**
 * StringToSign: VERB, Content-MD5, Content-Type, Date ('' when x-obs-date is sent), then every
 * x-obs-* header (lower-case name, trimmed value, repeated ones joined by ',', sorted), then the
 * resource (/bucket/key and the signed sub-resources, sorted).
 */
export function stringToSign(
  method: string,
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  resource: string,
): string {
  const value = (name: string) => {
    const found = headers[name];
    return found === undefined ? '' : typeof found === 'string' ? found : found.join(',');
  };
  const obsHeaders = Object.keys(headers)
    .map((name) => name.toLowerCase())
    .filter((name) => name.startsWith('x-obs-'))
    .sort()
    .map((name) => `${name}:${value(name).trim()}\n`)
    .join('');
  const date = headers['x-obs-date'] === undefined ? value('date') : '';
  return `${method}\n${value('content-md5')}\n${value('content-type')}\n${date}\n${obsHeaders}${canonicalResource(resource)}`;
}

/** /bucket/key?sub-resources: only the signed ones, sorted, `name=value` when there is a value. */
function canonicalResource(resource: string): string {
  const queryStart = resource.indexOf('?');
  if (queryStart < 0) return resource;
  const signed = resource
    .slice(queryStart + 1)
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      return eq < 0 ? [decode(part), ''] : [decode(part.slice(0, eq)), decode(part.slice(eq + 1))];
    })
    .filter(([name]) => SUB_RESOURCES.has(name!))
    .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
    .map(([name, value]) => (value === '' ? name : `${name}=${value}`));
  return signed.length === 0 ? resource.slice(0, queryStart) : `${resource.slice(0, queryStart)}?${signed.join('&')}`;
}

function sign(secretKey: string, text: string): string {
  return createHmac('sha1', secretKey).update(text, 'utf8').digest('base64');
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export interface ReceivedObsRequest {
  readonly method: string;
  readonly bucket: string;
  /** Path + query exactly as received. */
  readonly rawUrl: string;
  /** node's IncomingHttpHeaders (lower-case names). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type ObsVerification =
  | { readonly ok: true; readonly accessKey: string }
  | {
      readonly ok: false;
      /** OBS's error code for it. */
      readonly code: 'AccessDenied' | 'InvalidAccessKeyId' | 'SignatureDoesNotMatch' | 'RequestTimeTooSkewed';
      readonly reason: string;
    };

/** OBS's check of a received request: its date within the skew, its access key known, its signature. */
export function verifyObsSignature(
  request: ReceivedObsRequest,
  secretFor: (accessKey: string) => string | undefined,
  now: Date,
  maxSkewMs: number = DEFAULT_MAX_SKEW_MS,
): ObsVerification {
  const header = (name: string) => {
    const value = request.headers[name];
    return Array.isArray(value) ? value.join(',') : value;
  };
  const authorization = /^OBS ([^:\s]+):(\S+)$/.exec(header('authorization') ?? '');
  if (!authorization) return { ok: false, code: 'AccessDenied', reason: 'no OBS Authorization header' };
  const [, accessKey, signature] = authorization as unknown as [string, string, string];
  const dateText = header('x-obs-date') ?? header('date');
  const signedAt = dateText === undefined ? NaN : Date.parse(dateText);
  if (Number.isNaN(signedAt)) return { ok: false, code: 'AccessDenied', reason: 'no valid Date or x-obs-date header' };
  if (Math.abs(signedAt - now.getTime()) > maxSkewMs) {
    return {
      ok: false,
      code: 'RequestTimeTooSkewed',
      reason: `the request time ${dateText} is more than ${maxSkewMs / 60_000} min away from the server's`,
    };
  }
  const secret = secretFor(accessKey);
  if (secret === undefined) return { ok: false, code: 'InvalidAccessKeyId', reason: `unknown access key ${accessKey}` };
  const expected = Buffer.from(
    sign(secret, stringToSign(request.method, request.headers, `/${request.bucket}${request.rawUrl}`)),
  );
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, code: 'SignatureDoesNotMatch', reason: 'the signature does not match the request' };
  }
  return { ok: true, accessKey };
}
