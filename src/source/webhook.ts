// Whether a POST /hooks/git comes from the forge: GitHub's X-Hub-Signature-256 (a hex HMAC of the
// body) or GitLab's signing token, which follows Standard Webhooks (a base64 HMAC of id, timestamp
// and body, the timestamp bounding replays). GitLab's older X-Gitlab-Token is refused: it is the
// secret itself, sent in clear, and anyone who sees one request can forge the next.
//
// A refusal's reason is safe to log and to answer with: it names headers, never their values, the
// secret or the signature that was expected.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { open } from 'node:fs/promises';
import { inspect } from 'node:util';

export interface WebhookRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body as received: a signature covers its bytes, not its parsed JSON. */
  readonly body: Buffer;
}

export type WebhookVerdict =
  | { readonly ok: true; readonly provider: 'github' | 'gitlab'; readonly delivery?: string }
  | { readonly ok: false; readonly reason: string };

/** A secret that cannot be read or used; the message names the file, never a byte of the secret. */
export class WebhookSecretError extends Error {
  override readonly name = 'WebhookSecretError';
}

const SIGNING_TOKEN_PREFIX = 'whsec_';

/** The secret shared with the forge; printing or logging it shows none of it. */
export class WebhookSecret {
  /** GitHub's HMAC key: the secret's text as written. */
  readonly text: Buffer;
  /** The Standard Webhooks key: what follows `whsec_`, base64-decoded; else the text's bytes. */
  readonly signingKey: Buffer;

  constructor(text: string) {
    const problem = secretProblem(text);
    if (problem !== undefined) throw new WebhookSecretError(`the webhook secret ${problem}`);
    this.text = Buffer.from(text);
    this.signingKey = text.startsWith(SIGNING_TOKEN_PREFIX)
      ? Buffer.from(text.slice(SIGNING_TOKEN_PREFIX.length), 'base64')
      : this.text;
  }

  toJSON(): string {
    return '[webhook secret]';
  }

  [inspect.custom](): string {
    return 'WebhookSecret [hidden]';
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function secretProblem(text: string): string | undefined {
  if (text === '') return 'is empty';
  if (/[\r\n]/.test(text)) return 'has more than one line; a webhook secret is one line';
  if (text.startsWith(SIGNING_TOKEN_PREFIX)) {
    const encoded = text.slice(SIGNING_TOKEN_PREFIX.length);
    if (encoded === '' || !BASE64.test(encoded)) {
      return `begins with ${SIGNING_TOKEN_PREFIX} but what follows is not base64, as GitLab's signing token is`;
    }
  }
  return undefined;
}

/** A secret is a line; anything larger is the wrong file. */
const MAX_SECRET_BYTES = 64 * 1024;

/**
 * The secret in `file`, without its trailing newline. Refused when it cannot be read, is empty,
 * or can be read or written by its group or others (a Kubernetes secret volume cannot give a
 * non-root user such a file: docs/deploy/kubernetes copies it with an init container).
 */
export async function readWebhookSecret(file: string): Promise<WebhookSecret> {
  const refuse = (problem: string) => new WebhookSecretError(`webhook secret file ${file} ${problem}`);
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw refuse('is not a regular file');
      if ((stats.mode & 0o077) !== 0) {
        const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
        throw refuse(`can be read or written by its group or others (mode ${mode}); chmod 600 it`);
      }
      if (stats.size > MAX_SECRET_BYTES) throw refuse(`is larger than ${MAX_SECRET_BYTES / 1024} KiB`);
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof WebhookSecretError) throw error;
    // The code alone: enough to act on, and nothing read from the file.
    throw refuse(`cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const secret = text.replace(/\r?\n$/, '');
  const problem = secretProblem(secret);
  if (problem !== undefined) throw refuse(problem);
  return new WebhookSecret(secret);
}

/** How far a Standard Webhooks timestamp may be from now, either way (the specification's 5 minutes). */
export const MAX_TIMESTAMP_SKEW_MS = 5 * 60 * 1000;

const UNSIGNED =
  'unsigned: expected X-Hub-Signature-256 (GitHub) or webhook-id, webhook-timestamp and webhook-signature (GitLab signing token)';
/** What a signature stands on: were one sent twice, which counts would be the sender's guess. */
const SIGNED_HEADERS = ['X-Hub-Signature-256', 'webhook-signature', 'webhook-id', 'webhook-timestamp'];

/** Checks `request`'s signature with `secret`, at `now` (milliseconds since the epoch). */
export function verifyWebhook(request: WebhookRequest, secret: WebhookSecret, now: number): WebhookVerdict {
  const values = headerValues(request.headers);
  const repeated = SIGNED_HEADERS.find((name) => values(name).length > 1);
  if (repeated !== undefined) return refuse(`${repeated} was sent more than once`);
  /** The header's value when it was sent once. */
  const header = (name: string) => {
    const sent = values(name);
    return sent.length === 1 ? sent[0] : undefined;
  };
  const github = header('x-hub-signature-256');
  const standard = header('webhook-signature');
  if (github !== undefined && standard !== undefined) {
    return refuse('both X-Hub-Signature-256 and webhook-signature were sent; a forge sends one');
  }
  if (github !== undefined) return verifyGithub(github, request.body, secret, header('x-github-delivery'));
  if (standard !== undefined) {
    const id = header('webhook-id');
    const timestamp = header('webhook-timestamp');
    if (id === undefined) return refuse('webhook-signature was sent without webhook-id');
    if (timestamp === undefined) return refuse('webhook-signature was sent without webhook-timestamp');
    return verifyStandard({ signatures: standard, id, timestamp }, request.body, secret, now);
  }
  if (header('x-gitlab-token') !== undefined) {
    return refuse(
      `X-Gitlab-Token is the secret sent in clear, not a signature: set a signing token instead; ${UNSIGNED}`,
    );
  }
  if (header('x-hub-signature') !== undefined) return refuse(`X-Hub-Signature (SHA-1) is not accepted; ${UNSIGNED}`);
  return refuse(UNSIGNED);
}

const GITHUB_FORMAT = /^sha256=([0-9a-fA-F]{64})$/;

function verifyGithub(
  signature: string,
  body: Buffer,
  secret: WebhookSecret,
  delivery: string | undefined,
): WebhookVerdict {
  const hex = GITHUB_FORMAT.exec(signature)?.[1];
  if (hex === undefined) return refuse('X-Hub-Signature-256 is not sha256= followed by 64 hex digits');
  const expected = createHmac('sha256', secret.text).update(body).digest();
  if (!timingSafeEqual(expected, Buffer.from(hex, 'hex'))) {
    return refuse("X-Hub-Signature-256 does not match the body: the secret is not GitHub's, or the body was changed");
  }
  return accept('github', delivery);
}

interface StandardHeaders {
  /** Space-separated `v1,<base64>` entries (several while a token is being rotated). */
  readonly signatures: string;
  readonly id: string;
  /** Unix seconds. */
  readonly timestamp: string;
}

function verifyStandard(
  { signatures, id, timestamp }: StandardHeaders,
  body: Buffer,
  secret: WebhookSecret,
  now: number,
): WebhookVerdict {
  if (!/^\d{1,15}$/.test(timestamp)) return refuse('webhook-timestamp is not a number of seconds since the epoch');
  const candidates = signatures
    .split(' ')
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => Buffer.from(entry.slice('v1,'.length), 'base64'));
  if (candidates.length === 0) return refuse('webhook-signature has no v1,<base64> entry');
  const expected = standardSignature(secret, id, timestamp, body);
  // Every entry is compared, each in constant time: which one matched takes no longer to find.
  let matched = false;
  for (const candidate of candidates) {
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
  }
  if (!matched) {
    return refuse(
      "no webhook-signature entry matches: the signing token is not GitLab's, or the id, timestamp or body was changed",
    );
  }
  // Checked once the request is known to be genuine: a refusal then means a replay or a clock out of step.
  const skew = now - Number(timestamp) * 1000;
  if (Math.abs(skew) > MAX_TIMESTAMP_SKEW_MS) {
    const apart = `${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'in the past' : 'in the future'}`;
    return refuse(
      `webhook-timestamp is ${apart}; more than ${MAX_TIMESTAMP_SKEW_MS / 1000} s from now is refused as a replay`,
    );
  }
  return accept('gitlab', id);
}

/**
 * The Standard Webhooks signature of `body` (https://www.standardwebhooks.com): HMAC-SHA256 with
 * the secret's signing key of `id.timestamp.body`, so that a timestamp cannot be changed to replay it.
 */
export function standardSignature(secret: WebhookSecret, id: string, timestamp: string, body: Buffer | string): Buffer {
  return createHmac('sha256', secret.signingKey).update(`${id}.${timestamp}.`).update(body).digest();
}

/** A header's values, looked up in any case (Node gives names lower-cased; a test or a proxy may not). */
function headerValues(headers: WebhookRequest['headers']): (name: string) => string[] {
  return (name) =>
    Object.entries(headers)
      .filter(([key]) => key.toLowerCase() === name.toLowerCase())
      .flatMap(([, value]) => value ?? []);
}

/** A delivery id worth logging: a GUID or a webhook id, not arbitrary text. */
const DELIVERY_ID = /^[\w.:-]{1,128}$/;

function accept(provider: 'github' | 'gitlab', delivery: string | undefined): WebhookVerdict {
  return delivery !== undefined && DELIVERY_ID.test(delivery)
    ? { ok: true, provider, delivery }
    : { ok: true, provider };
}

function refuse(reason: string): WebhookVerdict {
  return { ok: false, reason };
}
