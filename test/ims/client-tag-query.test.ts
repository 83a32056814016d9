// The client's tag query (listTaggedImages) and its `dispatcher` option, against scripted answers
// from an undici MockAgent: no sockets.
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { ImsClient, type ImsClientOptions } from '../../src/ims/client.js';
import { ImsError } from '../../src/ims/errors.js';
import type { TaggedImage } from '../../src/ims/types.js';

const ORIGIN = 'https://ims.ap-southeast-1.myhuaweicloud.com';
const projectId = '0123456789abcdef0123456789abcdef';
const PATH = `/v2/${projectId}/images/resource_instances/action`;
/** Retries without waiting: these tests are about what is sent, not how long the client waits. */
const instantClock: Clock = { now: () => Date.now(), sleep: () => Promise.resolve() };

let agent: MockAgent;
/** The JSON body of every request the agent answered, in order. */
let sent: unknown[];

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  sent = [];
});

afterEach(async () => {
  await agent.close();
});

/** Answers the next request to the tag query with `status` and `body`. */
function answer(status: number, body: unknown): void {
  agent
    .get(ORIGIN)
    .intercept({ path: PATH, method: 'POST' })
    .reply(({ body: request }) => {
      if (typeof request !== 'string') throw new Error('the client sends its body as JSON text');
      sent.push(JSON.parse(request));
      return { statusCode: status, data: JSON.stringify(body), responseOptions: { headers: { 'x-request-id': 'r' } } };
    });
}

function client(options: Partial<ImsClientOptions> = {}): ImsClient {
  return new ImsClient({
    endpoint: ORIGIN,
    projectId,
    auth: { kind: 'token', token: 't' },
    clock: instantClock,
    dispatcher: agent,
    ...options,
  });
}

const resource = (i: number) => ({
  resource_id: `id-${i}`,
  resource_name: `img-${i}`,
  resource_detail: { status: 'active' },
  tags: [{ key: 'imsync-key', value: `k${i}` }],
});
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => resource(from + i));

async function all(ims: ImsClient, key = 'imsync-key'): Promise<TaggedImage[]> {
  const found: TaggedImage[] = [];
  for await (const image of ims.listTaggedImages(key)) found.push(image);
  return found;
}

async function failure(promise: Promise<unknown>): Promise<ImsError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ImsError);
  return error as ImsError;
}

describe('ImsClient.listTaggedImages', () => {
  it('asks for the key with any value, 1000 at a time, until the offset reaches total_count', async () => {
    answer(200, { resources: range(0, 1000), total_count: 2500 });
    answer(200, { resources: range(1000, 2000), total_count: 2500 });
    answer(200, { resources: range(2000, 2500), total_count: 2500 });
    const found = await all(client(), 'imsync-key');
    expect(found).toHaveLength(2500);
    expect(found[2499]).toEqual({
      id: 'id-2499',
      name: 'img-2499',
      status: 'active',
      tags: [{ key: 'imsync-key', value: 'k2499' }],
    });
    expect(sent).toEqual(
      ['0', '1000', '2000'].map((offset) => ({
        action: 'filter',
        tags: [{ key: 'imsync-key', values: [] }],
        limit: '1000',
        offset,
      })),
    );
  });

  it('follows short pages by the count of what came, and stops at an empty page whatever the total says', async () => {
    answer(200, { resources: range(0, 400), total_count: 900 });
    answer(200, { resources: range(400, 800), total_count: 900 });
    answer(200, { resources: [], total_count: 900 });
    expect(await all(client())).toHaveLength(800);
    expect(sent.map((body) => (body as { offset: string }).offset)).toEqual(['0', '400', '800']);
  });

  it('asks once when nothing has the tag', async () => {
    answer(200, { resources: [], total_count: 0 });
    expect(await all(client())).toEqual([]);
    expect(sent).toHaveLength(1);
  });

  it('leaves status out when the answer has no resource_detail', async () => {
    answer(200, { resources: [{ resource_id: 'i', resource_name: 'n', tags: [] }], total_count: 1 });
    expect(await all(client())).toEqual([{ id: 'i', name: 'n', tags: [] }]);
  });

  it.each<[string, unknown]>([
    ['no resources array', { total_count: 1 }],
    ['no total_count', { resources: [] }],
    ['a resource without an id', { resources: [{ resource_name: 'n', tags: [] }], total_count: 1 }],
    ['a resource without tags', { resources: [{ resource_id: 'i', resource_name: 'n' }], total_count: 1 }],
    ['a tag without a value', { resources: [{ ...resource(0), tags: [{ key: 'k' }] }], total_count: 1 }],
    ['null', null],
  ])('refuses an answer with %s as BAD_RESPONSE', async (_, body) => {
    answer(200, body);
    expect(await failure(all(client()))).toMatchObject({ code: 'BAD_RESPONSE' });
  });

  it('retries a 503, as a read may be repeated, and reports its route as list_images_by_tag', async () => {
    const routes: string[] = [];
    answer(503, { error: { code: 'IMG.0061', message: 'busy' } });
    answer(200, { resources: [resource(1)], total_count: 1 });
    const found = await all(client({ onResponse: ({ route, status }) => routes.push(`${route} ${status}`) }));
    expect(found.map((image) => image.id)).toEqual(['id-1']);
    expect(routes).toEqual(['list_images_by_tag 503', 'list_images_by_tag 200']);
  });
});

describe('ImsClient with a dispatcher', () => {
  it('sends through it, and close() leaves it open for its owner', async () => {
    answer(200, { resources: [], total_count: 0 });
    answer(200, { resources: [], total_count: 0 });
    const first = client();
    await all(first);
    await first.close();
    const second = client();
    await all(second);
    await second.close();
    expect(sent).toHaveLength(2);
  });
});
