import { describe, expect, it } from 'vitest';
import { parseFaults } from '../../src/emulator/index.js';
import { ImsClient } from '../../src/ims/client.js';
import { inspect, systemImage, testEmulator, type TestEmulator } from './support.js';

describe('parseFaults', () => {
  it('reads every fault of the grammar', () => {
    expect(parseFaults(' rate=100, 429=0.1,500=0.05 ,503=0, latency=20-200, reset=0.05, lost=1, jobcap=3 ')).toEqual({
      rate: 100,
      error429: 0.1,
      error500: 0.05,
      error503: 0,
      latencyMs: [20, 200],
      reset: 0.05,
      lost: 1,
      jobcap: 3,
    });
    expect(parseFaults('latency=50')).toEqual({ latencyMs: [50, 50] });
    expect(parseFaults('')).toEqual({});
  });

  it.each([
    ['rate', 'missing "="'],
    ['rate=0', 'rate must be a positive number'],
    ['500=1.5', '500 must be a probability'],
    ['reset=x', 'reset must be a probability'],
    ['latency=200-20', 'MIN at most MAX'],
    ['latency=fast', 'latency must be MS or MIN-MAX'],
    ['jobcap=2.5', 'jobcap must be a whole number'],
    ['404=0.1', 'unknown fault "404"'],
    ['toString=0.1', 'unknown fault "toString"'],
    ['rate=1,rate=2', 'rate is given twice'],
    ['429=0.5,500=0.6', 'add up to more than 1'],
    ['lost=0.6,hang=0.5', 'lost, hang and drip add up to more than 1'],
    ['lost=0.5,drip=0.6', 'lost, hang and drip add up to more than 1'],
  ])('refuses %s, naming the bad part and the grammar', (spec, reason) => {
    expect(() => parseFaults(spec)).toThrow(reason);
    expect(() => parseFaults(spec)).toThrow('Expected name=value items separated by commas');
  });
});

async function statuses(t: TestEmulator, count: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < count; i++) seen.push((await t.call('GET', '/v1/cloudimages/quota')).status);
  return seen;
}

async function socketError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
  throw new Error('expected the connection to be destroyed');
}

describe('injected faults', () => {
  it('repeats the same statuses under the same seed', async () => {
    const faults = parseFaults('429=0.2,500=0.2,503=0.2');
    const first = await statuses(await testEmulator({ seed: 42, faults }), 40);
    const second = await statuses(await testEmulator({ seed: 42, faults }), 40);
    const other = await statuses(await testEmulator({ seed: 43, faults }), 40);
    expect(second).toEqual(first);
    expect(other).not.toEqual(first);
    expect(new Set(first)).toEqual(new Set([200, 429, 500, 503]));
  });

  it('answers injected errors in the documented shapes', async () => {
    const t = await testEmulator({ faults: parseFaults('500=1') });
    const failed = await t.call('GET', '/v1/cloudimages/quota');
    expect(failed.status).toBe(500);
    expect(failed.code).toBe('IMG.0061');
    const throttled = await testEmulator({ faults: parseFaults('429=1') });
    expect((await throttled.call('GET', '/v1/cloudimages/quota')).code).toBe('APIGW.0308');
  });

  it('limits the request rate with 429 APIGW.0308, refilling with the clock', async () => {
    const t = await testEmulator({ faults: parseFaults('rate=3') });
    expect(await statuses(t, 5)).toEqual([200, 200, 200, 429, 429]);
    const throttled = await t.call('GET', '/v1/cloudimages/quota');
    expect(throttled.json).toEqual({
      error_code: 'APIGW.0308',
      error_msg: 'The throttling threshold has been reached: policy user over ratelimit,limit:3,time:1 second',
      request_id: throttled.headers['x-request-id'],
    });
    t.advance(1000);
    expect(await statuses(t, 4)).toEqual([200, 200, 200, 429]);
    t.advance(334);
    expect(await statuses(t, 2)).toEqual([200, 429]);
  });

  it('does not let throttled requests shift the other faults', async () => {
    const faults = '500=0.5';
    const unthrottled = await statuses(await testEmulator({ seed: 9, faults: parseFaults(faults) }), 6);
    const t = await testEmulator({ seed: 9, faults: parseFaults(`${faults},rate=2`) });
    const passed: number[] = [];
    for (let round = 0; round < 3; round++) {
      const seen = await statuses(t, 4);
      expect(seen.slice(2)).toEqual([429, 429]);
      passed.push(...seen.slice(0, 2));
      t.advance(1000);
    }
    expect(passed).toEqual(unthrottled);
  });

  it('resets the connection before doing any work', async () => {
    const t = await testEmulator({ faults: parseFaults('reset=1') });
    const error = await socketError(t.call('POST', '/v2/cloudimages/quickimport/action', { body: systemImage('a') }));
    expect(error).toMatch(/SOCKET|ECONNRESET/);
    expect(await inspect(t, 'images')).toEqual([]);
    const [entry] = await inspect(t, 'requests');
    expect(entry).toMatchObject({ path: '/v2/cloudimages/quickimport/action', status: null, fault: 'reset' });
  });

  it('loses the answer after doing the work', async () => {
    const t = await testEmulator({ faults: parseFaults('lost=1') });
    const error = await socketError(t.call('POST', '/v2/cloudimages/quickimport/action', { body: systemImage('a') }));
    expect(error).toMatch(/SOCKET|ECONNRESET/);
    const images = await inspect(t, 'images');
    expect(images).toEqual([expect.objectContaining({ name: 'a', status: 'queued' })]);
    const [entry] = await inspect(t, 'requests');
    expect(entry).toMatchObject({ status: 200, fault: 'lost' });
  });

  it('holds a hung answer back, the work done: the client gives up on it (an ambiguous timeout)', async () => {
    const t = await testEmulator({ faults: parseFaults('hang=1') });
    const { url, projectId, token } = t.emulator;
    const client = new ImsClient({ endpoint: url, projectId, auth: { kind: 'token', token }, requestTimeoutMs: 300 });
    await expect(client.quickImport(systemImage('a') as never)).rejects.toMatchObject({
      code: 'TIMEOUT',
      retry: 'ambiguous',
    });
    await client.close();
    expect(await inspect(t, 'images')).toEqual([expect.objectContaining({ name: 'a' })]);
    const [entry] = await inspect(t, 'requests');
    expect(entry).toMatchObject({ status: 200, fault: 'hang' });
  });

  it('drips an answer a byte at a time without end, the work done: the request deadline ends it', async () => {
    expect(parseFaults('drip=0.25')).toEqual({ drip: 0.25 });
    const t = await testEmulator({ faults: parseFaults('drip=1') });
    const { url, projectId, token } = t.emulator;
    const client = new ImsClient({ endpoint: url, projectId, auth: { kind: 'token', token }, requestTimeoutMs: 1000 });
    const started = Date.now();
    await expect(client.quickImport(systemImage('a') as never)).rejects.toMatchObject({
      code: 'TIMEOUT',
      retry: 'ambiguous',
    });
    expect(Date.now() - started).toBeLessThan(3000);
    await client.close();
    expect(await inspect(t, 'images')).toEqual([expect.objectContaining({ name: 'a' })]);
    const [entry] = await inspect(t, 'requests');
    expect(entry).toMatchObject({ status: 200, fault: 'drip' });
  });

  it('delays answers by the latency', async () => {
    const t = await testEmulator({ faults: parseFaults('latency=40') });
    const started = performance.now();
    expect((await t.call('GET', '/v1/cloudimages/quota')).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
    const [entry] = await inspect(t, 'requests');
    expect(entry?.latency_ms).toBe(40);
  });

  it('spares the inspection routes, and a reset replays the same faults', async () => {
    const t = await testEmulator({ seed: 5, faults: parseFaults('500=0.5,rate=4') });
    const before = await statuses(t, 6);
    for (let i = 0; i < 10; i++) expect((await t.call('GET', '/__emulator/jobs', { auth: 'none' })).status).toBe(200);
    const reset = await t.call('POST', '/__emulator/reset', { auth: 'none', headers: { 'x-imsync-emulator': '1' } });
    expect(reset.status).toBe(204);
    expect(await statuses(t, 6)).toEqual(before);
  });
});
