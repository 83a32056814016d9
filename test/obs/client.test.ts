// The OBS client against a scripted HTTP server on loopback, addressed as OBS is, by bucket host
// name: the endpoint http://obs.localhost:PORT, each bucket at http://BUCKET.obs.localhost:PORT.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { RequestBudget } from '../../src/ims/budget.js';
import { ObsClient, ObsError, type ObsClientOptions } from '../../src/obs/client.js';
import { obsEndpoint } from '../../src/obs/endpoints.js';
import { verifyObsSignature } from '../../src/obs/signer.js';

const credentials = { accessKey: 'AKEXAMPLE0000000000', secretKey: 'SK-super-secret-0000000000000000000000' };
const securityToken = 'TOKEN-temporary-0000000000000000';
/** Retries without waiting: the tests are about which answers are retried, not how long we wait. */
const instantClock: Clock = { now: () => Date.now(), sleep: () => Promise.resolve() };
const BUCKET = 'ims-images';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
}
type Reply = (response: ServerResponse, request: IncomingMessage) => void;

let server: Server;
let port: number;
let seen: Seen[];
let replies: Reply[];
let clients: ObsClient[];

const answer =
  (status: number, headers: Record<string, string> = {}): Reply =>
  (response) => {
    response.writeHead(status, { 'x-obs-request-id': `req-${seen.length}`, ...headers });
    response.end();
  };
const hangUp: Reply = (_response, request) => request.socket.destroy();
const OBJECT = { 'content-length': '4572', etag: '"3b46eaf02d3b6b1206078bb86a7b7013"' };

beforeEach(async () => {
  seen = [];
  replies = [];
  clients = [];
  server = createServer((request, response) => {
    seen.push({ method: request.method!, url: request.url!, headers: request.headers });
    (replies.shift() ?? answer(500, { 'x-obs-error-code': 'InternalError' }))(response, request);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function client(options: Partial<ObsClientOptions> = {}): ObsClient {
  const made = new ObsClient({
    endpoint: obsEndpoint('cn-north-4', `http://obs.localhost:${port}`),
    credentials,
    clock: instantClock,
    ...options,
  });
  clients.push(made);
  return made;
}

async function failure(promise: Promise<unknown>): Promise<ObsError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ObsError);
  expect((error as Error).message).not.toContain(credentials.secretKey);
  expect((error as Error).message).not.toContain(securityToken);
  return error as ObsError;
}

describe('ObsClient', () => {
  it("reaches the bucket's own host, signed so that OBS can verify it", async () => {
    replies.push(answer(200, OBJECT));
    await client().headObject(BUCKET, 'images/image01.raw');
    const [request] = seen;
    expect(request).toMatchObject({ method: 'HEAD', url: '/images/image01.raw' });
    expect(request!.headers.host).toBe(`${BUCKET}.obs.localhost:${port}`);
    const verification = verifyObsSignature(
      { method: request!.method, bucket: BUCKET, rawUrl: request!.url, headers: request!.headers },
      (ak) => (ak === credentials.accessKey ? credentials.secretKey : undefined),
      new Date(),
    );
    expect(verification).toEqual({ ok: true, accessKey: credentials.accessKey });
  });

  it('sends the security token of temporary credentials as x-obs-security-token, signed', async () => {
    replies.push(answer(200, { 'x-obs-bucket-location': 'cn-north-4' }));
    await client({ credentials: { ...credentials, securityToken } }).headBucket(BUCKET);
    const [request] = seen;
    expect(request!.headers['x-obs-security-token']).toBe(securityToken);
    expect(request!.headers['x-security-token']).toBeUndefined();
    const verification = verifyObsSignature(
      { method: 'HEAD', bucket: BUCKET, rawUrl: request!.url, headers: request!.headers },
      () => credentials.secretKey,
      new Date(),
    );
    expect(verification.ok).toBe(true);
  });

  it("encodes the key on the wire as it signs it: spaces, non-ASCII and !*'()", async () => {
    replies.push(answer(200, OBJECT));
    await client().headObject(BUCKET, "dir a/镜像 1(x)!'*.zvhd2");
    const [request] = seen;
    expect(request!.url).toBe('/dir%20a/%E9%95%9C%E5%83%8F%201%28x%29%21%27%2A.zvhd2');
    const verification = verifyObsSignature(
      { method: 'HEAD', bucket: BUCKET, rawUrl: request!.url, headers: request!.headers },
      () => credentials.secretKey,
      new Date(),
    );
    expect(verification.ok).toBe(true);
  });

  describe('HEAD Object', () => {
    it('reads a Standard object: size, entity tag, date, and STANDARD for the absent class', async () => {
      replies.push(answer(200, { ...OBJECT, 'last-modified': 'Wed, 01 Jul 2026 04:19:25 GMT' }));
      expect(await client().headObject(BUCKET, 'images/image01.raw')).toEqual({
        kind: 'found',
        size: 4572,
        etag: '"3b46eaf02d3b6b1206078bb86a7b7013"',
        lastModified: 'Wed, 01 Jul 2026 04:19:25 GMT',
        storageClass: 'STANDARD',
      });
    });

    it('reads another class and the encryption', async () => {
      replies.push(answer(200, { ...OBJECT, 'x-obs-storage-class': 'WARM', 'x-obs-server-side-encryption': 'kms' }));
      replies.push(answer(200, { ...OBJECT, 'x-obs-server-side-encryption-customer-algorithm': 'AES256' }));
      expect(await client().headObject(BUCKET, 'a.zvhd2')).toMatchObject({ storageClass: 'WARM', encryption: 'kms' });
      expect(await client().headObject(BUCKET, 'a.zvhd2')).toMatchObject({
        storageClass: 'STANDARD',
        encryption: 'customer',
      });
    });

    it('tells a missing object from a missing bucket by x-obs-error-code, and falls back on the status', async () => {
      replies.push(answer(404, { 'x-obs-error-code': 'NoSuchKey' }));
      replies.push(answer(404, { 'x-obs-error-code': 'NoSuchBucket' }));
      replies.push(answer(404));
      expect(await client().headObject(BUCKET, 'a.raw')).toEqual({ kind: 'missing', code: 'NoSuchKey' });
      expect(await client().headObject(BUCKET, 'a.raw')).toEqual({ kind: 'missing', code: 'NoSuchBucket' });
      expect(await client().headObject(BUCKET, 'a.raw')).toEqual({ kind: 'missing' });
      expect(seen).toHaveLength(3);
    });

    it('reports a refusal with its code, message and request id, not retried', async () => {
      replies.push(answer(403, { 'x-obs-error-code': 'AccessDenied', 'x-obs-error-message': 'Access Denied' }));
      expect(await client().headObject(BUCKET, 'a.raw')).toEqual({
        kind: 'denied',
        status: 403,
        code: 'AccessDenied',
        message: 'Access Denied',
        requestId: 'req-1',
      });
      expect(seen).toHaveLength(1);
    });

    it.each([
      ['no Content-Length', { etag: OBJECT.etag }, 'no usable Content-Length'],
      ['a size past 2^53', { ...OBJECT, 'content-length': '9999999999999999' }, 'no usable Content-Length'],
      ['a Content-Length of 17 digits', { ...OBJECT, 'content-length': '12345678901234567' }, 'content-length'],
      ['no ETag', { 'content-length': '1' }, 'no ETag'],
      ['an ETag that is no entity tag', { ...OBJECT, etag: 'abc def' }, 'etag: abc def'],
      ['a storage class of no known form', { ...OBJECT, 'x-obs-storage-class': 'warm class' }, 'x-obs-storage-class'],
      ['a Last-Modified that is no date', { ...OBJECT, 'last-modified': 'yesterday' }, 'Last-Modified'],
      ['an unknown encryption', { ...OBJECT, 'x-obs-server-side-encryption': 'rot13' }, 'encryption: rot13'],
    ])('fails on an answer with %s, naming the object', async (_, headers, detail) => {
      replies.push(answer(200, headers));
      const error = await failure(client().headObject(BUCKET, 'images/image01.raw'));
      expect(error).toMatchObject({ code: 'BAD_RESPONSE', status: 200, requestId: 'req-1' });
      expect(error.message).toContain('HEAD ims-images:images/image01.raw: unexpected answer (200, ');
      expect(error.message).toContain(detail);
      expect(seen).toHaveLength(1);
    });

    it('refuses a key or a bucket no object has, sending nothing', async () => {
      for (const [bucket, key] of [
        ['Ims_Images', 'a.raw'],
        ['10.0.0.1', 'a.raw'],
        [BUCKET, ''],
        [BUCKET, 'a\ud800.raw'],
        [BUCKET, 'k'.repeat(1025)],
      ] as const) {
        expect(await failure(client().headObject(bucket, key))).toMatchObject({ code: 'INVALID_NAME' });
      }
      expect(seen).toHaveLength(0);
    });
  });

  describe('HEAD Bucket', () => {
    it("reads the bucket's region, class and kind", async () => {
      replies.push(answer(200, { 'x-obs-bucket-location': 'cn-north-4', 'x-obs-storage-class': 'STANDARD' }));
      replies.push(answer(200, { 'x-obs-fs-file-interface': 'Enabled' }));
      expect(await client().headBucket(BUCKET)).toEqual({
        kind: 'found',
        region: 'cn-north-4',
        storageClass: 'STANDARD',
        fileSystem: false,
      });
      expect(await client().headBucket(BUCKET)).toEqual({
        kind: 'found',
        region: undefined,
        storageClass: undefined,
        fileSystem: true,
      });
      expect(seen.map((request) => request.url)).toEqual(['/', '/']);
    });

    it('reports a missing bucket', async () => {
      replies.push(answer(404, { 'x-obs-error-code': 'NoSuchBucket' }));
      expect(await client().headBucket(BUCKET)).toEqual({ kind: 'missing' });
    });

    it('does not follow a redirect: the bucket is elsewhere', async () => {
      const location = 'https://ims-images.obs.ap-southeast-1.myhuaweicloud.com/';
      replies.push(answer(301, { location, 'x-obs-error-code': 'PermanentRedirect' }));
      replies.push(answer(307, { location: 'not a URL' }));
      expect(await client().headBucket(BUCKET)).toEqual({ kind: 'moved', status: 301, location, requestId: 'req-1' });
      expect(await client().headBucket(BUCKET)).toEqual({ kind: 'moved', status: 307, requestId: 'req-2' });
      expect(seen).toHaveLength(2);
    });

    it('fails on a region of no known form', async () => {
      replies.push(answer(200, { 'x-obs-bucket-location': 'cn north 4' }));
      const error = await failure(client().headBucket(BUCKET));
      expect(error.message).toBe(
        'HEAD bucket ims-images: unexpected answer (200, x-obs-bucket-location: cn north 4) (request id req-1)',
      );
    });
  });

  describe('transient failures', () => {
    it('retries a 503 SlowDown, and tells the budget it was throttled', async () => {
      const budget = new RequestBudget(instantClock);
      const throttled = vi.spyOn(budget, 'throttled');
      const statuses: string[] = [];
      replies.push(answer(503, { 'x-obs-error-code': 'SlowDown' }), answer(200, OBJECT));
      const head = await client({ budget, onResponse: ({ status }) => statuses.push(status) }).headObject(
        BUCKET,
        'a.raw',
      );
      expect(head).toMatchObject({ kind: 'found', size: 4572 });
      expect(seen).toHaveLength(2);
      expect(throttled).toHaveBeenCalledTimes(1);
      expect(statuses).toEqual(['503', '200']);
    });

    it('retries a 500 and a dropped connection without counting them as throttling', async () => {
      const budget = new RequestBudget(instantClock);
      const throttled = vi.spyOn(budget, 'throttled');
      replies.push(answer(500, { 'x-obs-error-code': 'InternalError' }), hangUp, answer(200, {}));
      expect(await client({ budget }).headBucket(BUCKET)).toMatchObject({ kind: 'found' });
      expect(seen).toHaveLength(3);
      expect(throttled).not.toHaveBeenCalled();
    });

    it('gives up after maxAttempts, naming the object, the answer and its request id', async () => {
      for (let i = 0; i < 3; i++) replies.push(answer(503, { 'x-obs-error-code': 'SlowDown' }));
      const error = await failure(client({ maxAttempts: 3 }).headObject(BUCKET, 'images/image01.raw'));
      expect(error).toMatchObject({ code: 'SlowDown', status: 503, requestId: 'req-3' });
      expect(error.message).toBe(
        'HEAD ims-images:images/image01.raw: 503 SlowDown (request id req-3); gave up after 3 attempts',
      );
      expect(seen).toHaveLength(3);
    });

    it('counts an answer that does not come within the request timeout as failed', async () => {
      replies.push(() => undefined);
      const error = await failure(client({ maxAttempts: 1, requestTimeoutMs: 50 }).headBucket(BUCKET));
      expect(error).toMatchObject({ code: 'TIMEOUT' });
      expect(error.message).toBe('HEAD bucket ims-images: no answer within 0.05s; gave up after the one attempt');
    });

    it('sends nothing when a credential holds a character HTTP cannot carry, and does not quote it', async () => {
      const error = await failure(
        client({ credentials: { ...credentials, securityToken: `${securityToken}\n` } }).headBucket(BUCKET),
      );
      expect(error).toMatchObject({ code: 'INVALID_HEADER' });
      expect(error.message).toContain('x-obs-security-token');
      expect(seen).toHaveLength(0);
    });
  });
});
