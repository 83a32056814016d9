// Webhook signatures, checked against values computed elsewhere: GitHub's and the Standard Webhooks
// specification's published examples, and openssl for the rest.
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_TIMESTAMP_SKEW_MS,
  readWebhookSecret,
  verifyWebhook,
  WebhookSecret,
  WebhookSecretError,
  type WebhookRequest,
} from '../../src/source/webhook.js';

/** HMAC-SHA256 by openssl, not node:crypto. */
function opensslHmac(key: Buffer, data: Buffer): Buffer {
  return execFileSync(
    'openssl',
    ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${key.toString('hex')}`, '-binary'],
    {
      input: data,
    },
  );
}

// GitHub's "Validating webhook deliveries" example.
const GITHUB_SECRET = "It's a Secret to Everybody";
const GITHUB_BODY = Buffer.from('Hello, World!');
const GITHUB_SIGNATURE = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
const DELIVERY = '72d3162e-cc78-11e3-81ab-4c9367dc0958';

// The Standard Webhooks specification's example.
const STANDARD_TOKEN = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const STANDARD_ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const STANDARD_TIMESTAMP = 1614265330;
const STANDARD_BODY = Buffer.from('{"test": 2432232314}');
const STANDARD_SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
const STANDARD_NOW = STANDARD_TIMESTAMP * 1000;

const github = (headers: WebhookRequest['headers'], body = GITHUB_BODY) =>
  verifyWebhook({ headers, body }, new WebhookSecret(GITHUB_SECRET), 0);

const standardHeaders = (overrides: Record<string, string | string[] | undefined> = {}) => ({
  'webhook-id': STANDARD_ID,
  'webhook-timestamp': String(STANDARD_TIMESTAMP),
  'webhook-signature': STANDARD_SIGNATURE,
  ...overrides,
});
const standard = (
  headers: WebhookRequest['headers'],
  { body = STANDARD_BODY, now = STANDARD_NOW, token = STANDARD_TOKEN } = {},
) => verifyWebhook({ headers, body }, new WebhookSecret(token), now);

/** A GitLab delivery signed by openssl with the key `token` stands for. */
function gitlabDelivery(token: string, id: string, seconds: number, body: Buffer) {
  const key = token.startsWith('whsec_') ? Buffer.from(token.slice(6), 'base64') : Buffer.from(token);
  const signature = opensslHmac(key, Buffer.concat([Buffer.from(`${id}.${seconds}.`), body])).toString('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(seconds), 'webhook-signature': `v1,${signature}` };
}

describe('verifyWebhook: GitHub', () => {
  it("accepts GitHub's published example, with its delivery id", () => {
    expect(github({ 'x-hub-signature-256': GITHUB_SIGNATURE, 'x-github-delivery': DELIVERY })).toEqual({
      ok: true,
      provider: 'github',
      delivery: DELIVERY,
    });
  });

  it('accepts a signature openssl computed over a JSON body, in upper-case hex and under any header case', () => {
    const body = Buffer.from('{"ref":"refs/heads/main","after":"0123abcd"}\n');
    const hex = opensslHmac(Buffer.from(GITHUB_SECRET), body).toString('hex');
    expect(github({ 'x-hub-signature-256': `sha256=${hex}` }, body)).toEqual({ ok: true, provider: 'github' });
    expect(github({ 'X-Hub-Signature-256': `sha256=${hex.toUpperCase()}` }, body)).toEqual({
      ok: true,
      provider: 'github',
    });
  });

  it.each([
    ['a changed body', { 'x-hub-signature-256': GITHUB_SIGNATURE }, Buffer.from('Hello, World?'), 'does not match'],
    [
      'a body with a trailing newline',
      { 'x-hub-signature-256': GITHUB_SIGNATURE },
      Buffer.from('Hello, World!\n'),
      'does not match',
    ],
    [
      'another secret’s signature',
      { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` },
      GITHUB_BODY,
      'does not match',
    ],
    ['no sha256= prefix', { 'x-hub-signature-256': GITHUB_SIGNATURE.slice(7) }, GITHUB_BODY, 'is not sha256='],
    ['a sha1= prefix', { 'x-hub-signature-256': `sha1=${GITHUB_SIGNATURE.slice(7)}` }, GITHUB_BODY, 'is not sha256='],
    ['a digit short', { 'x-hub-signature-256': GITHUB_SIGNATURE.slice(0, -1) }, GITHUB_BODY, 'is not sha256='],
    ['a digit long', { 'x-hub-signature-256': `${GITHUB_SIGNATURE}0` }, GITHUB_BODY, 'is not sha256='],
    ['a non-hex digit', { 'x-hub-signature-256': `${GITHUB_SIGNATURE.slice(0, -1)}g` }, GITHUB_BODY, 'is not sha256='],
    ['an empty signature', { 'x-hub-signature-256': '' }, GITHUB_BODY, 'is not sha256='],
    [
      'the header twice, one of them right',
      { 'x-hub-signature-256': [GITHUB_SIGNATURE, `sha256=${'0'.repeat(64)}`] },
      GITHUB_BODY,
      'X-Hub-Signature-256 was sent more than once',
    ],
    [
      'only the SHA-1 X-Hub-Signature',
      { 'x-hub-signature': 'sha1=0123' },
      GITHUB_BODY,
      'X-Hub-Signature (SHA-1) is not accepted',
    ],
  ])('refuses %s', (_, headers, body, reason) => {
    const verdict = github(headers, body);
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.reason).toContain(reason);
  });

  it('leaves out a delivery id that is not an id, rather than pass it on to logs', () => {
    expect(github({ 'x-hub-signature-256': GITHUB_SIGNATURE, 'x-github-delivery': 'a\nforged log line' })).toEqual({
      ok: true,
      provider: 'github',
    });
  });
});

describe('verifyWebhook: GitLab signing token (Standard Webhooks)', () => {
  it("accepts the specification's published example", () => {
    expect(standard(standardHeaders())).toEqual({ ok: true, provider: 'gitlab', delivery: STANDARD_ID });
  });

  it('accepts what openssl signed, with a whsec_ token (its base64 decoded) or a plain one (its text)', () => {
    const body = Buffer.from('{"object_kind":"push","ref":"refs/heads/main"}');
    const now = Date.UTC(2026, 5, 1);
    for (const token of ['whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=', 'a plain signing token']) {
      const headers = gitlabDelivery(token, 'c0ffee-1', now / 1000, body);
      expect(standard(headers, { body, now, token })).toEqual({ ok: true, provider: 'gitlab', delivery: 'c0ffee-1' });
    }
  });

  it('does not take a whsec_ token as text, nor a plain token as base64', () => {
    const content = Buffer.concat([Buffer.from(`${STANDARD_ID}.${STANDARD_TIMESTAMP}.`), STANDARD_BODY]);
    const signedWithText = `v1,${opensslHmac(Buffer.from(STANDARD_TOKEN), content).toString('base64')}`;
    expect(standard(standardHeaders({ 'webhook-signature': signedWithText })).ok).toBe(false);
    expect(standard(standardHeaders(), { token: STANDARD_TOKEN.slice('whsec_'.length) }).ok).toBe(false);
  });

  it('accepts several signatures when any one matches (a token being rotated), and ignores other versions', () => {
    const other = `v1,${Buffer.alloc(32, 7).toString('base64')}`;
    for (const signature of [
      `${other} ${STANDARD_SIGNATURE}`,
      `${STANDARD_SIGNATURE} ${other}`,
      `v1a,${Buffer.alloc(64).toString('base64')} ${STANDARD_SIGNATURE}`,
      `v1,short ${STANDARD_SIGNATURE}`,
    ]) {
      expect(standard(standardHeaders({ 'webhook-signature': signature })).ok).toBe(true);
    }
  });

  const past = STANDARD_NOW + MAX_TIMESTAMP_SKEW_MS + 1000;
  const future = STANDARD_NOW - MAX_TIMESTAMP_SKEW_MS - 1000;
  it.each([
    ['a changed body', {}, { body: Buffer.from('{"test": 2432232315}') }, 'no webhook-signature entry matches'],
    ['a changed id', { 'webhook-id': 'msg_other' }, {}, 'no webhook-signature entry matches'],
    [
      'a changed timestamp',
      { 'webhook-timestamp': String(STANDARD_TIMESTAMP + 1) },
      {},
      'no webhook-signature entry matches',
    ],
    [
      'another token',
      {},
      { token: 'whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=' },
      'no webhook-signature entry matches',
    ],
    [
      'only wrong signatures',
      { 'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')} v1,${Buffer.alloc(32, 1).toString('base64')}` },
      {},
      'no webhook-signature entry matches',
    ],
    [
      'a v1a signature only',
      { 'webhook-signature': `v1a,${STANDARD_SIGNATURE.slice(3)}` },
      {},
      'has no v1,<base64> entry',
    ],
    ['a bare base64 signature', { 'webhook-signature': STANDARD_SIGNATURE.slice(3) }, {}, 'has no v1,<base64> entry'],
    ['a timestamp 301 s old (a replay)', {}, { now: past }, '301 s in the past; more than 300 s from now is refused'],
    ['a timestamp 301 s ahead', {}, { now: future }, '301 s in the future; more than 300 s from now is refused'],
    [
      'a timestamp in milliseconds',
      { 'webhook-timestamp': `${STANDARD_TIMESTAMP}000` },
      {},
      'no webhook-signature entry matches',
    ],
    [
      'a timestamp that is not a number',
      { 'webhook-timestamp': '2021-02-25T15:02:10Z' },
      {},
      'is not a number of seconds',
    ],
    ['a negative timestamp', { 'webhook-timestamp': '-1' }, {}, 'is not a number of seconds'],
    ['no webhook-id', { 'webhook-id': undefined }, {}, 'webhook-signature was sent without webhook-id'],
    [
      'no webhook-timestamp',
      { 'webhook-timestamp': undefined },
      {},
      'webhook-signature was sent without webhook-timestamp',
    ],
    ['webhook-id twice', { 'webhook-id': [STANDARD_ID, 'msg_other'] }, {}, 'webhook-id was sent more than once'],
    [
      'webhook-signature twice',
      { 'webhook-signature': [STANDARD_SIGNATURE, STANDARD_SIGNATURE] },
      {},
      'sent more than once',
    ],
  ])('refuses %s', (_, overrides, options, reason) => {
    const verdict = standard(standardHeaders(overrides), options);
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.reason).toContain(reason);
  });

  it('accepts a timestamp up to 5 minutes either side of now', () => {
    expect(standard(standardHeaders(), { now: STANDARD_NOW + MAX_TIMESTAMP_SKEW_MS }).ok).toBe(true);
    expect(standard(standardHeaders(), { now: STANDARD_NOW - MAX_TIMESTAMP_SKEW_MS }).ok).toBe(true);
  });
});

describe('verifyWebhook: unsigned requests', () => {
  const secret = new WebhookSecret(GITHUB_SECRET);
  const expected = 'expected X-Hub-Signature-256 (GitHub) or webhook-id, webhook-timestamp and webhook-signature';

  it.each([
    ['no signature header', {}, expected],
    ['only webhook-id and webhook-timestamp', { 'webhook-id': 'x', 'webhook-timestamp': '1' }, expected],
    // The legacy token is the secret itself: refused even when it is exactly right.
    [
      'X-Gitlab-Token, even the right one',
      { 'x-gitlab-token': GITHUB_SECRET },
      'X-Gitlab-Token is the secret sent in clear',
    ],
    [
      'both formats at once',
      { 'x-hub-signature-256': GITHUB_SIGNATURE, 'webhook-signature': STANDARD_SIGNATURE },
      'both X-Hub-Signature-256 and webhook-signature',
    ],
  ])('refuses %s, saying which headers are expected', (_, headers, reason) => {
    const verdict = verifyWebhook({ headers, body: GITHUB_BODY }, secret, 0);
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.reason).toContain(reason);
  });

  it('never puts the secret, a sent value or the expected signature in a reason', () => {
    const secretText = 'whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=';
    const secret = new WebhookSecret(secretText);
    const rightHex = opensslHmac(secret.text, GITHUB_BODY).toString('hex');
    const rightBase64 = gitlabDelivery(secretText, STANDARD_ID, STANDARD_TIMESTAMP, GITHUB_BODY)['webhook-signature'];
    const requests: WebhookRequest['headers'][] = [
      { 'x-hub-signature-256': `sha256=${'a'.repeat(64)}` },
      { 'x-hub-signature-256': 'sha256=<script>' },
      { 'x-gitlab-token': secretText },
      standardHeaders({ 'webhook-timestamp': String(STANDARD_TIMESTAMP) }),
      standardHeaders({ 'webhook-signature': rightBase64 }),
    ];
    for (const headers of requests) {
      const verdict = verifyWebhook({ headers, body: GITHUB_BODY }, secret, 0);
      expect(verdict.ok).toBe(false);
      const reason = verdict.ok ? '' : verdict.reason;
      for (const hidden of [secretText, secretText.slice(6), rightHex, rightBase64.slice(3), '<script>', STANDARD_ID]) {
        expect(reason).not.toContain(hidden);
      }
    }
  });
});

describe('WebhookSecret', () => {
  it('shows none of itself when printed or logged', () => {
    const secret = new WebhookSecret('hunter2-webhook');
    expect(JSON.stringify({ secret })).not.toContain('hunter2');
    expect(inspect({ secret }, { depth: 5 })).not.toContain('hunter2');
    expect(JSON.stringify({ secret })).not.toContain(JSON.stringify([...Buffer.from('hunter2')]).slice(1, -1));
  });

  it.each([
    ['', 'the webhook secret is empty'],
    ['whsec_', 'begins with whsec_ but what follows is not base64'],
    ['whsec_not base64!', 'begins with whsec_ but what follows is not base64'],
    ['whsec_abc', 'begins with whsec_ but what follows is not base64'],
    ['one\ntwo', 'has more than one line'],
  ])('refuses %j', (text, message) => {
    expect(() => new WebhookSecret(text)).toThrow(WebhookSecretError);
    expect(() => new WebhookSecret(text)).toThrow(message);
  });
});

describe('readWebhookSecret', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imsync-webhook-secret-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const secretFile = async (name: string, content: string, mode = 0o600) => {
    const file = join(dir, name);
    await writeFile(file, content);
    await chmod(file, mode);
    return file;
  };

  it.each([
    ['no newline', GITHUB_SECRET],
    ['a trailing newline', `${GITHUB_SECRET}\n`],
    ['a trailing CRLF', `${GITHUB_SECRET}\r\n`],
  ])('reads a 0600 file with %s as the secret GitHub signs with', async (name, content) => {
    const secret = await readWebhookSecret(await secretFile(name, content, 0o600));
    expect(
      verifyWebhook({ headers: { 'x-hub-signature-256': GITHUB_SIGNATURE }, body: GITHUB_BODY }, secret, 0).ok,
    ).toBe(true);
  });

  it('reads a 0400 file, and a whsec_ token GitLab signs with', async () => {
    const secret = await readWebhookSecret(await secretFile('token', `${STANDARD_TOKEN}\n`, 0o400));
    expect(verifyWebhook({ headers: standardHeaders(), body: STANDARD_BODY }, secret, STANDARD_NOW).ok).toBe(true);
  });

  it.each([
    ['empty', '', 0o600, 'is empty'],
    ['newline', '\n', 0o600, 'is empty'],
    ['two-lines', 'topsecret-value\nsecond\n', 0o600, 'has more than one line'],
    [
      'group-readable',
      'topsecret-value\n',
      0o640,
      'can be read or written by its group or others (mode 0640); chmod 600 it',
    ],
    ['world-readable', 'topsecret-value\n', 0o644, '(mode 0644)'],
    ['group-writable', 'topsecret-value\n', 0o620, '(mode 0620)'],
    ['bad-token', 'whsec_topsecret-value!\n', 0o600, 'begins with whsec_ but what follows is not base64'],
  ])('refuses a file that is %s, naming the file and not its content', async (name, content, mode, problem) => {
    const file = await secretFile(name, content, mode);
    const error = await readWebhookSecret(file).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WebhookSecretError);
    expect((error as Error).message).toMatch(new RegExp(`^webhook secret file ${file} `));
    expect((error as Error).message).toContain(problem);
    expect((error as Error).message).not.toContain('topsecret');
  });

  it('refuses a file that is missing, or a directory', async () => {
    const missing = join(dir, 'missing');
    await expect(readWebhookSecret(missing)).rejects.toThrow(
      new WebhookSecretError(`webhook secret file ${missing} cannot be read (ENOENT)`),
    );
    const directory = join(dir, 'directory');
    await mkdir(directory, { mode: 0o700 });
    await expect(readWebhookSecret(directory)).rejects.toThrow(
      new WebhookSecretError(`webhook secret file ${directory} is not a regular file`),
    );
  });

  it('refuses a file too large to be a secret', async () => {
    const file = await secretFile('large', 'x'.repeat(64 * 1024 + 1));
    await expect(readWebhookSecret(file)).rejects.toThrow(`webhook secret file ${file} is larger than 64 KiB`);
  });
});
