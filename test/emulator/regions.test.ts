// Several regions on one port: each its own world at ims.{region}.localhost, the default one also
// on the plain host; its own project, refused at another region's endpoint; IAM's project list on
// iam.localhost; a region taken down.
import { describe, expect, it } from 'vitest';
import { createEmulatorCore, EMULATOR_DEFAULTS, type ObsEntry } from '../../src/emulator/index.js';
import { request } from 'undici';
import { ObsClient } from '../../src/obs/client.js';
import { obsEndpoint } from '../../src/obs/endpoints.js';
import { signObsRequest, wirePath } from '../../src/obs/signer.js';
import { loopback } from '../support/loopback.js';
import { inspect, START, systemImage, testEmulator, type CallOptions, type TestEmulator } from './support.js';

const AP = 'ap-southeast-1';
const EU = 'eu-west-101';
const CHANGE = { 'x-imsync-emulator': '1' };

function twoRegions(options: Parameters<typeof testEmulator>[0] = {}): Promise<TestEmulator> {
  return testEmulator({ regions: [AP, EU], ...options });
}

function endpoint(t: TestEmulator, region: string): string {
  const url = t.emulator.endpoints.get(region);
  if (url === undefined) throw new Error(`no endpoint for ${region}`);
  return url;
}

function tokenOf(t: TestEmulator, region: string): string {
  const token = t.emulator.regionTokens.get(region);
  if (token === undefined) throw new Error(`no token for ${region}`);
  return token;
}

/** A call to a region's IMS, with that region's token unless told otherwise. */
function at(t: TestEmulator, region: string, method: string, path: string, options: CallOptions = {}) {
  return t.call(method, path, { origin: endpoint(t, region), token: tokenOf(t, region), ...options });
}

async function submitAt(t: TestEmulator, region: string, body: Record<string, unknown>): Promise<string> {
  const answer = await at(t, region, 'POST', '/v2/cloudimages/quickimport/action', { body });
  if (answer.status !== 200) throw new Error(`import refused in ${region}: ${answer.text}`);
  return (answer.json as { job_id: string }).job_id;
}

async function names(t: TestEmulator, region: string): Promise<unknown[]> {
  const answer = await at(t, region, 'GET', '/v2/cloudimages?__imagetype=private');
  return (answer.json.images as { name: string }[]).map((image) => image.name);
}

async function inspected(t: TestEmulator, what: string): Promise<Record<string, unknown>> {
  return (await t.call('GET', `/__emulator/${what}`, { auth: 'none' })).json;
}

/** The error code of a request whose connection was dropped, or a failure when it was answered. */
async function dropped(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
  throw new Error('expected the connection to be dropped');
}

describe('several regions on one port', () => {
  it('gives each region its endpoint and a project id of its own, the default the configured one, the same run after run', async () => {
    const t = await twoRegions();
    const port = new URL(t.emulator.url).port;
    expect([...t.emulator.endpoints]).toEqual([
      [AP, `http://ims.${AP}.localhost:${port}`],
      [EU, `http://ims.${EU}.localhost:${port}`],
    ]);
    expect([...t.emulator.obsEndpoints]).toEqual([
      [AP, `http://obs.${AP}.localhost:${port}`],
      [EU, `http://obs.${EU}.localhost:${port}`],
    ]);
    expect(t.emulator.iamEndpoint).toBe(`http://iam.localhost:${port}`);
    expect(t.emulator.region).toBe(AP);
    expect(t.emulator.projectId).toBe(EMULATOR_DEFAULTS.projectId);
    expect(t.emulator.projectIds.get(AP)).toBe(EMULATOR_DEFAULTS.projectId);
    const eu = t.emulator.projectIds.get(EU);
    expect(eu).toMatch(/^[0-9a-f]{32}$/);
    expect(eu).not.toBe(EMULATOR_DEFAULTS.projectId);
    // Whatever the seed: a state recording project ids must match the next run's.
    expect(createEmulatorCore({ regions: [AP, EU], seed: 99 }).projectIds.get(EU)).toBe(eu);
    // Another account's projects are other ones.
    expect(createEmulatorCore({ regions: [AP, EU], projectId: 'f'.repeat(32) }).projectIds.get(EU)).not.toBe(eu);
  });

  it('keeps the regions apart: an image imported in one is listed, counted and inspected there only', async () => {
    const t = await twoRegions({ jobSeconds: 1 });
    const jobId = await submitAt(t, EU, systemImage('eu-image'));
    t.advance(1000);

    expect(await names(t, EU)).toEqual(['eu-image']);
    expect(await names(t, AP)).toEqual([]);
    // The plain host is the default region's.
    expect((await t.call('GET', '/v2/cloudimages')).json.images).toEqual([]);

    const euProject = t.emulator.projectIds.get(EU) ?? '';
    expect((await at(t, EU, 'GET', `/v1/${euProject}/jobs/${jobId}`)).json).toMatchObject({ status: 'SUCCESS' });
    expect((await t.call('GET', `/v1/${t.emulator.projectId}/jobs/${jobId}`)).status).toBe(404);
    const listed = (await at(t, EU, 'GET', '/v2/cloudimages')).json.images as Record<string, unknown>[];
    expect(listed[0]?.owner).toBe(euProject);

    const quota = async (region: string) =>
      ((await at(t, region, 'GET', '/v1/cloudimages/quota')).json as { quotas: { resources: { used: number }[] } })
        .quotas.resources[0]?.used;
    expect(await quota(EU)).toBe(1);
    expect(await quota(AP)).toBe(0);

    expect((await inspected(t, `images?region=${EU}`)).images).toEqual([expect.objectContaining({ name: 'eu-image' })]);
    expect((await inspected(t, 'images')).images).toEqual([]);
    expect((await inspected(t, `jobs?region=${EU}`)).jobs).toEqual([expect.objectContaining({ job_id: jobId })]);
    expect((await inspected(t, `jobs?region=${AP}`)).jobs).toEqual([]);
    // On a region's host, inspection is of that region.
    const onHost = await at(t, EU, 'GET', '/__emulator/images', { auth: 'none' });
    expect(onHost.json.images).toEqual([expect.objectContaining({ name: 'eu-image' })]);
    const unknown = await t.call('GET', '/__emulator/images?region=us-east-9', { auth: 'none' });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toBe(`no region us-east-9: the emulator serves ${AP}, ${EU}`);
  });

  it('caps concurrent imports and the image quota per region', async () => {
    const t = await twoRegions({ maxConcurrentImports: 1, imageQuota: 2 });
    await submitAt(t, AP, systemImage('ap-1'));
    await submitAt(t, EU, systemImage('eu-1'));
    const capped = await at(t, EU, 'POST', '/v2/cloudimages/quickimport/action', { body: systemImage('eu-2') });
    expect(capped.code).toBe('IMG.0194');
    t.advance(10_000);
    await submitAt(t, EU, systemImage('eu-2'));
    t.advance(10_000);
    const full = await at(t, EU, 'POST', '/v2/cloudimages/quickimport/action', { body: systemImage('eu-3') });
    expect(full.code).toBe('IMG.0015');
    await submitAt(t, AP, systemImage('ap-2'));
  });

  it("refuses another region's project with 403 IMG.0026 naming where it belongs, by header, path or token scope", async () => {
    const t = await twoRegions();
    const ap = t.emulator.projectId;
    const eu = t.emulator.projectIds.get(EU) ?? '';
    const belongsToAp = `project ${ap} is not the caller's project in region ${EU}: it is region ${AP}'s, whose IMS is ims.${AP}.localhost`;

    const byHeader = await at(t, EU, 'GET', '/v2/cloudimages', { auth: 'aksk', headers: { 'x-project-id': ap } });
    expect(byHeader.status).toBe(403);
    expect(byHeader.code).toBe('IMG.0026');
    expect(byHeader.message).toContain(belongsToAp);

    const byPath = await at(t, EU, 'GET', `/v1/${ap}/jobs/${'0'.repeat(32)}`);
    expect(byPath.status).toBe(403);
    expect(byPath.message).toContain(belongsToAp);

    // The default region's token is scoped to its project; each region has a token of its own.
    const byToken = await at(t, EU, 'GET', '/v2/cloudimages', { token: t.emulator.token });
    expect(byToken.status).toBe(403);
    expect(byToken.message).toContain(belongsToAp);
    expect(tokenOf(t, EU)).toBe(`${EMULATOR_DEFAULTS.token}-${EU}`);
    const euToken = await t.call('GET', '/v2/cloudimages', { token: tokenOf(t, EU) });
    expect(euToken.status).toBe(403);
    expect(euToken.message).toContain(`project ${eu} is not the caller's project in region ${AP}`);

    // The region's own project, by AK/SK header and by token, is served.
    expect((await at(t, EU, 'GET', '/v2/cloudimages', { auth: 'aksk', headers: { 'x-project-id': eu } })).status).toBe(
      200,
    );
    expect((await at(t, EU, 'GET', '/v2/cloudimages')).status).toBe(200);

    // A project of no region served is refused as before.
    const stranger = await at(t, EU, 'GET', '/v2/cloudimages', {
      auth: 'aksk',
      headers: { 'x-project-id': 'f'.repeat(32) },
    });
    expect(stranger.message).toMatch(new RegExp(`: project f{32} is not the caller's project$`));
  });

  it('answers a host naming a region not served with the gateway 404, naming the regions served', async () => {
    const t = await twoRegions();
    const origin = `http://ims.us-east-9.localhost:${new URL(t.emulator.url).port}`;
    const answer = await t.call('GET', '/v2/cloudimages', { origin });
    expect(answer.status).toBe(404);
    expect(answer.code).toBe('APIGW.0101');
    expect(answer.message).toContain(`the emulator serves no region us-east-9 (it serves ${AP}, ${EU})`);
  });

  it('logs the region of each IMS and OBS request, and keeps one region with ?region=', async () => {
    const t = await twoRegions();
    await at(t, EU, 'GET', '/v1/cloudimages/quota');
    await t.call('GET', '/v1/cloudimages/quota');
    await obsHead(t, EU, 'golden', '');
    const requests = (await inspected(t, 'requests')).requests as Record<string, unknown>[];
    expect(requests).toEqual([
      expect.objectContaining({ region: EU, path: '/v1/cloudimages/quota', status: 200 }),
      expect.objectContaining({ region: AP, path: '/v1/cloudimages/quota', status: 200 }),
      expect.objectContaining({ service: 'obs', region: EU, bucket: 'golden', status: 200 }),
    ]);
    const eu = (await inspected(t, `requests?region=${EU}`)).requests as Record<string, unknown>[];
    expect(eu.map((entry) => entry.region)).toEqual([EU, EU]);
  });

  it('serves one region exactly as before: its log entries name no region, and its region host is the plain host', async () => {
    const t = await testEmulator();
    expect(t.emulator.regions).toEqual([AP]);
    const jobId = await t.submit(systemImage('img'));
    const viaHost = await t.call('GET', `/v1/${t.emulator.projectId}/jobs/${jobId}`, { origin: endpoint(t, AP) });
    expect(viaHost.json).toMatchObject({ job_id: jobId });
    for (const entry of await inspect(t, 'requests')) expect(entry).not.toHaveProperty('region');
  });

  it('keeps each region its own faults: a rate limit is per region', async () => {
    const t = await twoRegions({ faults: { rate: 1 } });
    expect((await t.call('GET', '/v1/cloudimages/quota')).status).toBe(200);
    expect((await t.call('GET', '/v1/cloudimages/quota')).status).toBe(429);
    expect((await at(t, EU, 'GET', '/v1/cloudimages/quota')).status).toBe(200);
    expect((await at(t, EU, 'GET', '/v1/cloudimages/quota')).status).toBe(429);
  });

  it('resets every region', async () => {
    const t = await twoRegions();
    await submitAt(t, AP, systemImage('ap'));
    await submitAt(t, EU, systemImage('eu'));
    expect((await t.call('POST', '/__emulator/reset', { auth: 'none', headers: CHANGE })).status).toBe(204);
    expect(await names(t, AP)).toEqual([]);
    expect(await names(t, EU)).toEqual([]);
  });

  it('refuses regions that are no region names, given twice, or a default other than the first', () => {
    expect(() => createEmulatorCore({ regions: [] })).toThrow('regions must name at least one region');
    expect(() => createEmulatorCore({ regions: [AP, 'Europe'] })).toThrow(
      '"Europe" is not a region name such as ap-southeast-1',
    );
    expect(() => createEmulatorCore({ regions: [AP, EU, AP] })).toThrow(`region ${AP} is given twice`);
    expect(() => createEmulatorCore({ region: EU, regions: [AP, EU] })).toThrow(
      `region ${EU} is not the first of regions (${AP}, ${EU}), the default region`,
    );
    expect(() => createEmulatorCore({ regions: [AP], down: [EU] })).toThrow(
      `region ${EU} cannot be down: the emulator serves ${AP}`,
    );
  });
});

/** A signed OBS HEAD at a region's OBS endpoint (undefined: obs.localhost), on the bucket's virtual host. */
async function obsHead(t: TestEmulator, region: string | undefined, bucket: string, key: string) {
  const endpoint = new URL(region === undefined ? t.emulator.obsEndpoint : (t.emulator.obsEndpoints.get(region) ?? ''));
  const [pair] = t.emulator.credentials;
  const head = { method: 'HEAD', bucket, key } as const;
  const response = await request(`http://${bucket}.${endpoint.host}${wirePath(head)}`, {
    method: 'HEAD',
    headers: signObsRequest(head, pair!, new Date(t.now)),
    dispatcher: loopback,
  });
  await response.body.dump();
  return { status: response.statusCode, headers: response.headers };
}

describe("a region's OBS and the bucket's region", () => {
  const OBJECTS: ObsEntry[] = [
    { bucket: 'golden-ap', key: 'web.zvhd2', size: 1024 },
    { bucket: 'golden-eu', key: 'web.zvhd2', size: 1024, region: EU },
  ];
  const image = (bucket: string) => systemImage('web', { image_url: `${bucket}:web.zvhd2` });

  it('imports from buckets of the region the import came to, and fails the job with IMG.0058 for another', async () => {
    const t = await twoRegions({ objects: OBJECTS, jobSeconds: 1 });
    const project = (region: string) => t.emulator.projectIds.get(region) ?? '';
    const job = async (region: string, bucket: string) => {
      const jobId = await submitAt(t, region, image(bucket));
      t.advance(1000);
      return (await at(t, region, 'GET', `/v1/${project(region)}/jobs/${jobId}`)).json;
    };
    expect(await job(EU, 'golden-eu')).toMatchObject({ status: 'SUCCESS' });
    expect(await job(AP, 'golden-ap')).toMatchObject({ status: 'SUCCESS' });
    const wrong = await job(EU, 'golden-ap');
    expect(wrong).toMatchObject({ status: 'FAIL', error_code: 'IMG.0058' });
    expect(wrong.fail_reason).toContain(`bucket golden-ap is in region ${AP}, the image is created in ${EU}`);
    expect(await job(AP, 'golden-eu')).toMatchObject({ status: 'FAIL', error_code: 'IMG.0058' });
  });

  it("answers HEAD Bucket at the bucket's own region's OBS, and a redirect at another's (obs.localhost is the default region's)", async () => {
    const t = await twoRegions({ objects: OBJECTS });
    const atEu = await obsHead(t, EU, 'golden-eu', '');
    expect(atEu.status).toBe(200);
    expect(atEu.headers['x-obs-bucket-location']).toBe(EU);
    expect((await obsHead(t, EU, 'golden-eu', 'web.zvhd2')).headers['content-length']).toBe('1024');
    expect((await obsHead(t, undefined, 'golden-eu', '')).status).toBe(301);
    expect((await obsHead(t, AP, 'golden-eu', '')).status).toBe(301);
    expect((await obsHead(t, undefined, 'golden-ap', '')).headers['x-obs-bucket-location']).toBe(AP);
    expect((await obsHead(t, EU, 'golden-ap', '')).status).toBe(301);
  });

  it("is what imsync's OBS client finds at each region's printed OBS endpoint", async () => {
    const t = await twoRegions({ objects: OBJECTS });
    const [credentials] = t.emulator.credentials;
    const head = async (region: string, bucket: string) => {
      const obs = new ObsClient({
        endpoint: obsEndpoint(region, t.emulator.obsEndpoints.get(region)),
        credentials: credentials!,
        clock: { now: () => t.now, sleep: () => Promise.resolve() },
      });
      try {
        return await obs.headBucket(bucket);
      } finally {
        await obs.close();
      }
    };
    expect(await head(EU, 'golden-eu')).toMatchObject({ kind: 'found', region: EU });
    expect(await head(AP, 'golden-eu')).toMatchObject({ kind: 'moved', status: 301 });
  });

  it("in the default world, has every bucket in each region's OBS, in the region asking", async () => {
    const t = await twoRegions({ jobSeconds: 1 });
    expect((await obsHead(t, EU, 'anything', '')).headers['x-obs-bucket-location']).toBe(EU);
    expect((await obsHead(t, undefined, 'anything', '')).headers['x-obs-bucket-location']).toBe(AP);
    const jobId = await submitAt(t, EU, image('anything'));
    t.advance(1000);
    const job = await at(t, EU, 'GET', `/v1/${t.emulator.projectIds.get(EU)}/jobs/${jobId}`);
    expect(job.json).toMatchObject({ status: 'SUCCESS' });
  });
});

describe('IAM: GET /v3/projects on iam.localhost', () => {
  const iam = (t: TestEmulator, query: string, options: CallOptions = {}) =>
    t.call('GET', `/v3/projects${query}`, { origin: t.emulator.iamEndpoint, auth: 'aksk', ...options });

  it("answers a region's project by its name, as KeystoneListProjects does", async () => {
    const t = await twoRegions();
    const answer = await iam(t, `?name=${EU}`);
    expect(answer.status).toBe(200);
    const eu = t.emulator.projectIds.get(EU) ?? '';
    const base = t.emulator.iamEndpoint;
    const projects = answer.json.projects as Record<string, unknown>[];
    const domainId = projects[0]?.domain_id;
    expect(domainId).toMatch(/^[0-9a-f]{32}$/);
    expect(answer.json).toEqual({
      links: { self: `${base}/v3/projects?name=${EU}`, previous: null, next: null },
      projects: [
        {
          id: eu,
          name: EU,
          domain_id: domainId,
          parent_id: domainId,
          enabled: true,
          is_domain: false,
          description: '',
          links: { self: `${base}/v3/projects/${eu}` },
        },
      ],
    });
    expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('filters by exact name: a sub-project only by its own name, an unknown region none', async () => {
    const t = await twoRegions();
    const listed = async (query: string) =>
      ((await iam(t, query)).json.projects as { name: string; parent_id: string }[]).map(
        ({ name, parent_id }) => `${name} < ${parent_id}`,
      );
    const ap = t.emulator.projectId;
    expect(await listed(`?name=${AP}_sub`)).toEqual([`${AP}_sub < ${ap}`]);
    expect(await listed(`?name=${AP}`)).toHaveLength(1);
    expect(await listed('?name=us-east-9')).toEqual([]);
    expect(await listed(`?name=${AP.toUpperCase()}`)).toEqual([]);
    expect(await listed(`?parent_id=${ap}`)).toEqual([`${AP}_sub < ${ap}`]);
    expect(await listed('?enabled=false')).toEqual([]);
    expect((await listed('')).map((row) => row.split(' ')[0])).toEqual([AP, `${AP}_sub`, EU, `${EU}_sub`]);
    expect((await iam(t, '?name=us-east-9')).json).toEqual({
      links: { self: `${t.emulator.iamEndpoint}/v3/projects?name=us-east-9`, previous: null, next: null },
      projects: [],
    });
  });

  it('answers 401 APIGW.0301 unsigned or badly signed, and takes a token', async () => {
    const t = await twoRegions();
    const unsigned = await iam(t, `?name=${EU}`, { auth: 'none' });
    expect(unsigned.status).toBe(401);
    expect(unsigned.code).toBe('APIGW.0301');
    const stale = await iam(t, `?name=${EU}`, { signedAt: new Date(START - 20 * 60_000) });
    expect(stale.status).toBe(401);
    expect(stale.message).toContain('verify aksk signature fail');
    expect((await iam(t, `?name=${EU}`, { auth: 'token' })).status).toBe(200);
  });

  it('is routed on iam.localhost only, and logged as service iam', async () => {
    const t = await twoRegions();
    expect((await t.call('GET', `/v3/projects?name=${EU}`, { auth: 'aksk' })).code).toBe('APIGW.0101');
    expect((await iam(t, '/nowhere')).code).toBe('APIGW.0101');
    await iam(t, `?name=${EU}`);
    const requests = (await inspected(t, 'requests')).requests as Record<string, unknown>[];
    expect(requests.at(-1)).toMatchObject({ service: 'iam', path: '/v3/projects', query: `name=${EU}`, status: 200 });
    expect(requests.at(-1)).not.toHaveProperty('region');
  });

  it('takes the same faults as IMS', async () => {
    const t = await twoRegions({ faults: { error503: 1 } });
    const answer = await iam(t, `?name=${EU}`);
    expect(answer.status).toBe(503);
    expect(answer.json).toEqual({ error: { code: 503, message: 'injected fault', title: 'Service Unavailable' } });
    const requests = (await inspected(t, 'requests')).requests as Record<string, unknown>[];
    expect(requests.at(-1)).toMatchObject({ service: 'iam', status: 503, fault: '503' });
    const limited = await twoRegions({ faults: { rate: 1 } });
    expect((await iam(limited, '')).status).toBe(200);
    expect((await iam(limited, '')).code).toBe('APIGW.0308');
  });
});

describe('a region taken down', () => {
  it('drops every connection to its hosts, IMS and OBS, logged as down, while the others, IAM and inspection answer', async () => {
    const t = await twoRegions({ down: [EU] });
    expect(await dropped(at(t, EU, 'GET', '/v1/cloudimages/quota'))).toMatch(/UND_ERR_SOCKET|ECONNRESET/);
    expect(await dropped(obsHead(t, EU, 'golden', ''))).toMatch(/UND_ERR_SOCKET|ECONNRESET/);
    expect((await t.call('GET', '/v1/cloudimages/quota')).status).toBe(200);
    expect((await obsHead(t, AP, 'golden', '')).status).toBe(200);
    expect(
      (await t.call('GET', `/v3/projects?name=${EU}`, { origin: t.emulator.iamEndpoint, auth: 'aksk' })).status,
    ).toBe(200);
    const requests = (await inspected(t, `requests?region=${EU}`)).requests as Record<string, unknown>[];
    expect(requests).toEqual([
      expect.objectContaining({ region: EU, path: '/v1/cloudimages/quota', status: null, fault: 'down' }),
      expect.objectContaining({ service: 'obs', region: EU, status: null, fault: 'down' }),
    ]);
    expect((await inspected(t, 'regions')).regions).toEqual([
      { region: AP, project_id: t.emulator.projectId, default: true, down: false },
      { region: EU, project_id: t.emulator.projectIds.get(EU), default: false, down: true },
    ]);
  });

  it('goes down and up by the inspection routes, with their header; a reset brings back the regions down at the start', async () => {
    const t = await twoRegions();
    const post = (path: string, headers: Record<string, string> = CHANGE) =>
      t.call('POST', path, { auth: 'none', headers });
    expect((await post(`/__emulator/regions/${AP}/down`, {})).status).toBe(403);
    expect((await post('/__emulator/regions/us-east-9/down')).status).toBe(404);

    expect((await post(`/__emulator/regions/${AP}/down`)).status).toBe(204);
    // The default region's on the plain host too; inspection goes on answering.
    expect(await dropped(t.call('GET', '/v1/cloudimages/quota'))).toMatch(/UND_ERR_SOCKET|ECONNRESET/);
    expect((await at(t, EU, 'GET', '/v1/cloudimages/quota')).status).toBe(200);
    expect((await post(`/__emulator/regions/${AP}/up`)).status).toBe(204);
    expect((await t.call('GET', '/v1/cloudimages/quota')).status).toBe(200);

    expect((await post(`/__emulator/regions/${EU}/down`)).status).toBe(204);
    expect((await post('/__emulator/reset')).status).toBe(204);
    expect((await at(t, EU, 'GET', '/v1/cloudimages/quota')).status).toBe(200);

    const startsDown = await twoRegions({ down: [EU] });
    await startsDown.call('POST', `/__emulator/regions/${EU}/up`, { auth: 'none', headers: CHANGE });
    await startsDown.call('POST', '/__emulator/reset', { auth: 'none', headers: CHANGE });
    expect(await dropped(at(startsDown, EU, 'GET', '/v1/cloudimages/quota'))).toMatch(/UND_ERR_SOCKET|ECONNRESET/);
  });
});
