import { describe, expect, it } from 'vitest';
import { DOC_EXAMPLES } from '../support/ims-doc-examples.js';
import { START, systemImage, testEmulator, type TestEmulator } from './support.js';

async function job(t: TestEmulator, jobId: string) {
  const answer = await t.call('GET', `/v1/${t.emulator.projectId}/jobs/${jobId}`);
  expect(answer.status).toBe(200);
  return answer.json;
}

async function images(t: TestEmulator, query = '') {
  const answer = await t.call('GET', `/v2/cloudimages${query}`);
  expect(answer.status).toBe(200);
  return (answer.json as { images: Record<string, unknown>[] }).images;
}

describe('quick import: accepted requests', () => {
  it.each(Object.entries(DOC_EXAMPLES))('accepts the documented body %s, and its job succeeds', async (_, body) => {
    const t = await testEmulator({ jobSeconds: 0.2 });
    const jobId = await t.submit(body);
    expect(jobId).toMatch(/^[0-9a-f]{32}$/);
    const [image] = await images(t);
    expect(image).toMatchObject({ name: 'ims_test_file', status: 'queued', min_disk: 40, __root_origin: 'file' });

    t.advance(200);
    const done = await job(t, jobId);
    expect(done).toMatchObject({ status: 'SUCCESS', error_code: null, fail_reason: null });
    expect(done.entities).toEqual({ image_id: image?.id, image_name: 'ims_test_file' });
    expect(done.job_type).toBe(body.type === 'DataImage' ? 'imsImportDataImageJob' : 'imsImportImageJob');
    expect((await images(t))[0]?.status).toBe('active');
  });

  it('goes INIT -> RUNNING -> SUCCESS by the clock, the image queued -> saving -> active', async () => {
    const t = await testEmulator({ jobSeconds: 10 });
    const jobId = await t.submit(DOC_EXAMPLES.minimal);
    const seen: [string, unknown, unknown, unknown][] = [];
    for (const at of [0, 999, 1000, 9999, 10_000, 60_000]) {
      t.now = START + at;
      const current = await job(t, jobId);
      const [image] = await images(t);
      seen.push([String(at), current.status, image?.status, current.end_time]);
    }
    expect(seen).toEqual([
      ['0', 'INIT', 'queued', ''],
      ['999', 'INIT', 'queued', ''],
      ['1000', 'RUNNING', 'saving', ''],
      ['9999', 'RUNNING', 'saving', ''],
      ['10000', 'SUCCESS', 'active', '2026-11-26T10:00:10.000Z'],
      ['60000', 'SUCCESS', 'active', '2026-11-26T10:00:10.000Z'],
    ]);
    expect(await job(t, jobId)).toMatchObject({ begin_time: '2026-11-26T10:00:00.000Z' });
    expect((await images(t))[0]).toMatchObject({
      created_at: '2026-11-26T10:00:00Z',
      updated_at: '2026-11-26T10:00:10Z',
      active_at: '2026-11-26T10:00:10Z',
      __image_size: String(8 * 1024 ** 3),
    });
  });

  it('lists the new image at once with the documented attributes', async () => {
    const t = await testEmulator();
    await t.submit(DOC_EXAMPLES.systemWithTags);
    const [image] = await images(t);
    expect(image).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/) as unknown,
      status: 'queued',
      owner: t.emulator.projectId,
      __imagetype: 'private',
      visibility: 'private',
      __os_version: 'CentOS 7.0 64bit',
      __os_type: 'Linux',
      __platform: 'CentOS',
      __os_bit: '64',
      min_disk: 40,
      disk_format: 'zvhd2',
      virtual_env_type: 'FusionCompute',
      __root_origin: 'file',
      created_at: '2026-11-26T10:00:00Z',
      updated_at: '2026-11-26T10:00:00Z',
      __description: 'Create an image using a file in an OBS bucket.',
      architecture: 'x86',
      hw_firmware_type: 'bios',
      enterprise_project_id: '0',
      tags: ['aaa=111', 'bbb=333', 'ccc=444'],
    });
  });

  it.each([
    [
      'BMS from a RAW file',
      { type: 'BMS', image_url: 'golden:db.raw' },
      { virtual_env_type: 'Ironic', disk_format: 'raw' },
    ],
    ['arm, firmware left out', { architecture: 'arm' }, { architecture: 'arm', hw_firmware_type: 'uefi' }],
    ['uefi on x86', { hw_firmware_type: 'uefi' }, { hw_firmware_type: 'uefi' }],
    [
      'an enterprise project',
      { enterprise_project_id: '6f0d1b7e-2c4a-4b8e-9a3d-5e7f8c9d0a1b' },
      { enterprise_project_id: '6f0d1b7e-2c4a-4b8e-9a3d-5e7f8c9d0a1b' },
    ],
    [
      'a data image',
      { type: 'DataImage', os_type: 'Windows', os_version: undefined },
      { virtual_env_type: 'DataImage', __os_type: 'Windows' },
    ],
  ])('%s', async (_, fields, expected) => {
    const t = await testEmulator();
    await t.submit(systemImage('img', fields));
    expect((await images(t))[0]).toMatchObject(expected);
  });

  it('leaves out an empty description, architecture and firmware of a data image', async () => {
    const t = await testEmulator();
    await t.submit({ name: 'data', image_url: 'b01:d.zvhd2', min_disk: 10, type: 'DataImage', description: '' });
    const [image] = await images(t);
    expect(image).not.toHaveProperty('__description');
    expect(image).not.toHaveProperty('architecture');
    expect(image).not.toHaveProperty('hw_firmware_type');
    expect(image).not.toHaveProperty('__os_version');
  });

  it('ignores unknown fields and fields of the other kind of image', async () => {
    const t = await testEmulator();
    await t.submit(systemImage('img', { is_config: true, cmk_id: 'x', os_type: 'Solaris', unknown: { a: 1 } }));
    expect(await images(t)).toHaveLength(1);
  });

  it('splits old-style tags at the first dot, and a tag without a dot has an empty value', async () => {
    const t = await testEmulator();
    await t.submit(systemImage('img', { tags: ['release.2026.11', 'solo', '团队.网络'] }));
    const [image] = await images(t);
    expect(image?.tags).toEqual(['release=2026.11', 'solo=', '团队=网络']);
    const tags = await t.call('GET', `/v2/${t.emulator.projectId}/images/${String(image?.id)}/tags`);
    expect(tags.json).toEqual({
      tags: [
        { key: 'release', value: '2026.11' },
        { key: 'solo', value: '' },
        { key: '团队', value: '网络' },
      ],
    });
  });

  it('also takes the (New) /v2.1 path', async () => {
    const t = await testEmulator();
    const answer = await t.call('POST', '/v2.1/cloudimages/quickimport/action', { body: DOC_EXAMPLES.minimal });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ job_id: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown });
  });
});

const long = (n: number, c = 'a'): string => c.repeat(n);
const elevenTags = Array.from({ length: 11 }, (_, i) => ({ key: `k${i}`, value: 'v' }));

describe('quick import: refused requests', () => {
  it.each<[string, string | Record<string, unknown>, string]>([
    ['an empty body', '', 'IMG.0007'],
    ['a body of spaces', '  \n', 'IMG.0007'],
    ['malformed JSON', '{"name": "x",', 'IMG.0001'],
    ['a JSON array', '[]', 'IMG.0001'],
    ['a JSON string', '"name"', 'IMG.0001'],
    ['a number name', systemImage('x', { name: 42 }), 'IMG.0001'],
    ['a string min_disk', systemImage('x', { min_disk: '40' }), 'IMG.0001'],
    ['tags as a string', systemImage('x', { tags: 'a.b' }), 'IMG.0001'],
    ['a number tag value', systemImage('x', { image_tags: [{ key: 'a', value: 1 }] }), 'IMG.0001'],
    ['a number enterprise project', systemImage('x', { enterprise_project_id: 0 }), 'IMG.0001'],
    ['no name', systemImage('x', { name: undefined }), 'IMG.0013'],
    ['an empty name', systemImage(''), 'IMG.0013'],
    ['a 129-character name', systemImage(long(129)), 'IMG.0002'],
    ['a name with a slash', systemImage('web/base'), 'IMG.0003'],
    ['a name with a leading space', systemImage(' web'), 'IMG.0003'],
    ['a name with a trailing space', systemImage('web '), 'IMG.0003'],
    ['a 1025-character description', systemImage('x', { description: long(1025) }), 'IMG.0004'],
    ['a description with <', systemImage('x', { description: 'a <b>' }), 'IMG.0054'],
    ['a description with a carriage return', systemImage('x', { description: 'a\rb' }), 'IMG.0054'],
    ['no image_url', systemImage('x', { image_url: undefined }), 'IMG.0017'],
    ['an image_url without a colon', systemImage('x', { image_url: 'bucket/file.zvhd2' }), 'IMG.0017'],
    ['an image_url without an object', systemImage('x', { image_url: 'bucket:' }), 'IMG.0017'],
    ['an image_url without a bucket', systemImage('x', { image_url: ':file.zvhd2' }), 'IMG.0068'],
    ['a bucket with capitals', systemImage('x', { image_url: 'My_Bucket:file.zvhd2' }), 'IMG.0109'],
    ['a two-character bucket', systemImage('x', { image_url: 'ab:file.zvhd2' }), 'IMG.0109'],
    ['an object key with a space', systemImage('x', { image_url: 'bucket:my file.zvhd2' }), 'IMG.0175'],
    ['no min_disk', systemImage('x', { min_disk: undefined }), 'IMG.0055'],
    ['min_disk 0', systemImage('x', { min_disk: 0 }), 'IMG.0055'],
    ['min_disk 1025', systemImage('x', { min_disk: 1025 }), 'IMG.0055'],
    ['a fractional min_disk', systemImage('x', { min_disk: 40.5 }), 'IMG.0055'],
    ['an unknown type', systemImage('x', { type: 'VM' }), 'IMG.0024'],
    ['no os_version on a system image', systemImage('x', { os_version: undefined }), 'IMG.0056'],
    ['an os_version not in the list', systemImage('x', { os_version: 'CentOS 99 64bit' }), 'IMG.0056'],
    ['an unknown os_type on a data image', { ...DOC_EXAMPLES.dataWithImageTags, os_type: 'Solaris' }, 'IMG.0122'],
    ['an unknown architecture', systemImage('x', { architecture: 'mips' }), 'IMG.0212'],
    ['an unknown firmware', systemImage('x', { hw_firmware_type: 'efi' }), 'IMG.0141'],
    ['bios on arm', systemImage('x', { architecture: 'arm', hw_firmware_type: 'bios' }), 'IMG.0141'],
    ['an unknown license type', systemImage('x', { license_type: 'free' }), 'IMG.0001'],
    ['an enterprise project that is no UUID', systemImage('x', { enterprise_project_id: 'default' }), 'IMG.0155'],
    [
      'both tags and image_tags',
      systemImage('x', { tags: ['a.b'], image_tags: [{ key: 'c', value: 'd' }] }),
      'IMG.0115',
    ],
    ['a tag key with a space', systemImage('x', { tags: ['my key.v'] }), 'IMG.0115'],
    ['an empty tag key', systemImage('x', { image_tags: [{ key: '', value: 'v' }] }), 'IMG.0115'],
    ['a 37-character tag key', systemImage('x', { image_tags: [{ key: long(37), value: 'v' }] }), 'IMG.0115'],
    ['a 44-character tag value', systemImage('x', { image_tags: [{ key: 'k', value: long(44) }] }), 'IMG.0115'],
    ['a tag value with a slash', systemImage('x', { image_tags: [{ key: 'k', value: 'a/b' }] }), 'IMG.0115'],
    ['a tag without a value', systemImage('x', { image_tags: [{ key: 'k' }] }), 'IMG.0115'],
    ['a duplicate tag key', systemImage('x', { tags: ['k.1', 'k.2'] }), 'IMG.0115'],
    ['eleven tags', systemImage('x', { image_tags: elevenTags }), 'IMG.0116'],
  ])('refuses %s with %s', async (_, body, code) => {
    const t = await testEmulator();
    const answer = await t.call('POST', '/v2/cloudimages/quickimport/action', { body });
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({ error: { code, message: expect.any(String) as unknown } });
    expect(await images(t)).toEqual([]);
  });

  it('takes exactly ten tags, 36-character keys and 43-character values', async () => {
    const t = await testEmulator();
    const tags = [...elevenTags.slice(0, 9), { key: long(36, 'k'), value: long(43, 'v') }];
    await t.submit(systemImage('x', { image_tags: tags }));
    expect((await images(t))[0]?.tags).toHaveLength(10);
  });

  it('refuses an import over the private image quota with IMG.0015, killed images included', async () => {
    const t = await testEmulator({ imageQuota: 2, objects: [] });
    await t.submit(systemImage('a'));
    await t.submit(systemImage('b'));
    t.advance(60_000);
    const answer = await t.call('POST', '/v2/cloudimages/quickimport/action', { body: systemImage('c') });
    expect(answer.code).toBe('IMG.0015');
    const quota = await t.call('GET', '/v1/cloudimages/quota');
    expect(quota.json).toEqual({ quotas: { resources: [{ type: 'image', used: 2, quota: 2, min: 1, max: 1000 }] } });
  });

  it('refuses an import while the cap of running jobs is reached with IMG.0194, and takes it once one ends', async () => {
    const t = await testEmulator({ maxConcurrentImports: 2, jobSeconds: 10 });
    await t.submit(systemImage('a'));
    t.advance(5000);
    await t.submit(systemImage('b'));
    const refused = await t.call('POST', '/v2/cloudimages/quickimport/action', { body: systemImage('c') });
    expect(refused.status).toBe(400);
    expect(refused.code).toBe('IMG.0194');
    t.advance(5000);
    await t.submit(systemImage('c'));
    expect(await images(t)).toHaveLength(3);
  });

  it('lets the jobcap fault override the cap', async () => {
    const t = await testEmulator({ maxConcurrentImports: 5, faults: { jobcap: 0 } });
    const refused = await t.call('POST', '/v2/cloudimages/quickimport/action', { body: systemImage('a') });
    expect(refused.code).toBe('IMG.0194');
  });
});

describe('quick import: OBS problems fail the job', () => {
  const GiB = 1024 ** 3;
  const objects = [
    { bucket: 'golden', key: 'ok.zvhd2', size: 8 * GiB },
    { bucket: 'golden', key: 'disk.raw', size: 8 * GiB },
    { bucket: 'golden', key: 'disk.mf', size: 1024 },
    { bucket: 'golden', key: 'nobitmap.raw', size: 8 * GiB },
    { bucket: 'golden', key: 'image.qcow2', size: GiB },
    { bucket: 'golden', key: 'cold.zvhd2', size: GiB, storageClass: 'COLD' as const },
    { bucket: 'golden', key: 'huge.zvhd2', size: 1024 ** 4 + 1 },
    { bucket: 'golden', key: 'empty.zvhd2', size: 0 },
    { bucket: 'faraway', key: 'ok.zvhd2', size: GiB, region: 'eu-west-101' },
  ];

  it.each([
    ['golden:ok.zvhd2', 'SUCCESS', null, null],
    ['golden:disk.raw', 'SUCCESS', null, null],
    ['golden:missing.zvhd2', 'FAIL', 'IMG.0057', 'object missing.zvhd2 not found in bucket golden'],
    ['nobucket:ok.zvhd2', 'FAIL', 'IMG.0057', 'not found'],
    ['golden:image.qcow2', 'FAIL', 'IMG.0072', 'not a RAW or ZVHD2 file'],
    ['golden:nobitmap.raw', 'FAIL', 'IMG.0057', 'no bitmap file nobitmap.mf'],
    ['golden:cold.zvhd2', 'FAIL', 'IMG.0057', 'storage class COLD'],
    ['golden:huge.zvhd2', 'FAIL', 'IMG.0059', 'at most 1 TB'],
    ['golden:empty.zvhd2', 'FAIL', 'IMG.0057', 'is empty'],
    ['faraway:ok.zvhd2', 'FAIL', 'IMG.0058', 'region eu-west-101'],
  ])('%s: %s %s', async (imageUrl, status, code, reason) => {
    const t = await testEmulator({ objects, jobSeconds: 1 });
    const jobId = await t.submit(systemImage('img', { image_url: imageUrl }));
    t.advance(1000);
    const done = await job(t, jobId);
    expect(done.status).toBe(status);
    expect(done.error_code).toBe(code);
    if (reason === null) {
      expect(done.fail_reason).toBeNull();
    } else {
      expect(done.fail_reason).toContain(reason);
      expect(done.entities).toEqual({});
    }
    expect((await images(t))[0]?.status).toBe(status === 'SUCCESS' ? 'active' : 'killed');
  });

  it('has every .zvhd2 and .raw file and nothing else in the default world', async () => {
    const t = await testEmulator({ jobSeconds: 1 });
    const jobs = [
      await t.submit(systemImage('a', { image_url: 'anything:dir/a.zvhd2' })),
      await t.submit(systemImage('b', { image_url: 'other-bucket:b.RAW' })),
      await t.submit(systemImage('c', { image_url: 'anything:c.vhd' })),
    ];
    t.advance(1000);
    const done = await Promise.all(jobs.map((id) => job(t, id)));
    expect(done.map(({ status, error_code }) => [status, error_code])).toEqual([
      ['SUCCESS', null],
      ['SUCCESS', null],
      ['FAIL', 'IMG.0072'],
    ]);
  });
});
