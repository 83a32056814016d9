// The OBS calls on the emulator's port: HEAD Object, HEAD Bucket and GET ?location on a bucket's
// virtual host, signed with the OBS signature, sent to 127.0.0.1 with the Host set (no DNS).
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseFaults, type ObsEntry } from '../../src/emulator/index.js';
import { signObsRequest, wirePath, type ObsRequest } from '../../src/obs/signer.js';
import { inspect, START, systemImage, testEmulator, type TestEmulator } from './support.js';

interface ObsAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

interface ObsOptions {
  /** Default `{bucket}.obs.localhost:{port}`. */
  readonly host?: string;
  /** Default the emulator's clock. */
  readonly signedAt?: Date;
  readonly credentials?: { accessKey: string; secretKey: string; securityToken?: string };
  /** Replace the signed headers (undefined values drop them). */
  readonly headers?: Record<string, string | undefined>;
  /** Sent instead of the request's own path. */
  readonly path?: string;
}

function port(t: TestEmulator): number {
  return Number(new URL(t.emulator.url).port);
}

function send(
  t: TestEmulator,
  method: string,
  host: string,
  path: string,
  headers: Record<string, string | undefined>,
): Promise<ObsAnswer> {
  const defined = Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined)) as Record<
    string,
    string
  >;
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: '127.0.0.1', port: port(t), method, path, headers: { ...defined, host } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** A signed OBS request on the bucket's virtual host. */
function obs(t: TestEmulator, call: ObsRequest, options: ObsOptions = {}): Promise<ObsAnswer> {
  const [pair] = t.emulator.credentials;
  const signed = signObsRequest(call, options.credentials ?? pair!, options.signedAt ?? new Date(t.now));
  return send(
    t,
    call.method,
    options.host ?? `${call.bucket}.obs.localhost:${port(t)}`,
    options.path ?? wirePath(call),
    { ...signed, ...options.headers },
  );
}

const headObject = (bucket: string, key: string): ObsRequest => ({ method: 'HEAD', bucket, key });
const headBucket = (bucket: string): ObsRequest => ({ method: 'HEAD', bucket, key: '' });
const location = (bucket: string): ObsRequest => ({ method: 'GET', bucket, key: '', query: { location: '' } });

const GIB = 1024 ** 3;
const OBJECTS: ObsEntry[] = [
  { bucket: 'golden', key: 'web.zvhd2', size: 1234 },
  { bucket: 'golden', key: 'cold.zvhd2', size: 5, storageClass: 'COLD' },
  { bucket: 'golden', key: 'kms.zvhd2', size: 5, encryption: 'kms' },
  { bucket: 'golden', key: 'sse-obs.zvhd2', size: 5, encryption: 'AES256' },
  { bucket: 'golden', key: 'sse-c.zvhd2', size: 5, encryption: 'customer' },
  { bucket: 'golden', key: 'dir a/镜像 1.raw', size: 8 * GIB },
  { bucket: 'warm', storageClass: 'WARM' },
  { bucket: 'far', key: 'far.zvhd2', size: 5, region: 'eu-west-101' },
];

const REQUEST_ID = /^[0-9A-F]{32}$/;
const XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>';

/** The code and message of a bodiless (HEAD) error. */
function headError(answer: ObsAnswer) {
  return {
    status: answer.status,
    code: answer.headers['x-obs-error-code'],
    message: answer.headers['x-obs-error-message'],
    body: answer.text,
  };
}

function xmlError(answer: ObsAnswer): { status: number; code: string | undefined; requestId: string | undefined } {
  return {
    status: answer.status,
    code: /<Code>([^<]*)<\/Code>/.exec(answer.text)?.[1],
    requestId: /<RequestId>([^<]*)<\/RequestId>/.exec(answer.text)?.[1],
  };
}

describe('HEAD Object', () => {
  it('answers an object: its size, ETag, Last-Modified, and no storage class when it is Standard', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    const answer = await obs(t, headObject('golden', 'web.zvhd2'));
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('');
    expect(answer.headers['content-length']).toBe('1234');
    expect(answer.headers.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(answer.headers['last-modified']).toBe('Thu, 26 Nov 2026 10:00:00 GMT');
    expect(answer.headers['x-obs-request-id']).toMatch(REQUEST_ID);
    expect(Object.keys(answer.headers).filter((name) => name.startsWith('x-obs-'))).toEqual(['x-obs-request-id']);
    // Deterministic: the same object of the same upload has the same ETag in another emulator.
    const again = await testEmulator({ objects: OBJECTS });
    expect((await obs(again, headObject('golden', 'web.zvhd2'))).headers.etag).toBe(answer.headers.etag);
    expect((await obs(t, headObject('golden', 'cold.zvhd2'))).headers.etag).not.toBe(answer.headers.etag);
  });

  it('sends the storage class when it is not Standard, and the encryption', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    const header = async (key: string, name: string) => (await obs(t, headObject('golden', key))).headers[name];
    expect(await header('cold.zvhd2', 'x-obs-storage-class')).toBe('COLD');
    expect(await header('kms.zvhd2', 'x-obs-server-side-encryption')).toBe('kms');
    expect(await header('sse-obs.zvhd2', 'x-obs-server-side-encryption')).toBe('AES256');
    expect(await header('sse-c.zvhd2', 'x-obs-server-side-encryption-customer-algorithm')).toBe('AES256');
    expect(await header('sse-c.zvhd2', 'x-obs-server-side-encryption')).toBeUndefined();
    expect(await header('web.zvhd2', 'x-obs-server-side-encryption')).toBeUndefined();
  });

  it('finds a key with spaces and non-ASCII characters, sent encoded', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    const answer = await obs(t, headObject('golden', 'dir a/镜像 1.raw'));
    expect(answer.status).toBe(200);
    expect(answer.headers['content-length']).toBe(String(8 * GIB));
  });

  it('answers a missing key 404 NoSuchKey, and a bucket holding nothing and not declared 404 NoSuchBucket', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    expect(headError(await obs(t, headObject('golden', 'web.mf')))).toEqual({
      status: 404,
      code: 'NoSuchKey',
      message: 'The specified key does not exist: key web.mf in bucket golden',
      body: '',
    });
    // A declared bucket exists without objects.
    expect(headError(await obs(t, headObject('warm', 'web.zvhd2')))).toMatchObject({ status: 404, code: 'NoSuchKey' });
    expect(headError(await obs(t, headObject('nowhere', 'web.zvhd2')))).toMatchObject({
      status: 404,
      code: 'NoSuchBucket',
      message: 'The specified bucket does not exist: bucket nowhere',
    });
  });

  it('in the default world finds every .raw, .mf and .zvhd2 in every bucket: Standard, 8 GiB; nothing else', async () => {
    const t = await testEmulator();
    for (const key of ['disk.raw', 'disk.mf', 'images/disk.zvhd2']) {
      const answer = await obs(t, headObject('any-bucket', key));
      expect(answer.status).toBe(200);
      expect(answer.headers['content-length']).toBe(String(8 * GIB));
      expect(answer.headers['x-obs-storage-class']).toBeUndefined();
    }
    expect(headError(await obs(t, headObject('any-bucket', 'disk.qcow2')))).toMatchObject({
      status: 404,
      code: 'NoSuchKey',
    });
  });
});

describe('HEAD Bucket and GET ?location', () => {
  it("answers a bucket's region, its storage class (Standard too) and the API version", async () => {
    const t = await testEmulator({ objects: OBJECTS });
    const golden = await obs(t, headBucket('golden'));
    expect(golden.status).toBe(200);
    expect(golden.text).toBe('');
    expect(golden.headers).toMatchObject({
      'x-obs-bucket-location': 'ap-southeast-1',
      'x-obs-storage-class': 'STANDARD',
      'x-obs-version': '3.0',
    });
    expect(golden.headers['x-obs-request-id']).toMatch(REQUEST_ID);
    expect((await obs(t, headBucket('warm'))).headers['x-obs-storage-class']).toBe('WARM');
    expect(headError(await obs(t, headBucket('nowhere')))).toMatchObject({ status: 404, code: 'NoSuchBucket' });
  });

  it('answers any bucket in the default world: this region, Standard', async () => {
    const t = await testEmulator({ region: 'cn-north-4' });
    expect((await obs(t, headBucket('whatever'))).headers).toMatchObject({
      'x-obs-bucket-location': 'cn-north-4',
      'x-obs-storage-class': 'STANDARD',
    });
  });

  it('answers GET ?location with the XML body, for a bucket of any region', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    const golden = await obs(t, location('golden'));
    expect(golden.status).toBe(200);
    expect(golden.headers['content-type']).toBe('application/xml');
    expect(golden.text).toBe(
      `${XML}<Location xmlns="http://obs.ap-southeast-1.myhuaweicloud.com/doc/2015-06-30/">ap-southeast-1</Location>`,
    );
    expect((await obs(t, location('far'))).text).toBe(
      `${XML}<Location xmlns="http://obs.eu-west-101.myhuaweicloud.com/doc/2015-06-30/">eu-west-101</Location>`,
    );
  });

  it('answers GET errors with the XML error body carrying the request id', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    const answer = await obs(t, location('nowhere'));
    expect(answer.headers['content-type']).toBe('application/xml');
    expect(answer.headers['x-obs-error-code']).toBeUndefined();
    expect(xmlError(answer)).toEqual({
      status: 404,
      code: 'NoSuchBucket',
      requestId: answer.headers['x-obs-request-id'],
    });
    expect(answer.text).toBe(
      `${XML}<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist: bucket nowhere</Message><RequestId>${String(answer.headers['x-obs-request-id'])}</RequestId></Error>`,
    );
  });
});

describe('a bucket in another region', () => {
  it('is answered 301 PermanentRedirect naming its own regional endpoint, on HEAD Bucket and HEAD Object', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    const bucket = await obs(t, headBucket('far'));
    expect(headError(bucket)).toMatchObject({ status: 301, code: 'PermanentRedirect' });
    expect(bucket.headers.location).toBe('https://far.obs.eu-west-101.myhuaweicloud.com/');
    expect(bucket.headers['x-obs-bucket-location']).toBeUndefined();
    const object = await obs(t, headObject('far', 'far.zvhd2'));
    expect(headError(object)).toMatchObject({ status: 301, code: 'PermanentRedirect' });
    expect(object.headers.location).toBe('https://far.obs.eu-west-101.myhuaweicloud.com/far.zvhd2');
  });
});

describe('authentication', () => {
  it('refuses what OBS refuses: 403 with the code in x-obs-error-code, never echoing the secret', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    const [pair] = t.emulator.credentials;
    const call = headObject('golden', 'web.zvhd2');
    const good = signObsRequest(call, pair!, new Date(t.now));
    const cases: [string, ObsOptions, string][] = [
      [
        'a tampered signature',
        { headers: { authorization: good.authorization!.replace(/.=$/, (c) => (c === 'A=' ? 'B=' : 'A=')) } },
        'SignatureDoesNotMatch',
      ],
      ['a wrong secret', { credentials: { accessKey: pair!.accessKey, secretKey: 'wrong' } }, 'SignatureDoesNotMatch'],
      ['an unknown access key', { credentials: { accessKey: 'UNKNOWNKEY', secretKey: 'x' } }, 'InvalidAccessKeyId'],
      ['no Authorization header', { headers: { authorization: undefined } }, 'AccessDenied'],
      ['no date', { headers: { date: undefined } }, 'AccessDenied'],
      ['a date 16 minutes behind', { signedAt: new Date(START - 16 * 60_000) }, 'RequestTimeTooSkewed'],
      ['a date 16 minutes ahead', { signedAt: new Date(START + 16 * 60_000) }, 'RequestTimeTooSkewed'],
      // The bucket is part of what is signed: a signature for another bucket does not fit.
      ['a signature of another bucket', { host: `other.obs.localhost:${port(t)}` }, 'SignatureDoesNotMatch'],
    ];
    for (const [what, options, code] of cases) {
      const answer = await obs(t, call, options);
      expect(headError(answer), what).toMatchObject({ status: 403, code });
      expect(JSON.stringify(answer.headers), what).not.toContain(pair!.secretKey);
    }
    expect((await obs(t, call, { signedAt: new Date(START - 14 * 60_000) })).status).toBe(200);
    expect(
      xmlError(await obs(t, location('golden'), { credentials: { accessKey: 'NOPE', secretKey: 'x' } })),
    ).toMatchObject({
      status: 403,
      code: 'InvalidAccessKeyId',
    });
  });

  it('accepts temporary credentials: the security token is signed', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    const [pair] = t.emulator.credentials;
    const answer = await obs(t, headBucket('golden'), { credentials: { ...pair!, securityToken: 'TEMPORARYTOKEN' } });
    expect(answer.status).toBe(200);
  });

  it('takes the credentials the emulator was given', async () => {
    const credentials = [{ accessKey: 'MYKEY', secretKey: 'my-secret' }];
    const t = await testEmulator({ objects: OBJECTS, credentials });
    expect((await obs(t, headBucket('golden'))).status).toBe(200);
  });
});

describe('addressing', () => {
  it('refuses path style with 403 VirtualHostDomainRequired', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    const host = `obs.localhost:${port(t)}`;
    const answer = await obs(t, headObject('golden', 'web.zvhd2'), { host, path: '/golden/web.zvhd2' });
    expect(headError(answer)).toMatchObject({ status: 403, code: 'VirtualHostDomainRequired' });
    expect(xmlError(await obs(t, location('golden'), { host, path: '/golden?location' }))).toMatchObject({
      status: 403,
      code: 'VirtualHostDomainRequired',
    });
    const [entry] = await inspect(t, 'requests');
    expect(entry).toMatchObject({ service: 'obs', bucket: 'golden', method: 'HEAD', status: 403 });
  });

  it('answers calls it does not serve as OBS does: 405 MethodNotAllowed, 400 for a malformed path', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    for (const call of [
      { method: 'GET', bucket: 'golden', key: 'web.zvhd2' },
      { method: 'GET', bucket: 'golden', key: '' },
      { method: 'PUT', bucket: 'golden', key: 'new.zvhd2' },
      { method: 'DELETE', bucket: 'golden', key: 'web.zvhd2' },
    ]) {
      expect(xmlError(await obs(t, call)), `${call.method} /${call.key}`).toMatchObject({
        status: 405,
        code: 'MethodNotAllowed',
      });
    }
    expect(headError(await obs(t, headBucket('golden'), { path: '/%ZZ' }))).toMatchObject({
      status: 400,
      code: 'BadRequest',
    });
  });

  it('keeps every other Host on the IMS routes', async () => {
    const t = await testEmulator();
    const quota = await send(t, 'GET', `ims.localhost:${port(t)}`, '/v1/cloudimages/quota', {
      'x-auth-token': t.emulator.token,
    });
    expect(quota.status).toBe(200);
    const notObs = await send(t, 'HEAD', `golden.obs.localhost.example:${port(t)}`, '/web.zvhd2', {});
    expect(notObs.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(notObs.headers['x-obs-request-id']).toBeUndefined();
    expect(notObs.status).toBe(404);
  });

  it('reports the OBS endpoint of the started emulator', async () => {
    const t = await testEmulator();
    expect(t.emulator.obsEndpoint).toBe(`http://obs.localhost:${port(t)}`);
  });
});

describe('the request log', () => {
  it('records OBS calls with their service and bucket, apart from IMS requests', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    await obs(t, headBucket('golden'));
    await obs(t, headObject('golden', 'dir a/镜像 1.raw'));
    await obs(t, location('far'));
    await t.call('GET', '/v1/cloudimages/quota');
    const requests = await inspect(t, 'requests');
    expect(requests.filter((entry) => entry.service === 'obs')).toEqual([
      expect.objectContaining({ service: 'obs', bucket: 'golden', method: 'HEAD', path: '/', query: '', status: 200 }),
      expect.objectContaining({
        bucket: 'golden',
        method: 'HEAD',
        path: '/dir%20a/%E9%95%9C%E5%83%8F%201.raw',
        status: 200,
      }),
      expect.objectContaining({ bucket: 'far', method: 'GET', path: '/', query: 'location', status: 200 }),
    ]);
    const ims = requests.find((entry) => entry.path === '/v1/cloudimages/quota');
    expect(ims).not.toHaveProperty('service');
    expect(ims).not.toHaveProperty('bucket');
  });
});

async function socketError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
  throw new Error('expected the connection to be destroyed');
}

describe('faults', () => {
  it('answers injected errors in OBS shapes: 503 ServiceUnavailable, 500 InternalError, and 429 as 503 SlowDown', async () => {
    const cases: [string, number, string][] = [
      ['503=1', 503, 'ServiceUnavailable'],
      ['500=1', 500, 'InternalError'],
      ['429=1', 503, 'SlowDown'],
    ];
    for (const [faults, status, code] of cases) {
      const t = await testEmulator({ objects: OBJECTS, faults: parseFaults(faults) });
      expect(headError(await obs(t, headObject('golden', 'web.zvhd2'))), faults).toMatchObject({ status, code });
      expect(xmlError(await obs(t, location('golden'))), faults).toMatchObject({ status, code });
      const [entry] = await inspect(t, 'requests');
      expect(entry).toMatchObject({ service: 'obs', status, fault: faults.slice(0, 3) });
    }
  });

  it('limits OBS calls with 503 SlowDown, on a rate limit apart from IMS requests', async () => {
    const t = await testEmulator({ objects: OBJECTS, faults: parseFaults('rate=2') });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await obs(t, headBucket('golden'))).status);
    expect(statuses).toEqual([200, 200, 503]);
    expect(headError(await obs(t, headBucket('golden')))).toMatchObject({ status: 503, code: 'SlowDown' });
    expect((await t.call('GET', '/v1/cloudimages/quota')).status).toBe(200);
    expect((await inspect(t, 'requests')).filter((entry) => entry.fault === 'rate')).toHaveLength(2);
    t.advance(1000);
    expect((await obs(t, headBucket('golden'))).status).toBe(200);
  });

  it('resets the connection, or loses the answer after the work', async () => {
    for (const fault of ['reset', 'lost']) {
      const t = await testEmulator({ objects: OBJECTS, faults: parseFaults(`${fault}=1`) });
      expect(await socketError(obs(t, headObject('golden', 'web.zvhd2')))).toMatch(/ECONNRESET|socket hang up/);
      const [entry] = await inspect(t, 'requests');
      expect(entry).toMatchObject({ service: 'obs', status: fault === 'lost' ? 200 : null, fault });
    }
  });

  it("drips a HEAD answer's head a byte at a time, without end", async () => {
    const t = await testEmulator({ objects: OBJECTS, faults: parseFaults('drip=1') });
    const socket = connect(port(t), '127.0.0.1');
    const call = headBucket('golden');
    const headers = signObsRequest(call, t.emulator.credentials[0]!, new Date(t.now));
    const lines = Object.entries({ host: `golden.obs.localhost:${port(t)}`, ...headers }).map(([n, v]) => `${n}: ${v}`);
    socket.write(`HEAD / HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    await new Promise((resolve) => setTimeout(resolve, 900));
    socket.destroy();
    expect(received.length).toBeGreaterThan(0);
    expect(received.length).toBeLessThan(10);
    expect('HTTP/1.1 200 OK\r\n'.startsWith(received)).toBe(true);
    const [entry] = await inspect(t, 'requests');
    expect(entry).toMatchObject({ service: 'obs', status: 200, fault: 'drip' });
  });

  it('leaves IMS faults as they were: OBS calls draw from a stream of their own', async () => {
    const faults = parseFaults('500=0.5');
    const imsStatuses = async (t: TestEmulator) => {
      const seen: number[] = [];
      for (let i = 0; i < 8; i++) seen.push((await t.call('GET', '/v1/cloudimages/quota')).status);
      return seen;
    };
    const alone = await imsStatuses(await testEmulator({ seed: 3, faults }));
    const mixed = await testEmulator({ seed: 3, faults });
    for (let i = 0; i < 5; i++) await obs(mixed, headBucket('b'));
    expect(await imsStatuses(mixed)).toEqual(alone);
  });
});

describe('PUT /__emulator/objects', () => {
  const put = (t: TestEmulator, body: unknown, headers: Record<string, string> = { 'x-imsync-emulator': '1' }) =>
    t.call('PUT', '/__emulator/objects', { auth: 'none', body, headers });

  it('re-uploads an object under its key: a new ETag, size and Last-Modified', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    const before = await obs(t, headObject('golden', 'web.zvhd2'));
    t.advance(60_000);
    const uploaded = await put(t, { bucket: 'golden', key: 'web.zvhd2', size: 4321 });
    expect(uploaded.status).toBe(200);
    const after = await obs(t, headObject('golden', 'web.zvhd2'));
    expect(after.headers.etag).not.toBe(before.headers.etag);
    expect(uploaded.json).toMatchObject({
      bucket: 'golden',
      key: 'web.zvhd2',
      size: 4321,
      storageClass: 'STANDARD',
      region: 'ap-southeast-1',
      etag: after.headers.etag,
      uploadedAt: '2026-11-26T10:01:00.000Z',
    });
    expect(after.headers['content-length']).toBe('4321');
    expect(after.headers['last-modified']).toBe('Thu, 26 Nov 2026 10:01:00 GMT');
    // The same content uploaded again is still another upload.
    await put(t, { bucket: 'golden', key: 'web.zvhd2', size: 4321 });
    expect((await obs(t, headObject('golden', 'web.zvhd2'))).headers.etag).not.toBe(after.headers.etag);
  });

  it('adds objects and buckets, beside the default world too', async () => {
    const t = await testEmulator();
    const defaultEtag = (await obs(t, headObject('b', 'disk.zvhd2'))).headers.etag;
    await put(t, { bucket: 'b', key: 'disk.zvhd2', size: 7, storageClass: 'WARM' });
    await put(t, { bucket: 'b', key: 'notes.txt', size: 3 });
    await put(t, { bucket: 'cold-bucket', storageClass: 'COLD' });
    const disk = await obs(t, headObject('b', 'disk.zvhd2'));
    expect(disk.headers.etag).not.toBe(defaultEtag);
    expect(disk.headers['x-obs-storage-class']).toBe('WARM');
    expect((await obs(t, headObject('b', 'notes.txt'))).status).toBe(200);
    expect((await obs(t, headObject('b', 'other.raw'))).status).toBe(200);
    expect((await obs(t, headBucket('cold-bucket'))).headers['x-obs-storage-class']).toBe('COLD');
    const listed = await t.call('GET', '/__emulator/objects', { auth: 'none' });
    expect(listed.json).toMatchObject({
      defaultWorld: true,
      buckets: [
        { bucket: 'b', storageClass: 'STANDARD', region: 'ap-southeast-1' },
        { bucket: 'cold-bucket', storageClass: 'COLD', region: 'ap-southeast-1' },
      ],
      objects: [
        expect.objectContaining({ key: 'disk.zvhd2', size: 7, etag: disk.headers.etag }),
        expect.objectContaining({ key: 'notes.txt' }),
      ],
    });
  });

  it('is what an import job reads: a re-upload in another class fails the job', async () => {
    const t = await testEmulator({ objects: OBJECTS, jobSeconds: 0 });
    await put(t, { bucket: 'golden', key: 'web.zvhd2', size: 1234, storageClass: 'COLD' });
    const jobId = await t.submit(systemImage('web', { image_url: 'golden:web.zvhd2' }));
    const job = await t.call('GET', `/v1/${t.emulator.projectId}/jobs/${jobId}`);
    expect(job.json).toMatchObject({ status: 'FAIL', error_code: 'IMG.0057' });
    expect(job.json.fail_reason).toMatch(/COLD/);
    await put(t, { bucket: 'golden', key: 'new.zvhd2', size: 1234 });
    const next = await t.submit(systemImage('new', { image_url: 'golden:new.zvhd2' }));
    expect((await t.call('GET', `/v1/${t.emulator.projectId}/jobs/${next}`)).json).toMatchObject({ status: 'SUCCESS' });
  });

  it('refuses without the header, a bad entry or another region, with a clear error', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    expect((await put(t, { bucket: 'golden', key: 'x.zvhd2', size: 1 }, {})).json).toEqual({
      error: 'PUT /__emulator/objects needs the header X-Imsync-Emulator: 1',
    });
    const refusals: [unknown, string][] = [
      ['{', 'PUT /__emulator/objects: not valid JSON'],
      [{ bucket: 'golden', key: 'x.zvhd2' }, 'PUT /__emulator/objects: the entry (golden:x.zvhd2): size must be'],
      [{ bucket: 'golden', key: 'x', size: 1, encryption: 'sm4' }, 'encryption must be one of kms, AES256, customer'],
      [{ bucket: 'far', key: 'x.zvhd2', size: 1, region: 'ap-southeast-1' }, 'bucket far is in region eu-west-101'],
    ];
    for (const [body, message] of refusals) {
      const answer = await put(t, body);
      expect(answer.status).toBe(400);
      expect(String(answer.json.error)).toContain(message);
    }
    expect((await obs(t, headObject('golden', 'x.zvhd2'))).status).toBe(404);
  });

  it('is undone by a reset, which brings back the first objects and their ETags', async () => {
    const t = await testEmulator({ objects: OBJECTS });
    const first = (await obs(t, headObject('golden', 'web.zvhd2'))).headers.etag;
    await put(t, { bucket: 'golden', key: 'web.zvhd2', size: 1 });
    await put(t, { bucket: 'golden', key: 'added.zvhd2', size: 1 });
    const reset = await t.call('POST', '/__emulator/reset', { auth: 'none', headers: { 'x-imsync-emulator': '1' } });
    expect(reset.status).toBe(204);
    expect((await obs(t, headObject('golden', 'web.zvhd2'))).headers.etag).toBe(first);
    expect((await obs(t, headObject('golden', 'added.zvhd2'))).status).toBe(404);
  });
});
