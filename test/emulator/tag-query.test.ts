// POST /v2/{project_id}/images/resource_instances/action over HTTP: which images each kind of tag
// condition selects, counting, offset paging, and the bodies refused.
import { describe, expect, it } from 'vitest';
import { systemImage, testEmulator, type TestEmulator } from './support.js';

interface Resource {
  resource_id: string;
  resource_name: string;
  resource_detail: { status: string };
  tags: { key: string; value: string }[];
}

const PATH = (t: TestEmulator) => `/v2/${t.emulator.projectId}/images/resource_instances/action`;

async function filter(t: TestEmulator, body: Record<string, unknown>): Promise<{ names: string[]; total: number }> {
  const answer = await t.call('POST', PATH(t), { body: { action: 'filter', limit: '1000', ...body } });
  expect(answer.status, answer.text).toBe(200);
  const { resources, total_count } = answer.json as { resources: Resource[]; total_count: number };
  return { names: resources.map((r) => r.resource_name), total: total_count };
}

const tagged = (name: string, tags: Record<string, string>) =>
  systemImage(name, { image_tags: Object.entries(tags).map(([key, value]) => ({ key, value })) });

/** web (team=web, env=prod), db (team=data, env=prod), logs (team=data, env=dev), bare (no tags). */
async function fleet(): Promise<TestEmulator> {
  const t = await testEmulator({ jobSeconds: 0 });
  await t.submit(tagged('web', { team: 'web', env: 'prod' }));
  await t.submit(tagged('db', { team: 'data', env: 'prod' }));
  await t.submit(tagged('logs', { team: 'data', env: 'dev' }));
  await t.submit(systemImage('bare'));
  return t;
}

describe('POST /v2/{project_id}/images/resource_instances/action', () => {
  it('answers each image with its id, name, status and key/value tags', async () => {
    const t = await testEmulator({ jobSeconds: 10 });
    await t.submit(tagged('web', { 'imsync-key': 'web', team: 'web' }));
    const answer = await t.call('POST', PATH(t), {
      body: { action: 'filter', tags: [{ key: 'imsync-key', values: [] }] },
    });
    expect(answer.status).toBe(200);
    const [image] = (await t.call('GET', '/v2/cloudimages')).json.images as { id: string }[];
    expect(answer.json).toEqual({
      resources: [
        {
          resource_id: image?.id,
          resource_name: 'web',
          resource_detail: { status: 'queued' },
          tags: [
            { key: 'imsync-key', value: 'web' },
            { key: 'team', value: 'web' },
          ],
        },
      ],
      total_count: 1,
    });
  });

  it('ANDs the keys of tags and ORs the values of a key; no values means any value', async () => {
    const t = await fleet();
    expect(await filter(t, { tags: [{ key: 'team', values: ['data'] }] })).toEqual({ names: ['db', 'logs'], total: 2 });
    expect(
      await filter(t, {
        tags: [
          { key: 'team', values: ['data', 'web'] },
          { key: 'env', values: ['prod'] },
        ],
      }),
    ).toEqual({ names: ['web', 'db'], total: 2 });
    expect((await filter(t, { tags: [{ key: 'env', values: [] }] })).names).toEqual(['web', 'db', 'logs']);
    expect((await filter(t, { tags: [{ key: 'owner', values: [] }] })).names).toEqual([]);
  });

  it('selects with tags_any, not_tags, not_tags_any, without_any_tag and matches', async () => {
    const t = await fleet();
    const anyOf = {
      tags_any: [
        { key: 'team', values: ['web'] },
        { key: 'env', values: ['dev'] },
      ],
    };
    expect((await filter(t, anyOf)).names).toEqual(['web', 'logs']);
    // not_tags leaves out images having all of its tags, not_tags_any those having any.
    const notAll = {
      not_tags: [
        { key: 'team', values: ['data'] },
        { key: 'env', values: ['prod'] },
      ],
    };
    expect((await filter(t, notAll)).names).toEqual(['web', 'logs', 'bare']);
    const notAny = {
      not_tags_any: [
        { key: 'team', values: ['data'] },
        { key: 'env', values: ['prod'] },
      ],
    };
    expect((await filter(t, notAny)).names).toEqual(['bare']);
    // without_any_tag replaces the tag lists.
    expect((await filter(t, { without_any_tag: true, tags: [{ key: 'team', values: [] }] })).names).toEqual(['bare']);
    expect((await filter(t, { without_any_tag: false })).names).toEqual(['web', 'db', 'logs', 'bare']);
    expect((await filter(t, { matches: [{ key: 'resource_name', value: 'o' }] })).names).toEqual(['logs']);
    const [, db] = (await t.call('POST', PATH(t), { body: { action: 'filter' } })).json.resources as Resource[];
    expect((await filter(t, { matches: [{ key: 'resource_id', value: db?.resource_id }] })).names).toEqual(['db']);
  });

  it('counts, ignoring limit and offset', async () => {
    const t = await fleet();
    const count = await t.call('POST', PATH(t), {
      body: { action: 'count', tags: [{ key: 'env', values: [] }], limit: 'not read', offset: '7' },
    });
    expect(count.status).toBe(200);
    expect(count.json).toEqual({ total_count: 3 });
  });

  it('pages by offset in submission order, total_count counting every match, 10 by default', async () => {
    const t = await testEmulator({ jobSeconds: 0, imageQuota: 1000 });
    for (let i = 0; i < 25; i++) await t.submit(tagged(`img-${String(i).padStart(2, '0')}`, { set: 'x' }));
    await t.submit(systemImage('untagged'));
    const pages: string[][] = [];
    for (let offset = 0; ; offset += 7) {
      const page = await filter(t, { tags: [{ key: 'set', values: ['x'] }], limit: '7', offset: String(offset) });
      expect(page.total).toBe(25);
      if (page.names.length === 0) break;
      pages.push(page.names);
    }
    expect(pages.map((page) => page.length)).toEqual([7, 7, 7, 4]);
    expect(pages.flat()).toEqual(Array.from({ length: 25 }, (_, i) => `img-${String(i).padStart(2, '0')}`));
    const byDefault = await t.call('POST', PATH(t), { body: { action: 'filter' } });
    expect(byDefault.json).toMatchObject({ total_count: 26 });
    expect(byDefault.json.resources).toHaveLength(10);
  });

  it('sees tag changes and deletions made through the other APIs', async () => {
    const t = await fleet();
    const [web] = (await t.call('POST', PATH(t), { body: { action: 'filter' } })).json.resources as Resource[];
    const tagsPath = `/v2/${t.emulator.projectId}/images/${web?.resource_id}/tags`;
    await t.call('POST', `${tagsPath}/action`, { body: { action: 'delete', tags: [{ key: 'team', value: 'web' }] } });
    await t.call('POST', tagsPath, { body: { tag: { key: 'owner', value: 'ops' } } });
    expect((await filter(t, { tags: [{ key: 'team', values: [] }] })).names).toEqual(['db', 'logs']);
    expect((await filter(t, { tags: [{ key: 'owner', values: ['ops'] }] })).names).toEqual(['web']);
    await t.call('DELETE', `/v2/images/${web?.resource_id}`);
    expect((await filter(t, { tags: [{ key: 'owner', values: [] }] })).total).toBe(0);
  });

  it.each<[string, unknown]>([
    ['no action', { tags: [{ key: 'a', values: [] }] }],
    ['an action in another case', { action: 'Filter' }],
    ['an unknown action', { action: 'list' }],
    ['a body that is not an object', [{ action: 'filter' }]],
    ['an empty tags list', { action: 'filter', tags: [] }],
    ['a tag without values', { action: 'filter', tags: [{ key: 'a' }] }],
    ['a tag with a value string', { action: 'filter', tags: [{ key: 'a', value: 'b' }] }],
    ['a blank key', { action: 'count', tags_any: [{ key: ' ', values: [] }] }],
    [
      'a key given twice',
      {
        action: 'filter',
        not_tags: [
          { key: 'a', values: [] },
          { key: 'a', values: ['b'] },
        ],
      },
    ],
    ['a repeated value', { action: 'filter', not_tags_any: [{ key: 'a', values: ['b', 'b'] }] }],
    ['11 keys', { action: 'filter', tags: Array.from({ length: 11 }, (_, i) => ({ key: `k${i}`, values: [] })) }],
    ['11 values', { action: 'filter', tags: [{ key: 'a', values: Array.from({ length: 11 }, (_, i) => `v${i}`) }] }],
    ['a 128-character key', { action: 'filter', tags: [{ key: 'k'.repeat(128), values: [] }] }],
    ['a 256-character value', { action: 'filter', tags: [{ key: 'a', values: ['v'.repeat(256)] }] }],
    ['a numeric limit', { action: 'filter', limit: 10 }],
    ['limit "0"', { action: 'filter', limit: '0' }],
    ['limit "1001"', { action: 'filter', limit: '1001' }],
    ['a negative offset', { action: 'filter', offset: '-1' }],
    ['a non-boolean without_any_tag', { action: 'filter', without_any_tag: 'true' }],
    ['an unknown matches key', { action: 'filter', matches: [{ key: 'status', value: 'active' }] }],
    ['an empty matches value', { action: 'filter', matches: [{ key: 'resource_name', value: '' }] }],
    ['an empty matches list', { action: 'filter', matches: [] }],
  ])('refuses %s with IMG.0001', async (_, body) => {
    const t = await testEmulator();
    const answer = await t.call('POST', PATH(t), { body });
    expect(answer.status).toBe(400);
    expect(answer.code).toBe('IMG.0001');
    expect(answer.message).toMatch(/^The request message format is invalid: .+/);
  });

  it('takes any characters in a queried key or value, as documented', async () => {
    const t = await fleet();
    expect(await filter(t, { tags: [{ key: 'a/b c', values: ['<x>'] }] })).toEqual({ names: [], total: 0 });
  });

  it('refuses an empty body with IMG.0007 and another project with 403', async () => {
    const t = await testEmulator();
    expect((await t.call('POST', PATH(t), { body: '' })).code).toBe('IMG.0007');
    const other = await t.call('POST', '/v2/ffffffffffffffffffffffffffffffff/images/resource_instances/action', {
      body: { action: 'count' },
    });
    expect(other.status).toBe(403);
  });
});
