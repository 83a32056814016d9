// The client's handling of every kind of answer, against a scripted HTTP server on loopback.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { ImsClient, MAX_ANSWER_BYTES, type ImsClientOptions } from '../../src/ims/client.js';
import { ImsError } from '../../src/ims/errors.js';
import { verifySignature } from '../../src/ims/signer.js';
import { printable } from '../../src/text.js';

const credentials = { accessKey: 'AKEXAMPLE0000000000', secretKey: 'SK-super-secret-0000000000000000000000' };
const projectId = '0123456789abcdef0123456789abcdef';
/** Retries without waiting: the tests are about which answers are retried, not how long we wait. */
const instantClock: Clock = { now: () => Date.now(), sleep: () => Promise.resolve() };

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}
type Reply = (response: ServerResponse, request: IncomingMessage) => void;

let server: Server;
let endpoint: string;
let seen: Seen[];
let replies: Reply[];

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Reply =>
  (response) => {
    response.writeHead(status, {
      'content-type': 'application/json',
      'x-request-id': `req-${seen.length}`,
      ...headers,
    });
    response.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
const hangUp: Reply = (_response, request) => request.socket.destroy();

beforeEach(async () => {
  seen = [];
  replies = [];
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen.push({ method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks) });
      (replies.shift() ?? json(500, { error: { code: 'IMG.0061', message: 'no reply scripted' } }))(response, request);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function client(options: Partial<ImsClientOptions> = {}): ImsClient {
  return new ImsClient({ endpoint, projectId, auth: { kind: 'aksk', credentials }, clock: instantClock, ...options });
}

async function failure(promise: Promise<unknown>): Promise<ImsError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ImsError);
  expect((error as Error).message).not.toContain(credentials.secretKey);
  return error as ImsError;
}

const body = { name: 'web-base', image_url: 'bucket:web.zvhd2', os_version: 'Ubuntu 22.04 server 64bit', min_disk: 40 };

describe('ImsClient', () => {
  it('signs requests so that the gateway can verify them, with the project and the exact body', async () => {
    replies.push(json(200, { job_id: 'job-1' }));
    expect(await client().quickImport(body)).toBe('job-1');
    const [request] = seen;
    expect(request).toMatchObject({ method: 'POST', url: '/v2/cloudimages/quickimport/action' });
    expect(request!.headers['x-project-id']).toBe(projectId);
    expect(request!.body.toString()).toBe(JSON.stringify(body));
    const verification = verifySignature(
      { method: request!.method, rawUrl: request!.url, headers: request!.headers, body: request!.body },
      (ak) => (ak === credentials.accessKey ? credentials.secretKey : undefined),
      new Date(),
    );
    expect(verification).toEqual({ ok: true, accessKey: credentials.accessKey });
  });

  it('sends an IAM token instead of a signature when given one', async () => {
    replies.push(json(200, { quotas: { resources: [{ type: 'image', used: 1, quota: 20, min: 1, max: 1000 }] } }));
    const quota = await client({ auth: { kind: 'token', token: 'iam-token' } }).getQuota();
    expect(quota).toEqual([{ type: 'image', used: 1, quota: 20, min: 1, max: 1000 }]);
    expect(seen[0]!.headers['x-auth-token']).toBe('iam-token');
    expect(seen[0]!.headers.authorization).toBeUndefined();
  });

  it('encodes query values with %20, as the signature expects', async () => {
    replies.push(json(200, { images: [] }));
    await client().listImages({ name: 'web base', tag: 'imsync-key=web', __imagetype: 'private' });
    expect(seen[0]!.url).toBe(
      '/v2/cloudimages?enterprise_project_id=all_granted_eps&name=web%20base&tag=imsync-key%3Dweb&__imagetype=private',
    );
  });

  it('reports an IMS error with its code, message and request id, and does not retry it', async () => {
    replies.push(json(400, { error: { code: 'IMG.0003', message: 'The image name format is invalid.' } }));
    const error = await failure(client().quickImport(body));
    expect(error).toMatchObject({ code: 'IMG.0003', retry: 'never', status: 400, requestId: 'req-1' });
    expect(error.message).toBe(
      'POST /v2/cloudimages/quickimport/action: 400 IMG.0003: The image name format is invalid. (request id req-1)',
    );
    expect(seen).toHaveLength(1);
  });

  it("reads the gateway's error shape too", async () => {
    replies.push(
      json(401, { error_code: 'APIGW.0301', error_msg: 'Incorrect IAM authentication information', request_id: 'r' }),
    );
    expect(await failure(client().getJob('j'))).toMatchObject({ code: 'APIGW.0301', retry: 'never', status: 401 });
  });

  it.each([
    ['gateway throttling', json(429, { error_code: 'APIG.0308', error_msg: 'over ratelimit' }, { 'retry-after': '0' })],
    ['the other gateway prefix', json(429, { error_code: 'APIGW.0308', error_msg: 'over ratelimit' })],
  ])('retries a quick import refused by %s, and slows the budget down', async (_case, reply) => {
    replies.push(reply, json(200, { job_id: 'job-2' }));
    const ims = client();
    const rate = ims.budget.currentRate;
    expect(await ims.quickImport(body)).toBe('job-2');
    expect(seen).toHaveLength(2);
    expect(ims.budget.currentRate).toBeLessThan(rate);
  });

  it('retries a quick import refused by IMS flow control after a backoff, keeping the request rate', async () => {
    replies.push(json(400, { error: { code: 'IMG.0060', message: 'flow control' } }), json(200, { job_id: 'job-2' }));
    const ims = client();
    const rate = ims.budget.currentRate;
    expect(await ims.quickImport(body)).toBe('job-2');
    expect(seen).toHaveLength(2);
    expect(ims.budget.currentRate).toBeGreaterThanOrEqual(rate);
  });

  it('hands the import concurrency cap (IMG.0194) to the caller at once: it waits for a job, not a backoff', async () => {
    replies.push(json(400, { error: { code: 'IMG.0194', message: 'too many imports' } }), json(200, { job_id: 'j' }));
    expect(await failure(client().quickImport(body))).toMatchObject({ code: 'IMG.0194', retry: 'safe' });
    expect(seen).toHaveLength(1);
  });

  it('never repeats a quick import whose answer was a 5xx or never came: the image may exist', async () => {
    replies.push(json(503, { error: { code: 'IMG.0061', message: 'Unknown system error.' } }));
    expect(await failure(client().quickImport(body))).toMatchObject({ retry: 'ambiguous', status: 503 });
    replies.push(hangUp);
    expect(await failure(client().quickImport(body))).toMatchObject({ retry: 'ambiguous' });
    expect(seen).toHaveLength(2);
  });

  it('retries idempotent reads after a 5xx or a lost answer', async () => {
    replies.push(json(500, 'oops'), hangUp, json(200, { job_id: 'j', status: 'RUNNING', entities: {} }));
    expect(await client().getJob('j')).toEqual({ jobId: 'j', status: 'RUNNING' });
    expect(seen).toHaveLength(3);
  });

  it('gives up after its attempts, with the last error', async () => {
    replies.push(...Array.from({ length: 3 }, () => json(503, { error: { code: 'IMG.0061', message: 'busy' } })));
    expect(await failure(client({ maxAttempts: 3 }).getJob('j'))).toMatchObject({ code: 'IMG.0061', status: 503 });
    expect(seen).toHaveLength(3);
  });

  it('calls a refused connection safe to retry: nothing was sent', async () => {
    const closed = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    server.listen(0, '127.0.0.1');
    const error = await failure(client({ endpoint: closed, maxAttempts: 2 }).quickImport(body));
    expect(error).toMatchObject({ code: 'ECONNREFUSED', retry: 'safe' });
  });

  it('times out an answer that does not come, as ambiguous', async () => {
    replies.push(() => undefined);
    const error = await failure(client({ requestTimeoutMs: 200 }).quickImport(body));
    expect(error).toMatchObject({ code: 'TIMEOUT', retry: 'ambiguous' });
  });

  it.each([
    ['a non-JSON success', json(200, '<html>gateway</html>')],
    ['a job without a status', json(200, { job_id: 'j', entities: {} })],
    ['a job with an unknown status', json(200, { job_id: 'j', status: 'DONE' })],
    ['a job that is not an object', json(200, '[1, 2]')],
  ])('refuses %s as a bad response', async (_case, reply) => {
    replies.push(reply);
    expect(await failure(client({ maxAttempts: 1 }).getJob('j'))).toMatchObject({
      code: 'BAD_RESPONSE',
      retry: 'ambiguous',
    });
  });

  it('refuses a quick import answer without a job id as ambiguous', async () => {
    replies.push(json(200, { jobid: 'x' }));
    expect(await failure(client().quickImport(body))).toMatchObject({ code: 'BAD_RESPONSE', retry: 'ambiguous' });
  });

  it('reads a finished job: the image id from the entities or the first sub-job, the failure with its code', async () => {
    replies.push(
      json(200, {
        job_id: 'a',
        job_type: 'imsImportImageJob',
        status: 'SUCCESS',
        error_code: null,
        fail_reason: null,
        entities: { image_id: 'img-1' },
      }),
      json(200, {
        job_id: 'b',
        status: 'SUCCESS',
        entities: { sub_jobs_result: [{ entities: { image_id: 'img-2' } }] },
      }),
      json(200, {
        job_id: 'c',
        status: 'FAIL',
        error_code: 'IMG.0057',
        fail_reason: 'The image file is empty.',
        entities: {},
      }),
    );
    const ims = client();
    expect(await ims.getJob('a')).toEqual({
      jobId: 'a',
      jobType: 'imsImportImageJob',
      status: 'SUCCESS',
      imageId: 'img-1',
    });
    expect((await ims.getJob('b')).imageId).toBe('img-2');
    expect(await ims.getJob('c')).toEqual({
      jobId: 'c',
      status: 'FAIL',
      errorCode: 'IMG.0057',
      failReason: 'The image file is empty.',
    });
    expect(seen.map((r) => r.url)).toEqual(['/v1/cloudimages/job/a', '/v1/cloudimages/job/b', '/v1/cloudimages/job/c']);
  });

  it('reads jobs through the progress API, with their percent; an endpoint without it is asked the job API', async () => {
    replies.push(
      json(200, {
        job_id: 'p',
        status: 'RUNNING',
        entities: { process_percent: 45, current_task: 'ConvertImage', image_name: 'web' },
      }),
    );
    const ims = client();
    expect(await ims.getJob('p')).toEqual({ jobId: 'p', status: 'RUNNING', percent: 45, currentTask: 'ConvertImage' });
    replies.push(
      json(404, { error_code: 'APIGW.0101', error_msg: 'The API does not exist or has not been published' }),
      json(200, { job_id: 'q', status: 'RUNNING', entities: {} }),
      json(200, { job_id: 'r', status: 'INIT', entities: {} }),
    );
    const old = client();
    expect(await old.getJob('q')).toEqual({ jobId: 'q', status: 'RUNNING' });
    expect(await old.getJob('r')).toEqual({ jobId: 'r', status: 'INIT' });
    expect(seen.map((r) => r.url)).toEqual([
      '/v1/cloudimages/job/p',
      '/v1/cloudimages/job/q',
      `/v1/${projectId}/jobs/q`,
      `/v1/${projectId}/jobs/r`,
    ]);
  });

  it('reads a failure whose code and reason sit only in entities (error_code/error, then addition_error_*)', async () => {
    replies.push(
      json(200, {
        job_id: 'd',
        status: 'FAIL',
        error_code: null,
        fail_reason: null,
        entities: { error_code: 'IMG.0072', error: 'The image format is not supported.' },
      }),
      json(200, {
        job_id: 'e',
        status: 'FAIL',
        entities: { addition_error_code: 'IMS.0193', addition_error_msg: 'The OBS bucket is in another region.' },
      }),
    );
    const ims = client();
    expect(await ims.getJob('d')).toMatchObject({
      errorCode: 'IMG.0072',
      failReason: 'The image format is not supported.',
    });
    expect(await ims.getJob('e')).toMatchObject({
      errorCode: 'IMS.0193',
      failReason: 'The OBS bucket is in another region.',
    });
  });

  it('lists every page, using the last id as the marker, until an empty page (a short one proves nothing)', async () => {
    const image = (id: string) => ({ id, name: id, status: 'active', tags: ['imsync-key=x'] });
    replies.push(
      json(200, { images: [image('a'), image('b')] }),
      json(200, { images: [image('c')] }),
      json(200, { images: [image('d')] }),
      json(200, { images: [] }),
    );
    const ids: string[] = [];
    for await (const found of client().listAllImages({ tag: 'imsync-key=x', limit: 2 })) ids.push(found.id);
    expect(ids).toEqual(['a', 'b', 'c', 'd']);
    expect(seen.map((r) => r.url)).toEqual([
      '/v2/cloudimages?enterprise_project_id=all_granted_eps&tag=imsync-key%3Dx&limit=2',
      '/v2/cloudimages?enterprise_project_id=all_granted_eps&tag=imsync-key%3Dx&limit=2&marker=b',
      '/v2/cloudimages?enterprise_project_id=all_granted_eps&tag=imsync-key%3Dx&limit=2&marker=c',
      '/v2/cloudimages?enterprise_project_id=all_granted_eps&tag=imsync-key%3Dx&limit=2&marker=d',
    ]);
  });

  it('treats deleting an image or tag that is already gone as done', async () => {
    replies.push(json(404, { error: { code: 'IMG.0027', message: 'The image ID does not exist.' } }), json(404, {}));
    await client().deleteImage('gone');
    await client().deleteImageTag('gone', 'team');
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'DELETE /v2/images/gone',
      `DELETE /v2/${projectId}/images/gone/tags/team`,
    ]);
  });

  it('sends PATCH operations and tag changes in the documented shapes', async () => {
    replies.push(json(200, { id: 'i', name: 'new', status: 'active', tags: [] }), json(204, ''));
    const ims = client();
    expect((await ims.updateImage('i', [{ op: 'replace', path: '/name', value: 'new' }])).name).toBe('new');
    await ims.changeImageTags('i', 'create', [{ key: 'team', value: 'web' }]);
    expect(seen.map((r) => [r.method, r.url, r.body.toString()])).toEqual([
      ['PATCH', '/v2/cloudimages/i', '[{"op":"replace","path":"/name","value":"new"}]'],
      ['POST', `/v2/${projectId}/images/i/tags/action`, '{"action":"create","tags":[{"key":"team","value":"web"}]}'],
    ]);
  });

  it('stops at once when the caller aborts', async () => {
    const controller = new AbortController();
    controller.abort(new Error('interrupted'));
    await expect(client().getJob('j', controller.signal)).rejects.toThrow('interrupted');
    expect(seen).toHaveLength(0);
  });
});

/** A certificate made for this test alone (self-signed for 127.0.0.1), which no trust store holds. */
const UNTRUSTED_TLS = {
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgrq4SEd6VgmzE1KHa
nPsbBRuygKZ+85+8Iyd2fzwYtx6hRANCAAS0j2Sa4eHS0hLOK4qza13CxYjt6KGs
nfGTRsLYsZzQoLviu4KlERYVNdjuSPjvhirgrBrj8+4PH0Rt2xzG7P2E
-----END PRIVATE KEY-----
`,
  cert: `-----BEGIN CERTIFICATE-----
MIIBjzCCATagAwIBAgIUQjHHXqeHb7Urm0j9O1+PGW13K5EwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTIwMjE0MTgwNFoYDzIxMjYxMTA4
MTQxODA0WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAS0j2Sa4eHS0hLOK4qza13CxYjt6KGsnfGTRsLYsZzQoLviu4KlERYV
NdjuSPjvhirgrBrj8+4PH0Rt2xzG7P2Eo2QwYjAdBgNVHQ4EFgQUwahabUCWdP46
PP/aBNZfu7WCze8wHwYDVR0jBBgwFoAUwahabUCWdP46PP/aBNZfu7WCze8wDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0cAMEQC
IDaX5tF+nXx2z6I64U2p0bcNezV2g0iccI2lgGdb9NctAiB3YnoeCLskgWhY6C4j
M57VfXNrOLTjdvM/pgtWQiXS8w==
-----END CERTIFICATE-----
`,
};

describe('ImsClient: requests it cannot send', () => {
  it('refuses a header value HTTP cannot carry before sending anything, as often as it is asked', async () => {
    // A pool of two connections: each request undici refuses used to keep one for good.
    const ims = client({ auth: { kind: 'token', token: 'iam-token\n' }, connections: 2 });
    for (let i = 0; i < 5; i++) {
      const error = await failure(ims.getQuota());
      expect(error).toMatchObject({ code: 'INVALID_HEADER', retry: 'never' });
      expect(error.message).toContain('x-auth-token');
      expect(error.message).not.toContain('iam-token');
    }
    expect(seen).toHaveLength(0);
    await ims.close();
  });

  it('calls an untrusted TLS certificate a refusal: the request never left, sending it again is pointless', async () => {
    const tls = createTlsServer(UNTRUSTED_TLS, (_request, response) => response.end('{"job_id":"j"}'));
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    try {
      const ims = client({ endpoint: `https://127.0.0.1:${(tls.address() as AddressInfo).port}` });
      const error = await failure(ims.quickImport(body));
      expect(error).toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', retry: 'never' });
      await ims.close();
    } finally {
      tls.closeAllConnections();
      await new Promise((resolve) => tls.close(resolve));
    }
  });
});

describe('ImsClient: answers it cannot use', () => {
  it('ends an answer that drips a byte at a time at the request deadline, as an ambiguous timeout', async () => {
    replies.push((response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const drip = setInterval(() => response.write(' '), 20);
      response.on('close', () => clearInterval(drip));
    });
    const started = Date.now();
    const error = await failure(client({ requestTimeoutMs: 400, maxAttempts: 1 }).quickImport(body));
    expect(error).toMatchObject({ code: 'TIMEOUT', retry: 'ambiguous' });
    expect(error.message).toContain('no complete answer within 0.4s');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('drops an answer over the size cap unread, as one it cannot use', async () => {
    const chunk = Buffer.alloc(1024 * 1024, ' ');
    replies.push((response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"images":[');
      let sent = 0;
      const more = () => {
        while (sent <= MAX_ANSWER_BYTES + chunk.length) {
          sent += chunk.length;
          if (!response.write(chunk)) return void response.once('drain', more);
        }
        response.end(']}');
      };
      response.on('error', () => undefined);
      more();
    });
    const error = await failure(client({ maxAttempts: 1 }).listImages());
    expect(error).toMatchObject({ code: 'ANSWER_TOO_LARGE', retry: 'ambiguous', status: 200 });
  });

  it.each([
    ['a job id of 100,000 characters', { job_id: 'f'.repeat(100_000) }],
    ['a job id with a terminal escape', { job_id: '\u001b]0;owned\u0007' }],
    ['an empty job id', { job_id: '' }],
  ])('refuses a quick import answered with %s, quoting a short printable excerpt', async (_case, answer) => {
    replies.push(json(200, answer));
    const error = await failure(client({ maxAttempts: 1 }).quickImport(body));
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', retry: 'ambiguous', status: 200 });
    expect(error.message.length).toBeLessThan(400);
    expect(printable(error.message)).toBe(error.message);
  });

  it.each([
    ['an image id of 100,000 characters', { images: [{ id: 'a'.repeat(100_000), name: 'n', status: 'active' }] }],
    ['an image id with a newline', { images: [{ id: 'id\n+ forged', name: 'n', status: 'active' }] }],
    ['an image status of 100,000 characters', { images: [{ id: 'i', name: 'n', status: 's'.repeat(100_000) }] }],
  ])('refuses a list with %s', async (_case, answer) => {
    replies.push(json(200, answer));
    expect(await failure(client({ maxAttempts: 1 }).listImages())).toMatchObject({ code: 'BAD_RESPONSE' });
  });

  it('refuses a job whose image id is no id, and bounds the reason of a failed one', async () => {
    replies.push(json(200, { job_id: 'j', status: 'SUCCESS', entities: { image_id: '../../etc' } }));
    expect(await failure(client({ maxAttempts: 1 }).getJob('j'))).toMatchObject({ code: 'BAD_RESPONSE' });
    replies.push(
      json(200, { job_id: 'j', status: 'FAIL', error_code: 'IMG.0057', fail_reason: 'x'.repeat(5_000_000) }),
    );
    const job = await client({ maxAttempts: 1 }).getJob('j');
    expect(job.errorCode).toBe('IMG.0057');
    expect(job.failReason!.length).toBeLessThan(1100);
  });

  it('bounds an error message of 5 MB, and takes no error code that is not a code', async () => {
    const message = `\u001b[2J${'m'.repeat(5_000_000)}`;
    replies.push(json(400, { error: { code: 'c'.repeat(100_000), message } }));
    const error = await failure(client({ maxAttempts: 1 }).getQuota());
    expect(error).toMatchObject({ code: 'HTTP_400', retry: 'never', status: 400 });
    expect(error.message.length).toBeLessThan(1200);
    expect(error.message).not.toContain('\u001b');
  });
});
