// AK/SK request signing (SDK-HMAC-SHA256), as Huawei Cloud's API gateway checks it, and the
// gateway's side of the check for the IMS emulator. Close to AWS SigV4, but with no credential
// scope and no derived key: the HMAC is keyed by the raw secret key.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface Credentials {
  readonly accessKey: string;
  readonly secretKey: string;
  readonly securityToken?: string;
}

const ALGORITHM = 'SDK-HMAC-SHA256';
const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;
// Headers signRequest adds itself; callers passing them would end up with two conflicting values.
const RESERVED_HEADERS = new Set(['host', 'x-sdk-date', 'x-security-token', 'authorization']);

/** YYYYMMDDTHHmmssZ in UTC. */
export function sdkDate(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

export interface SignableRequest {
  /** Upper case. */
  readonly method: string;
  /** Full URL, path and query as they will be sent on the wire. */
  readonly url: URL;
  /** E.g. content-type, x-project-id; NOT host, x-sdk-date or authorization. */
  readonly headers: Readonly<Record<string, string>>;
  /** The exact bytes that will be sent ('' for none). */
  readonly body: string;
}

/**
 * Headers to send: the input headers plus host, x-sdk-date, x-security-token (when credentials
 * have one) and authorization. Every header returned except authorization is signed.
 */
export function signRequest(request: SignableRequest, credentials: Credentials, date: Date): Record<string, string> {
  const xSdkDate = sdkDate(date);
  const added: Record<string, string> = { host: request.url.host, 'x-sdk-date': xSdkDate };
  if (credentials.securityToken !== undefined) added['x-security-token'] = credentials.securityToken;

  const toSign = new Map<string, string>();
  for (const [name, value] of Object.entries(request.headers)) {
    const lower = name.toLowerCase();
    if (RESERVED_HEADERS.has(lower)) throw new Error(`signRequest adds the ${lower} header itself; do not pass it`);
    if (toSign.has(lower)) throw new Error(`header ${lower} is given twice`);
    toSign.set(lower, value);
  }
  for (const [name, value] of Object.entries(added)) toSign.set(name, value);

  const signedHeaders = [...toSign.keys()].sort(compareBytes);
  const canonical = canonicalRequest(
    request.method,
    request.url.pathname,
    request.url.search.slice(1),
    signedHeaders.map((name) => [name, toSign.get(name) ?? '']),
    payloadHash(toSign.get('x-sdk-content-sha256'), request.body),
  );
  const signature = hmacHex(credentials.secretKey, stringToSign(xSdkDate, canonical));
  return {
    ...request.headers,
    ...added,
    authorization: `${ALGORITHM} Access=${credentials.accessKey}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`,
  };
}

export interface ReceivedRequest {
  readonly method: string;
  /** Path + query exactly as received (req.url of node:http). */
  readonly rawUrl: string;
  /** node's IncomingHttpHeaders (lower-case names). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export type Verification =
  | { readonly ok: true; readonly accessKey: string }
  | { readonly ok: false; readonly reason: string; readonly canonicalRequest?: string };

/** Recomputes the signature from the request's own SignedHeaders list, as the API gateway does. */
export function verifySignature(
  request: ReceivedRequest,
  secretFor: (accessKey: string) => string | undefined,
  now: Date,
  maxSkewMs: number = DEFAULT_MAX_SKEW_MS,
): Verification {
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return Array.isArray(value) ? value.join(',') : value;
  };

  const authorization = header('authorization');
  if (authorization === undefined) return fail('missing Authorization header');
  const parsed = parseAuthorization(authorization);
  if (typeof parsed === 'string') return fail(parsed);
  const { accessKey, signedHeaders, signature } = parsed;

  // The date is what makes a captured request unusable later, so it must be covered by the signature.
  if (!signedHeaders.includes('x-sdk-date')) return fail('x-sdk-date must be one of the SignedHeaders');
  const dateValue = header('x-sdk-date');
  if (dateValue === undefined) return fail('x-sdk-date header is missing');
  const signedAt = parseSdkDate(dateValue);
  if (signedAt === undefined)
    return fail(`x-sdk-date ${JSON.stringify(dateValue)} is not in the YYYYMMDDTHHmmssZ format`);
  const skew = signedAt.getTime() - now.getTime();
  if (Math.abs(skew) > maxSkewMs) {
    const off =
      skew < 0
        ? `request expired: x-sdk-date ${dateValue} is ${duration(-skew)} in the past`
        : `x-sdk-date ${dateValue} is ${duration(skew)} in the future`;
    return fail(`${off}; at most ${duration(maxSkewMs)} of clock skew is allowed`);
  }

  const secret = secretFor(accessKey);
  if (secret === undefined) return fail(`unknown access key ${JSON.stringify(accessKey)}`);

  const headers: [string, string][] = [];
  for (const name of signedHeaders) {
    const value = header(name);
    if (value === undefined) return fail(`signed header ${name} is missing from the request`);
    headers.push([name, value]);
  }
  const queryStart = request.rawUrl.indexOf('?');
  const path = queryStart < 0 ? request.rawUrl : request.rawUrl.slice(0, queryStart);
  const query = queryStart < 0 ? '' : request.rawUrl.slice(queryStart + 1);
  const canonical = canonicalRequest(
    request.method,
    path,
    query,
    headers,
    payloadHash(header('x-sdk-content-sha256'), request.body),
  );
  const expected = Buffer.from(hmacHex(secret, stringToSign(dateValue, canonical)));
  if (!timingSafeEqual(expected, Buffer.from(signature))) {
    return { ok: false, reason: 'signature does not match the request', canonicalRequest: canonical };
  }
  return { ok: true, accessKey };
}

function fail(reason: string): Verification {
  return { ok: false, reason };
}

/** Both sides start from what travels on the wire, so they canonicalise the same text. */
function canonicalRequest(
  method: string,
  wirePath: string,
  wireQuery: string,
  headers: readonly (readonly [string, string])[],
  payload: string,
): string {
  return [
    method,
    canonicalUri(wirePath),
    canonicalQuery(wireQuery),
    headers.map(([name, value]) => `${name}:${value.trim()}\n`).join(''),
    headers.map(([name]) => name).join(';'),
    payload,
  ].join('\n');
}

// Decoding first makes `%20`, `%C3%A9` and `é` canonicalise alike, however the client escaped them.
function canonicalUri(wirePath: string): string {
  const encoded = wirePath
    .split('/')
    .map((segment) => encode(decode(segment)))
    .join('/');
  return encoded.endsWith('/') ? encoded : `${encoded}/`;
}

// Sorted by the decoded names and values, as both official SDKs do; repeated keys keep every value.
function canonicalQuery(wireQuery: string): string {
  const pairs = wireQuery
    .split('&')
    .filter((part) => part !== '')
    .map((part): [string, string] => {
      const eq = part.indexOf('=');
      return eq < 0 ? [decode(part), ''] : [decode(part.slice(0, eq)), decode(part.slice(eq + 1))];
    })
    .sort(([k1, v1], [k2, v2]) => compareBytes(k1, k2) || compareBytes(v1, v2));
  return pairs.map(([name, value]) => `${encode(name)}=${encode(value)}`).join('&');
}

// Like decodeURIComponent ('+' stays '+'), but a malformed escape is kept as text instead of
// throwing, so a garbled URL fails verification instead of crashing the server.
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Percent-encodes the UTF-8 bytes of text, keeping only RFC 3986 unreserved characters. */
function encode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** UTF-8 byte order. JavaScript's default sort compares UTF-16 code units, which puts U+10000 and above before U+E000-U+FFFF. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// `x-sdk-content-sha256: UNSIGNED-PAYLOAD` lets a client leave a large body out of the signature.
function payloadHash(declared: string | undefined, body: string | Buffer): string {
  return declared ?? createHash('sha256').update(body).digest('hex');
}

function stringToSign(date: string, canonical: string): string {
  return [ALGORITHM, date, createHash('sha256').update(canonical).digest('hex')].join('\n');
}

function hmacHex(key: string, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}

/** The parts of `SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<h1;h2>, Signature=<hex>`, or why it is unusable. */
function parseAuthorization(value: string): { accessKey: string; signedHeaders: string[]; signature: string } | string {
  const space = value.indexOf(' ');
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm !== ALGORITHM) {
    return `unsupported Authorization scheme ${JSON.stringify(algorithm.slice(0, 40))}; expected ${ALGORITHM}`;
  }
  const fields = new Map<string, string>();
  for (const part of value.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const accessKey = fields.get('Access');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  const shape = `expected "${ALGORITHM} Access=<AK>, SignedHeaders=<h1;h2>, Signature=<hex>"`;
  if (space < 0 || !accessKey || !signedHeaders || signature === undefined) {
    return `malformed Authorization header: ${shape}`;
  }
  if (!/^[0-9a-f]{64}$/.test(signature)) {
    return 'malformed Authorization header: Signature must be 64 lower-case hex digits';
  }
  const names = signedHeaders.split(';');
  if (names.some((name) => !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name))) {
    return 'malformed Authorization header: SignedHeaders must be lower-case header names joined by ";"';
  }
  return { accessKey, signedHeaders: names, signature };
}

function parseSdkDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const date = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  // Date.UTC rolls month 13 or second 60 over; a real timestamp formats back to itself.
  return sdkDate(date) === value ? date : undefined;
}

function duration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return (h > 0 ? `${h}h` : '') + (h > 0 || m > 0 ? `${m}m` : '') + `${s}s`;
}
