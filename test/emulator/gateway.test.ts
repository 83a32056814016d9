import { connect } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { DOC_EXAMPLES } from '../support/ims-doc-examples.js';
import { inspect, START, systemImage, testEmulator, type TestEmulator } from './support.js';

/** The header a reset needs: no HTML form can send it. */
const RESET_HEADER = { 'x-imsync-emulator': '1' };

async function stillServes(t: TestEmulator): Promise<void> {
  expect((await t.call('GET', '/v1/cloudimages/quota')).status).toBe(200);
}

const NOT_FOUND = 'The API does not exist or has not been published in the environment';

describe('gateway behaviour', () => {
  it('puts a distinct X-Request-Id on every answer', async () => {
    const t = await testEmulator();
    const answers = [
      await t.call('GET', '/v1/cloudimages/quota'),
      await t.call('GET', '/nowhere'),
      await t.call('GET', '/v2/cloudimages', { auth: 'none' }),
      await t.call('POST', '/v2/cloudimages/quickimport/action', { body: '{' }),
    ];
    const ids = answers.map((answer) => answer.headers['x-request-id']);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each([
    ['GET', '/nowhere'],
    ['GET', '/'],
    ['DELETE', '/v2/cloudimages'],
    ['PUT', '/v2/cloudimages/quickimport/action'],
    ['GET', '/v2/cloudimages/quickimport/action'],
    ['GET', '/v2/cloudimages/'],
    ['GET', '/v2/images/%ZZ'],
    ['DELETE', '/v2/images/'],
  ])('answers %s %s with 404 APIGW.0101, before authentication', async (method, path) => {
    const t = await testEmulator();
    const answer = await t.call(method, path, { auth: 'none' });
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({
      error_code: 'APIGW.0101',
      error_msg: NOT_FOUND,
      request_id: answer.headers['x-request-id'],
    });
    await stillServes(t);
  });

  it('answers a body over 12 MB with 413 APIGW.0201, and keeps serving', async () => {
    const t = await testEmulator();
    const body = JSON.stringify({ ...DOC_EXAMPLES.minimal, description: 'x'.repeat(13 * 1024 * 1024) });
    const answer = await t.call('POST', '/v2/cloudimages/quickimport/action', { body });
    expect(answer.status).toBe(413);
    expect(answer.code).toBe('APIGW.0201');
    await stillServes(t);
  });

  it('takes a body just under 12 MB to validation', async () => {
    const t = await testEmulator();
    const body = JSON.stringify({ ...DOC_EXAMPLES.minimal, description: 'x'.repeat(12 * 1024 * 1024 - 200) });
    const answer = await t.call('POST', '/v2/cloudimages/quickimport/action', { body });
    expect(answer.code).toBe('IMG.0004');
  });

  it.each([
    ['malformed JSON', '{"name":'],
    ['binary garbage', Buffer.from([0xff, 0xfe, 0x00, 0x7b])],
    ['a JSON null', 'null'],
    ['a deeply nested value', `${'['.repeat(5000)}${']'.repeat(5000)}`],
  ])('answers %s with 400 IMG.0001 on every JSON route, and keeps serving', async (_, body) => {
    const t = await testEmulator({ jobSeconds: 0 });
    await t.submit(systemImage('img'));
    const [image] = await inspect(t, 'images');
    const id = String(image?.id);
    for (const [method, path] of [
      ['POST', '/v2/cloudimages/quickimport/action'],
      ['PATCH', `/v2/cloudimages/${id}`],
      ['POST', `/v2/${t.emulator.projectId}/images/${id}/tags/action`],
      ['POST', `/v2/${t.emulator.projectId}/images/${id}/tags`],
    ]) {
      const answer = await t.call(method ?? '', path ?? '', { body });
      expect(answer.status, `${method} ${path}`).toBe(400);
      expect(answer.code).toBe('IMG.0001');
    }
    await stillServes(t);
  });

  it('survives bytes that are not HTTP', async () => {
    const t = await testEmulator();
    const { port } = new URL(t.emulator.url);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end('NOT HTTP AT ALL\r\n\r\n'));
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    await stillServes(t);
  });

  it('answers a bug with 500 and an IMS body, says so on stderr once, and keeps serving', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      let broken = false;
      const t = await testEmulator({
        clock: () => {
          if (broken) throw new Error('the clock broke');
          return START;
        },
      });
      broken = true;
      for (let i = 0; i < 2; i++) {
        const answer = await t.call('GET', '/v1/cloudimages/quota');
        expect(answer.status).toBe(500);
        expect(answer.code).toBe('IMG.0061');
        expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
      }
      expect(stderr).toHaveBeenCalledTimes(1);
      expect(String(stderr.mock.calls[0]?.[0])).toContain('the clock broke');
      broken = false;
      await stillServes(t);
    } finally {
      stderr.mockRestore();
    }
  });

  it('takes a client that goes away mid-body in its stride', async () => {
    const stderr = vi.spyOn(process.stderr, 'write');
    const t = await testEmulator();
    const { port } = new URL(t.emulator.url);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /v2/cloudimages/quickimport/action HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"na');
        setTimeout(() => socket.destroy(), 20);
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    await stillServes(t);
    expect(stderr).not.toHaveBeenCalled();
    stderr.mockRestore();
  });

  it('serves many keep-alive requests and concurrent imports', async () => {
    const t = await testEmulator({ maxConcurrentImports: 100 });
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        t.call('POST', '/v2/cloudimages/quickimport/action', { body: systemImage(`img-${i}`) }),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(200));
    expect(new Set(answers.map((answer) => answer.json.job_id)).size).toBe(50);
    expect((await t.call('GET', '/v2/cloudimages?limit=1000')).json.images).toHaveLength(50);
  });
});

describe('/__emulator/ inspection', () => {
  it('logs API requests without credentials, with the body of quick imports', async () => {
    const t = await testEmulator();
    await t.call('POST', '/v2/cloudimages/quickimport/action', { body: DOC_EXAMPLES.minimal, auth: 'aksk' });
    await t.call('GET', '/v2/cloudimages?name=ims_test_file');
    await t.call('GET', '/nowhere');
    const log = await t.call('GET', '/__emulator/requests', { auth: 'none' });
    expect(log.status).toBe(200);
    expect(log.json.requests).toEqual([
      {
        time: '2026-11-26T10:00:00.000Z',
        method: 'POST',
        path: '/v2/cloudimages/quickimport/action',
        query: '',
        request_id: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown,
        status: 200,
        body: DOC_EXAMPLES.minimal,
      },
      expect.objectContaining({ method: 'GET', path: '/v2/cloudimages', query: 'name=ims_test_file', status: 200 }),
      expect.objectContaining({ path: '/nowhere', status: 404 }),
    ]);
    const [credentials] = t.emulator.credentials;
    for (const secret of [t.emulator.token, credentials?.accessKey, credentials?.secretKey, 'SDK-HMAC-SHA256']) {
      expect(log.text).not.toContain(secret);
    }
  });

  it('shows images and jobs, and a reset clears them and the log', async () => {
    const t = await testEmulator({ jobSeconds: 1 });
    const jobId = await t.submit(systemImage('img'));
    t.advance(1000);
    expect(await inspect(t, 'images')).toEqual([expect.objectContaining({ name: 'img', status: 'active' })]);
    expect(await inspect(t, 'jobs')).toEqual([expect.objectContaining({ job_id: jobId, status: 'SUCCESS' })]);

    expect((await t.call('POST', '/__emulator/reset', { auth: 'none', headers: RESET_HEADER })).status).toBe(204);
    expect(await inspect(t, 'images')).toEqual([]);
    expect(await inspect(t, 'jobs')).toEqual([]);
    expect(await inspect(t, 'requests')).toEqual([]);
    expect((await t.call('GET', `/v1/${t.emulator.projectId}/jobs/${jobId}`)).status).toBe(404);
  });

  it('refuses a reset without its header, as a form on another site would send it: 403, nothing cleared', async () => {
    const t = await testEmulator({ jobSeconds: 1 });
    await t.submit(systemImage('img'));
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const refused = await t.call('POST', '/__emulator/reset', { auth: 'none', headers: form, body: 'reset=1' });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('X-Imsync-Emulator: 1');
    expect(await inspect(t, 'images')).toEqual([expect.objectContaining({ name: 'img' })]);
    expect(await inspect(t, 'requests')).toHaveLength(1);
  });

  it('answers an unknown inspection route with 404 listing the routes', async () => {
    const t = await testEmulator();
    const answer = await t.call('GET', '/__emulator/nothing', { auth: 'none' });
    expect(answer.status).toBe(404);
    expect(answer.json.error).toContain('GET /__emulator/requests');
  });
});
