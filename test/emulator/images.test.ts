import { describe, expect, it } from 'vitest';
import { systemImage, testEmulator, type TestEmulator } from './support.js';

type Info = Record<string, unknown> & { id: string; name: string; tags: string[] };

async function list(t: TestEmulator, query = ''): Promise<Info[]> {
  const answer = await t.call('GET', `/v2/cloudimages${query}`);
  expect(answer.status).toBe(200);
  return (answer.json as { images: Info[] }).images;
}

/** Imports images one second apart and lets their jobs end; returns them in submission order. */
async function seed(t: TestEmulator, bodies: Record<string, unknown>[]): Promise<Info[]> {
  for (const body of bodies) {
    await t.submit(body);
    t.advance(1000);
  }
  t.advance(60_000);
  return (await list(t, '?sort_dir=asc')).map((image) => image);
}

const names = (images: Info[]): string[] => images.map((image) => image.name);

describe('GET /v2/cloudimages', () => {
  it('filters by id, exact name, status, __imagetype, tag and more', async () => {
    const t = await testEmulator({ jobSeconds: 10 });
    const [web, db] = await seed(t, [
      systemImage('web', { image_tags: [{ key: 'team', value: 'web' }] }),
      systemImage('db', { type: 'BMS', image_tags: [{ key: 'team', value: 'data' }] }),
      { name: 'logs', image_url: 'b01:logs.zvhd2', min_disk: 10, type: 'DataImage', tags: ['team.data'] },
    ]);
    await t.submit(systemImage('web-next'));

    expect(names(await list(t, `?id=${web?.id}`))).toEqual(['web']);
    expect(await list(t, '?id=00000000-0000-4000-8000-000000000000')).toEqual([]);
    expect(names(await list(t, '?name=web'))).toEqual(['web']);
    expect(names(await list(t, '?status=queued'))).toEqual(['web-next']);
    expect(names(await list(t, '?status=active&sort_dir=asc'))).toEqual(['web', 'db', 'logs']);
    expect(await list(t, '?__imagetype=gold')).toEqual([]);
    expect(await list(t, '?__imagetype=private')).toHaveLength(4);
    expect(names(await list(t, '?tag=team=data&sort_dir=asc'))).toEqual(['db', 'logs']);
    expect(names(await list(t, '?tag=team=data&tag=team=web'))).toEqual([]);
    expect(names(await list(t, '?virtual_env_type=Ironic'))).toEqual(['db']);
    expect(names(await list(t, '?virtual_env_type=DataImage&__os_type=Linux'))).toEqual(['logs']);
    expect(names(await list(t, '?min_disk=10'))).toEqual(['logs']);
    expect(names(await list(t, `?owner=${t.emulator.projectId}&name=db`))).toEqual(['db']);
    expect(await list(t, '?enterprise_project_id=all_granted_eps')).toHaveLength(4);
    expect(db?.tags).toEqual(['team=data']);
  });

  it('pages with marker and limit (default 500) without overlap, and refuses an unknown marker', async () => {
    const t = await testEmulator({ jobSeconds: 0 });
    // Many images share a creation second, so pages rest on the tie-break.
    for (let i = 0; i < 25; i++) {
      await t.submit(systemImage(`img-${String(i).padStart(2, '0')}`));
      if (i % 10 === 9) t.advance(1000);
    }
    const all = await list(t);
    expect(all).toHaveLength(25);
    const pages: string[][] = [];
    let marker = '';
    for (;;) {
      const page = await list(t, `?limit=7${marker}`);
      if (page.length === 0) break;
      pages.push(names(page));
      marker = `&marker=${page.at(-1)?.id}`;
    }
    expect(pages.map((page) => page.length)).toEqual([7, 7, 7, 4]);
    expect(pages.flat()).toEqual(names(all));
    // Newest first by default.
    expect(pages[0]?.[0]).toBe('img-24');

    const bad = await t.call('GET', '/v2/cloudimages?marker=00000000-0000-4000-8000-000000000000');
    expect(bad.status).toBe(400);
    expect(bad.code).toBe('IMG.0027');
  });

  it('pages correctly under a filter and another sort key', async () => {
    const t = await testEmulator({ jobSeconds: 0 });
    for (const name of ['e', 'b', 'd', 'a', 'c']) await t.submit(systemImage(name, { tags: ['set.x'] }));
    await t.submit(systemImage('z'));
    const first = await list(t, '?tag=set=x&sort_key=name&sort_dir=asc&limit=2');
    expect(names(first)).toEqual(['a', 'b']);
    const second = await list(t, `?tag=set=x&sort_key=name&sort_dir=asc&limit=2&marker=${first[1]?.id}`);
    expect(names(second)).toEqual(['c', 'd']);
  });

  it.each([
    ['?sort_key=name&sort_dir=asc', ['alpha', 'beta', 'gamma']],
    ['?sort_key=name', ['gamma', 'beta', 'alpha']],
    ['?sort_key=created_at&sort_dir=asc', ['beta', 'gamma', 'alpha']],
    ['', ['alpha', 'gamma', 'beta']],
    ['?sort_key=id&sort_dir=asc&limit=1', 1],
  ])('sorts %s', async (query, expected) => {
    const t = await testEmulator({ jobSeconds: 0 });
    await seed(
      t,
      ['beta', 'gamma', 'alpha'].map((name) => systemImage(name)),
    );
    const got = await list(t, query);
    if (typeof expected === 'number') expect(got).toHaveLength(expected);
    else expect(names(got)).toEqual(expected);
  });

  it.each(['?sort_key=colour', '?sort_dir=up', '?limit=-1', '?limit=ten'])(
    'refuses %s with IMG.0001',
    async (query) => {
      const t = await testEmulator();
      const answer = await t.call('GET', `/v2/cloudimages${query}`);
      expect(answer.status).toBe(400);
      expect(answer.code).toBe('IMG.0001');
    },
  );
});

describe('PATCH /v2/cloudimages/{id}', () => {
  async function activeImage(t: TestEmulator, fields: Record<string, unknown> = {}): Promise<Info> {
    const [image] = await seed(t, [systemImage('web', fields)]);
    if (!image) throw new Error('no image');
    return image;
  }

  it('applies an array of operations and answers the full image', async () => {
    const t = await testEmulator();
    const image = await activeImage(t);
    t.advance(5000);
    const answer = await t.call('PATCH', `/v2/cloudimages/${image.id}`, {
      body: [
        { op: 'replace', path: '/name', value: 'web-2' },
        { op: 'add', path: '/__description', value: 'now described' },
        { op: 'replace', path: '/min_ram', value: 1024 },
        { op: 'add', path: '/max_ram', value: '4096' },
        { op: 'replace', path: '/hw_firmware_type', value: 'uefi' },
      ],
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({
      id: image.id,
      name: 'web-2',
      __description: 'now described',
      min_ram: 1024,
      max_ram: '4096',
      hw_firmware_type: 'uefi',
      status: 'active',
      tags: [],
    });
    expect(answer.json.updated_at).not.toBe(image.updated_at);
    expect((await list(t, `?id=${image.id}`))[0]).toEqual(answer.json);
  });

  it('answers IMG.0035 to a replace of an attribute the image lacks, and changes nothing', async () => {
    const t = await testEmulator();
    const image = await activeImage(t);
    const answer = await t.call('PATCH', `/v2/cloudimages/${image.id}`, {
      body: [
        { op: 'replace', path: '/name', value: 'renamed' },
        { op: 'replace', path: '/__description', value: 'x' },
      ],
    });
    expect(answer.status).toBe(400);
    expect(answer.code).toBe('IMG.0035');
    expect((await list(t))[0]?.name).toBe('web');
  });

  it('removes an optional attribute; an empty description is no description', async () => {
    const t = await testEmulator();
    const image = await activeImage(t, { description: 'old' });
    const cleared = await t.call('PATCH', `/v2/cloudimages/${image.id}`, {
      body: [{ op: 'replace', path: '/__description', value: '' }],
    });
    expect(cleared.json).not.toHaveProperty('__description');
    const removed = await t.call('PATCH', `/v2/cloudimages/${image.id}`, {
      body: [{ op: 'remove', path: '/__description' }],
    });
    expect(removed.code).toBe('IMG.0035');
  });

  it.each<[string, unknown, string]>([
    ['a body that is not an array', { op: 'replace', path: '/name', value: 'x' }, 'IMG.0001'],
    ['an unknown op', [{ op: 'move', path: '/name', value: 'x' }], 'IMG.0001'],
    ['an unknown attribute', [{ op: 'add', path: '/colour', value: 'red' }], 'IMG.0001'],
    ['an immutable attribute', [{ op: 'replace', path: '/min_disk', value: 80 }], 'IMG.0001'],
    ['a path without a slash', [{ op: 'replace', path: 'name', value: 'x' }], 'IMG.0001'],
    ['no value', [{ op: 'replace', path: '/name' }], 'IMG.0001'],
    ['removing the name', [{ op: 'remove', path: '/name' }], 'IMG.0001'],
    ['a bad name', [{ op: 'replace', path: '/name', value: 'a/b' }], 'IMG.0003'],
    ['a long name', [{ op: 'replace', path: '/name', value: 'n'.repeat(129) }], 'IMG.0002'],
    ['a bad description', [{ op: 'add', path: '/__description', value: '<b>' }], 'IMG.0054'],
    ['a long description', [{ op: 'add', path: '/__description', value: 'd'.repeat(1025) }], 'IMG.0004'],
    ['a negative min_ram', [{ op: 'replace', path: '/min_ram', value: -1 }], 'IMG.0055'],
    ['an unknown firmware', [{ op: 'replace', path: '/hw_firmware_type', value: 'efi' }], 'IMG.0141'],
    ['a bad enterprise project', [{ op: 'replace', path: '/enterprise_project_id', value: 'x' }], 'IMG.0155'],
  ])('refuses %s with %s', async (_, body, code) => {
    const t = await testEmulator();
    const image = await activeImage(t);
    const answer = await t.call('PATCH', `/v2/cloudimages/${image.id}`, { body });
    expect(answer.status).toBe(400);
    expect(answer.code).toBe(code);
  });

  it('refuses bios on an arm image', async () => {
    const t = await testEmulator();
    const image = await activeImage(t, { architecture: 'arm' });
    const answer = await t.call('PATCH', `/v2/cloudimages/${image.id}`, {
      body: [{ op: 'replace', path: '/hw_firmware_type', value: 'bios' }],
    });
    expect(answer.code).toBe('IMG.0141');
  });

  it('refuses to update an image that is not active, and answers 404 for an unknown one', async () => {
    const t = await testEmulator();
    await t.submit(systemImage('queued'));
    const [image] = await list(t);
    const body = [{ op: 'replace', path: '/name', value: 'x' }];
    const refused = await t.call('PATCH', `/v2/cloudimages/${image?.id}`, { body });
    expect(refused.status).toBe(400);
    expect(refused.code).toBe('IMG.0046');
    const missing = await t.call('PATCH', '/v2/cloudimages/00000000-0000-4000-8000-000000000000', { body });
    expect(missing.status).toBe(404);
  });
});

describe('DELETE /v2/images/{id}', () => {
  it('deletes an active or killed image with 204, refuses one being created with IMG.0090, 404 after', async () => {
    const t = await testEmulator({ objects: [{ bucket: 'b01', key: 'ok.zvhd2', size: 1 }], jobSeconds: 10 });
    await t.submit(systemImage('good', { image_url: 'b01:ok.zvhd2' }));
    await t.submit(systemImage('bad', { image_url: 'b01:missing.zvhd2' }));
    const [bad, good] = await list(t);

    const early = await t.call('DELETE', `/v2/images/${good?.id}`);
    expect(early.status).toBe(400);
    expect(early.code).toBe('IMG.0090');

    t.advance(10_000);
    expect(bad?.name).toBe('bad');
    expect((await list(t, `?id=${bad?.id}`))[0]?.status).toBe('killed');
    for (const image of [good, bad]) {
      const deleted = await t.call('DELETE', `/v2/images/${image?.id}`);
      expect(deleted.status).toBe(204);
      expect(deleted.text).toBe('');
    }
    expect(await list(t)).toEqual([]);
    const again = await t.call('DELETE', `/v2/images/${good?.id}`);
    expect(again.status).toBe(404);
    expect(again.code).toBe('IMG.0027');
  });
});

describe('tag APIs', () => {
  it('creates, lists, overwrites and deletes tags', async () => {
    const t = await testEmulator();
    await t.submit(systemImage('web', { image_tags: [{ key: 'team', value: 'web' }] }));
    await t.submit(systemImage('db', { image_tags: [{ key: 'team', value: 'data' }] }));
    const [db, web] = await list(t);
    const base = `/v2/${t.emulator.projectId}/images/${web?.id}/tags`;

    const created = await t.call('POST', `${base}/action`, {
      body: {
        action: 'create',
        tags: [
          { key: 'team', value: 'platform' },
          { key: 'tier', value: 'front' },
        ],
      },
    });
    expect(created.status).toBe(204);
    expect((await t.call('POST', base, { body: { tag: { key: 'env', value: '' } } })).status).toBe(204);
    expect((await t.call('GET', base)).json).toEqual({
      tags: [
        { key: 'team', value: 'platform' },
        { key: 'tier', value: 'front' },
        { key: 'env', value: '' },
      ],
    });
    expect((await list(t, `?id=${web?.id}`))[0]?.tags).toEqual(['team=platform', 'tier=front', 'env=']);

    const all = await t.call('GET', `/v2/${t.emulator.projectId}/images/tags`);
    expect(all.json).toEqual({
      tags: [
        { key: 'env', values: [''] },
        { key: 'team', values: ['data', 'platform'] },
        { key: 'tier', values: ['front'] },
      ],
    });

    // Batch delete goes by key and ignores tags that are not there.
    const deleted = await t.call('POST', `${base}/action`, {
      body: { action: 'delete', tags: [{ key: 'team', value: 'other' }, { key: 'absent' }] },
    });
    expect(deleted.status).toBe(204);
    expect((await t.call('DELETE', `${base}/tier`)).status).toBe(204);
    expect((await t.call('DELETE', `${base}/tier`)).status).toBe(404);
    expect((await t.call('GET', base)).json).toEqual({ tags: [{ key: 'env', value: '' }] });
    expect(db?.tags).toEqual(['team=data']);
  });

  it('takes CJK keys in the path', async () => {
    const t = await testEmulator();
    await t.submit(systemImage('web', { image_tags: [{ key: '团队', value: 'x' }] }));
    const [image] = await list(t);
    const answer = await t.call(
      'DELETE',
      `/v2/${t.emulator.projectId}/images/${image?.id}/tags/${encodeURIComponent('团队')}`,
    );
    expect(answer.status).toBe(204);
  });

  it.each<[string, string, unknown, number, string]>([
    ['an unknown action', '/action', { action: 'Create', tags: [] }, 400, 'IMG.0001'],
    ['tags that are not a list', '/action', { action: 'create', tags: 'a' }, 400, 'IMG.0001'],
    ['a bad key', '/action', { action: 'create', tags: [{ key: 'a b', value: 'v' }] }, 400, 'IMG.0115'],
    [
      'a duplicate key',
      '/action',
      {
        action: 'create',
        tags: [
          { key: 'a', value: '1' },
          { key: 'a', value: '2' },
        ],
      },
      400,
      'IMG.0115',
    ],
    [
      'a 128-character key to delete',
      '/action',
      { action: 'delete', tags: [{ key: 'k'.repeat(128) }] },
      400,
      'IMG.0115',
    ],
    [
      'an eleventh tag',
      '/action',
      { action: 'create', tags: Array.from({ length: 10 }, (_, i) => ({ key: `n${i}`, value: '' })) },
      400,
      'IMG.0116',
    ],
    ['a single tag without a body', '', '', 400, 'IMG.0007'],
    ['a single tag of the wrong shape', '', { key: 'a', value: 'b' }, 400, 'IMG.0001'],
  ])('refuses %s', async (_, suffix, body, status, code) => {
    const t = await testEmulator();
    await t.submit(systemImage('web', { image_tags: [{ key: 'team', value: 'web' }] }));
    const [image] = await list(t);
    const answer = await t.call('POST', `/v2/${t.emulator.projectId}/images/${image?.id}/tags${suffix}`, { body });
    expect(answer.status).toBe(status);
    expect(answer.code).toBe(code);
  });

  it('answers 404 for an unknown image and 403 for another project', async () => {
    const t = await testEmulator();
    const unknown = await t.call('GET', `/v2/${t.emulator.projectId}/images/00000000-0000-4000-8000-000000000000/tags`);
    expect(unknown.status).toBe(404);
    const other = await t.call('GET', '/v2/ffffffffffffffffffffffffffffffff/images/tags');
    expect(other.status).toBe(403);
    expect(other.code).toBe('IMG.0026');
  });
});

describe('quota and OS versions', () => {
  it('answers the quota at both paths', async () => {
    const t = await testEmulator({ imageQuota: 50 });
    await t.submit(systemImage('a'));
    const expected = { quotas: { resources: [{ type: 'image', used: 1, quota: 50, min: 1, max: 1000 }] } };
    expect((await t.call('GET', '/v1/cloudimages/quota')).json).toEqual(expected);
    expect((await t.call('GET', `/v1/${t.emulator.projectId}/cloudimages/quota`)).json).toEqual(expected);
  });

  it('lists OS versions by platform, the manifests’ values among them', async () => {
    const t = await testEmulator();
    const answer = await t.call('GET', '/v1/cloudimages/os_version');
    const platforms = JSON.parse(answer.text) as { platform: string; version_list: Record<string, unknown>[] }[];
    const versions = platforms.flatMap((platform) => platform.version_list);
    for (const osVersion of [
      'CentOS 7.0 64bit',
      'CentOS 7.9 64bit',
      'Ubuntu 22.04 server 64bit',
      'Huawei Cloud EulerOS 2.0 64bit',
    ]) {
      expect(versions).toContainEqual(
        expect.objectContaining({ os_version: osVersion, os_version_key: osVersion, os_bit: 64, os_type: 'Linux' }),
      );
    }
    expect(versions).toContainEqual({
      platform: 'Windows',
      os_version_key: 'Windows Server 2019 Standard 64bit',
      os_version: 'Windows Server 2019 Standard 64bit',
      os_bit: 64,
      os_type: 'Windows',
    });
  });
});
