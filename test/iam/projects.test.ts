// Finding a region's project through IAM, against a scripted IAM on loopback that checks the
// signature as the API gateway does; and the same discovery done by Huawei's Node SDK, to compare.
import { mkdtemp } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BasicCredentials, Region } from '@huaweicloud/huaweicloud-sdk-core';
import { ClientBuilder } from '@huaweicloud/huaweicloud-sdk-core/ClientBuilder.js';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { IamClient, IamError, MAX_IAM_ANSWER_BYTES, type IamClientOptions } from '../../src/iam/projects.js';
import type { Credentials } from '../../src/ims/signer.js';
import { verifySignature, type Verification } from '../../src/ims/signer.js';

const REGION = 'ap-southeast-1';
const PROJECT = '0123456789abcdef0123456789abcdef';
const credentials: Credentials = {
  accessKey: 'AKEXAMPLE0000000000',
  secretKey: 'SK-super-secret-0000000000000000000000',
  securityToken: 'STS-token-very-secret-000000000000',
};
const authToken = 'MIIauthTOKEN-secret-0000000000000000';
/** Retries without waiting: these tests are about which answers are retried, not how long we wait. */
const instantClock: Clock = { now: () => Date.now(), sleep: () => Promise.resolve() };

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** The signature checked as the gateway checks it. */
  readonly verification: Verification;
}
type Reply = (response: ServerResponse) => void;

let server: Server;
let endpoint: string;
let seen: Seen[];
let replies: Reply[];

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Reply =>
  (response) => {
    response.writeHead(status, {
      'content-type': 'application/json',
      'x-iam-trace-id': `trace-${seen.length}`,
      ...headers,
    });
    response.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
const projects = (...list: { id: string; name: string }[]): Reply => json(200, { projects: list, links: {} });

beforeEach(async () => {
  seen = [];
  replies = [];
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const received = { method: request.method!, rawUrl: request.url!, headers: request.headers, body };
      const verification = verifySignature(
        received,
        (ak) => (ak === credentials.accessKey ? credentials.secretKey : undefined),
        new Date(),
      );
      seen.push({
        method: request.method!,
        url: request.url!,
        headers: request.headers,
        body: body.toString(),
        verification,
      });
      (replies.shift() ?? json(500, { error_code: 'IAM.0000', error_msg: 'no reply scripted' }))(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function client(options: Partial<IamClientOptions> = {}): IamClient {
  return new IamClient({ endpoint, auth: { kind: 'aksk', credentials }, clock: instantClock, ...options });
}

/** The IamError `promise` rejects with; none of the secrets may be in its message. */
async function failure(promise: Promise<unknown>): Promise<IamError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(IamError);
  for (const secret of [credentials.secretKey, credentials.securityToken!, authToken]) {
    expect((error as Error).message).not.toContain(secret);
  }
  return error as IamError;
}

describe('IamClient.findProject with AK/SK', () => {
  it("asks GET /v3/projects?name={region}, signed, and answers the region's project", async () => {
    replies.push(projects({ id: PROJECT, name: REGION }));
    expect(await client().findProject(REGION)).toEqual({ kind: 'found', projectId: PROJECT });
    expect(seen).toHaveLength(1);
    const [request] = seen;
    expect(request).toMatchObject({ method: 'GET', url: `/v3/projects?name=${REGION}`, body: '' });
    expect(request!.verification).toEqual({ ok: true, accessKey: credentials.accessKey });
    expect(request!.headers.authorization).toContain('SignedHeaders=content-type;host;x-sdk-date;x-security-token,');
    expect(request!.headers['x-security-token']).toBe(credentials.securityToken);
    // The project is what is being found: no X-Project-Id goes with the question.
    expect(request!.headers['x-project-id']).toBeUndefined();
  });

  it('signs without X-Security-Token for permanent credentials', async () => {
    replies.push(projects({ id: PROJECT, name: REGION }));
    const { accessKey, secretKey } = credentials;
    await client({ auth: { kind: 'aksk', credentials: { accessKey, secretKey } } }).findProject(REGION);
    expect(seen[0]!.verification.ok).toBe(true);
    expect(seen[0]!.headers['x-security-token']).toBeUndefined();
    expect(seen[0]!.headers.authorization).toContain('SignedHeaders=content-type;host;x-sdk-date,');
  });

  it('takes the project named exactly as the region, never a sub-project', async () => {
    replies.push(
      projects(
        { id: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', name: `${REGION}_dev` },
        { id: PROJECT, name: REGION },
        { id: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', name: 'cn-north-4' },
      ),
    );
    expect(await client().findProject(REGION)).toEqual({ kind: 'found', projectId: PROJECT });
  });

  it.each([
    ['no project', projects()],
    ['only sub-projects', projects({ id: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', name: `${REGION}_dev` })],
  ])('answers none for %s, saying which call and how to give the project', async (_case, reply) => {
    replies.push(reply);
    const lookup = await client().findProject(REGION);
    expect(lookup.kind).toBe('none');
    const { message } = lookup as { message: string };
    expect(message).toContain(`no project is named ${REGION}`);
    expect(message).toContain(`IAM GET ${endpoint}/v3/projects?name=${REGION}`);
    expect(message).toContain('HW_PROJECT_ID');
    expect(message).toContain(`IMSYNC_PROJECTS=${REGION}=<project id>`);
    expect(seen).toHaveLength(1);
  });

  it('refuses to choose between two projects of the same name', async () => {
    replies.push(projects({ id: PROJECT, name: REGION }, { id: 'fedcba9876543210fedcba9876543210', name: REGION }));
    const error = await failure(client().findProject(REGION));
    expect(error).toMatchObject({ code: 'SEVERAL_PROJECTS', retry: 'never' });
    expect(error.message).toContain(`2 projects are named ${REGION} (${PROJECT}, fedcba9876543210fedcba9876543210)`);
  });

  it('says which permission a 403 wants, with the trace id, and does not ask again', async () => {
    replies.push(json(403, { error_msg: 'You do not have permission to perform this action', error_code: 'IAM.0002' }));
    const error = await failure(client().findProject(REGION));
    expect(error).toMatchObject({ code: 'IAM.0002', status: 403, retry: 'never', traceId: 'trace-1' });
    expect(error.message).toBe(
      `IAM GET ${endpoint}/v3/projects?name=${REGION}: 403 IAM.0002: You do not have permission to perform this action` +
        ' (X-IAM-Trace-Id trace-1); the IAM user may not list projects: grant it the iam:projects:listProjects' +
        ' permission, or give the project with HW_PROJECT_ID or IMSYNC_PROJECTS=region=project-id',
    );
    expect(seen).toHaveLength(1);
  });

  it('never quotes a secret the gateway echoes back in a 401', async () => {
    // The gateway's signature failure quotes its canonical request, signed headers and all.
    const echoed = `verify aksk signature fail, canonicalRequest:GET|/v3/projects/|name=${REGION}|x-security-token:${credentials.securityToken}|secret ${credentials.secretKey}`;
    replies.push(
      json(401, { error_msg: `Incorrect IAM authentication information: ${echoed}`, error_code: 'APIGW.0301' }),
    );
    const error = await failure(client().findProject(REGION));
    expect(error).toMatchObject({ code: 'APIGW.0301', status: 401, retry: 'never' });
    expect(error.message).toContain('x-security-token:[redacted]|secret [redacted]');
    expect(error.message).toContain('check HW_ACCESS_KEY and HW_SECRET_KEY');
  });

  it('asks again after a 503 and takes the answer', async () => {
    replies.push(json(503, { error_code: 'IAM.0006', error_msg: 'busy' }), projects({ id: PROJECT, name: REGION }));
    const statuses: string[] = [];
    const lookup = await client({ onResponse: ({ status }) => statuses.push(status) }).findProject(REGION);
    expect(lookup).toEqual({ kind: 'found', projectId: PROJECT });
    expect(statuses).toEqual(['503', '200']);
    expect(seen.every((request) => request.verification.ok)).toBe(true);
  });

  it('asks again after throttling, as long as the server asks', async () => {
    replies.push(json(429, { error_code: 'APIGW.0308', error_msg: 'throttled' }, { 'retry-after': '1' }));
    replies.push(projects({ id: PROJECT, name: REGION }));
    const slept: number[] = [];
    const clock: Clock = { now: () => Date.now(), sleep: (ms) => (slept.push(ms), Promise.resolve()) };
    expect(await client({ clock }).findProject(REGION)).toEqual({ kind: 'found', projectId: PROJECT });
    // The budget's own waits go through the clock too; the server's one is among them.
    expect(slept).toContain(1000);
  });

  it('gives up after maxAttempts 5xx answers', async () => {
    for (let i = 0; i < 3; i++) replies.push(json(500, { error_code: 'IAM.0006', error_msg: 'down' }));
    const error = await failure(client({ maxAttempts: 3 }).findProject(REGION));
    expect(error).toMatchObject({ code: 'IAM.0006', status: 500, retry: 'ambiguous' });
    expect(seen).toHaveLength(3);
  });

  it.each([
    ['a non-JSON answer', json(200, '<html>proxy login</html>')],
    ['no projects array', json(200, { project: { id: PROJECT, name: REGION } })],
    ['a project without an id', projects({ name: REGION } as { id: string; name: string })],
    ['a project id of no known form', projects({ id: '../../v3/users', name: REGION })],
    ['a project id too long', projects({ id: 'a'.repeat(65), name: REGION })],
    ['a project without a name', json(200, { projects: [{ id: PROJECT, name: 7 }] })],
    ['null', json(200, 'null')],
  ])('refuses %s, unasked again', async (_case, reply) => {
    replies.push(reply);
    const error = await failure(client().findProject(REGION));
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', retry: 'never' });
    expect(error.message).toContain(`IAM GET ${endpoint}/v3/projects?name=${REGION}: unexpected answer`);
    expect(seen).toHaveLength(1);
  });

  it('drops an answer over the cap unread', async () => {
    replies.push(json(200, { projects: [], padding: 'x'.repeat(MAX_IAM_ANSWER_BYTES) }));
    const error = await failure(client().findProject(REGION));
    expect(error).toMatchObject({ code: 'ANSWER_TOO_LARGE', retry: 'never' });
  });

  it('calls a refused connection what it is, after the retries', async () => {
    const closed = endpoint;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    server.listen(0, '127.0.0.1');
    const error = await failure(client({ endpoint: closed, maxAttempts: 2 }).findProject(REGION));
    expect(error).toMatchObject({ code: 'ECONNREFUSED', retry: 'safe' });
  });

  it('times out an answer that does not come', async () => {
    replies.push(() => undefined);
    const error = await failure(client({ requestTimeoutMs: 200, maxAttempts: 1 }).findProject(REGION));
    expect(error).toMatchObject({ code: 'TIMEOUT', retry: 'ambiguous' });
    expect(error.message).toContain('no complete answer within 0.2s');
  });

  it('refuses a credential HTTP cannot carry before sending anything', async () => {
    const bad = { ...credentials, securityToken: 'line\nbreak' };
    const error = await failure(client({ auth: { kind: 'aksk', credentials: bad } }).findProject(REGION));
    expect(error).toMatchObject({ code: 'INVALID_HEADER', retry: 'never' });
    expect(error.message).toContain('the x-security-token header');
    expect(seen).toHaveLength(0);
  });
});

describe('IamClient.findProject with a token', () => {
  const tokenClient = () => client({ auth: { kind: 'token', token: authToken } });

  it("lists the token's projects (GET /v3/auth/projects) and takes the region's", async () => {
    replies.push(
      projects(
        { id: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', name: 'cn-north-4' },
        { id: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', name: `${REGION}_prod` },
        { id: PROJECT, name: REGION },
      ),
    );
    expect(await tokenClient().findProject(REGION)).toEqual({ kind: 'found', projectId: PROJECT });
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/v3/auth/projects' });
    expect(seen[0]!.headers['x-auth-token']).toBe(authToken);
    expect(seen[0]!.headers.authorization).toBeUndefined();
  });

  it('answers none when no project of the token is the region, pointing at the project map', async () => {
    replies.push(projects({ id: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', name: 'cn-north-4' }));
    const lookup = await tokenClient().findProject(REGION);
    expect(lookup).toEqual({
      kind: 'none',
      message: `none of the projects the token's user may access is named ${REGION} (IAM GET ${endpoint}/v3/auth/projects); give the project with IMSYNC_PROJECTS=${REGION}=<project id>`,
    });
  });

  it('says the token was refused, never quoting it', async () => {
    replies.push(
      json(401, { error: { code: 401, message: `The token ${authToken} must be updated`, title: 'Unauthorized' } }),
    );
    const error = await failure(tokenClient().findProject(REGION));
    expect(error).toMatchObject({ code: 'HTTP_401', status: 401 });
    expect(error.message).toContain('The token [redacted] must be updated');
    expect(error.message).toContain('give a new HW_AUTH_TOKEN');
  });
});

describe("IamClient's IAM endpoint", () => {
  let agent: MockAgent;
  beforeEach(() => {
    agent = new MockAgent();
    agent.disableNetConnect();
  });
  afterEach(async () => {
    await agent.close();
  });

  it.each([
    [REGION, `https://iam.${REGION}.myhuaweicloud.com`],
    ['af-north-1', 'https://iam.myhuaweicloud.com'],
  ])("asks %s's project at %s without an override", async (region, origin) => {
    agent
      .get(origin)
      .intercept({ path: `/v3/projects?name=${region}`, method: 'GET' })
      .reply(200, { projects: [{ id: PROJECT, name: region }] });
    const iam = new IamClient({ auth: { kind: 'aksk', credentials }, clock: instantClock, dispatcher: agent });
    expect(await iam.findProject(region)).toEqual({ kind: 'found', projectId: PROJECT });
    agent.assertNoPendingInterceptors();
  });
});

describe("the same discovery by Huawei's Node SDK (BasicCredentials without a project id)", () => {
  beforeEach(async () => {
    // The SDK's user agent writes an application id under $HOME.
    process.env.HOME = await mkdtemp(join(tmpdir(), 'imsync-sdk-home-'));
  });

  /** Has the SDK find the project for an IMS call of its own; its AuthCache is keyed by AK and region. */
  async function sdkDiscovery(accessKey: string): Promise<unknown> {
    const sdkCredentials = new BasicCredentials()
      .withAk(accessKey)
      .withSk(credentials.secretKey)
      .withSecurityToken(credentials.securityToken)
      .withIamEndpoint(endpoint);
    const sdk = new ClientBuilder((hcClient) => hcClient)
      .withCredential(sdkCredentials)
      .withRegion(new Region(REGION, [endpoint]))
      .build();
    const options = { method: 'GET', url: '/v2/cloudimages', contentType: 'application/json' };
    return sdk.sendRequest({ ...options, queryParams: {}, pathParams: {}, headers: {}, data: {} }).then(
      () => undefined,
      (error: unknown) => error,
    );
  }

  const signedHeaders = (request: Seen) => /SignedHeaders=([^,]+),/.exec(request.headers.authorization ?? '')?.[1];

  it('sends the question ours sends: path, query and signed headers', async () => {
    replies.push(projects({ id: PROJECT, name: REGION }), json(200, { images: [] }));
    expect(await sdkDiscovery(credentials.accessKey)).toBeUndefined();
    const [sdkQuestion, sdkImsCall] = seen;
    replies.push(projects({ id: PROJECT, name: REGION }));
    await client().findProject(REGION);
    const ours = seen[2]!;

    expect(sdkQuestion!.verification.ok).toBe(true);
    expect(ours.verification.ok).toBe(true);
    expect(ours.method).toBe(sdkQuestion!.method);
    expect(ours.url).toBe(sdkQuestion!.url);
    expect(signedHeaders(ours)).toBe(signedHeaders(sdkQuestion!));
    expect(signedHeaders(ours)).toBe('content-type;host;x-sdk-date;x-security-token');
    expect(ours.headers['content-type']).toBe(sdkQuestion!.headers['content-type']);
    // Where they differ, pinned: the SDK sends (and signs) "{}" as the body of its GET; ours has none.
    expect(sdkQuestion!.body).toBe('{}');
    expect(ours.body).toBe('');
    // What the SDK made of the answer: the project it then sends IMS.
    expect(sdkImsCall!.headers['x-project-id']).toBe(PROJECT);
  });

  it('goes on to create the project when there is none; ours stops and says so', async () => {
    replies.push(projects(), json(200, {}));
    await sdkDiscovery('AKEXAMPLE0000000001');
    // The next step of IamService.getCreateProjectId: the regions, to see whether it may create one.
    expect(seen.map((request) => request.url)).toEqual([`/v3/projects?name=${REGION}`, '/v3/regions']);
    replies.push(projects());
    expect((await client().findProject(REGION)).kind).toBe('none');
    expect(seen).toHaveLength(3);
  });

  it('takes a lone project whatever its name; ours wants the exact name', async () => {
    const sub = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    replies.push(projects({ id: sub, name: `${REGION}_dev` }), json(200, { images: [] }));
    await sdkDiscovery('AKEXAMPLE0000000002');
    expect(seen[1]!.headers['x-project-id']).toBe(sub);
    replies.push(projects({ id: sub, name: `${REGION}_dev` }));
    expect((await client().findProject(REGION)).kind).toBe('none');
  });
});
