// The emulator's realism switches (src/emulator/realism.ts, research/ims-fidelity.md §2): each
// variant the documentation leaves open, played on the fake clock through the in-memory IMS, and
// `kind` (the default) unchanged.
import { afterEach, describe, expect, it } from 'vitest';
import { ImsFailure } from '../../src/emulator/errors.js';
import {
  createEmulatorCore,
  emulatorRealism,
  REALISM_PRESETS,
  type EmulatorOptions,
  type ListTagsStyle,
  type ObsEntry,
} from '../../src/emulator/index.js';
import { resolveRealism } from '../../src/emulator/realism.js';
import { validateQuickImport } from '../../src/emulator/validate.js';
import { ImsError } from '../../src/ims/errors.js';
import type { QuickImportBody, TaggedImage } from '../../src/ims/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { inMemoryIms, type InMemoryIms } from '../support/in-memory-ims.js';
import { testEmulator } from './support.js';

const opened: InMemoryIms[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((ims) => ims.close()));
});

function open(options: Omit<EmulatorOptions, 'clock'> = {}): { ims: InMemoryIms; clock: FakeClock } {
  const clock = new FakeClock();
  const ims = inMemoryIms({ seed: 7, jobSeconds: 10, ...options, clock });
  opened.push(ims);
  return { ims, clock };
}

const spec = (name: string, fields: Partial<Record<string, unknown>> = {}): QuickImportBody => ({
  name,
  image_url: `golden-images:${name}.zvhd2`,
  os_version: 'Ubuntu 22.04 server 64bit',
  min_disk: 40,
  image_tags: [
    { key: 'imsync-key', value: name },
    { key: 'team', value: 'web' },
  ],
  ...fields,
});

/** What the request failed with: its HTTP status and IMS code. */
async function refusal(promise: Promise<unknown>): Promise<{ status: number | undefined; code: string }> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(error instanceof ImsError)) throw new Error(`expected an ImsError, got ${String(error)}`);
  return { status: error.status, code: error.code };
}

async function tagged(ims: InMemoryIms, key = 'imsync-key'): Promise<TaggedImage[]> {
  const found: TaggedImage[] = [];
  for await (const image of ims.client.listTaggedImages(key)) found.push(image);
  return found;
}

/** The names GET /v2/cloudimages lists, GET ?id= finds and the tag filter and the tag query find. */
async function visibility(ims: InMemoryIms, id: string) {
  return {
    list: (await ims.client.listImages()).map((image) => image.name),
    byId: (await ims.client.listImages({ id })).map((image) => image.name),
    byTag: (await ims.client.listImages({ tag: 'team=web' })).map((image) => image.name),
    tagQuery: (await tagged(ims)).map((image) => image.name),
  };
}

/** The id of the only image the project holds, listed or not (inspection). */
function onlyImageId(ims: InMemoryIms): string {
  const [image, ...more] = ims.store.snapshot().images;
  if (image === undefined || more.length > 0) throw new Error('expected exactly one image');
  return String(image.id);
}

const submitDirectly = (ims: InMemoryIms, body: QuickImportBody): string =>
  ims.store.submit(validateQuickImport(Buffer.from(JSON.stringify(body))));

describe('realism presets', () => {
  it('is kind unless told otherwise: the emulator as it always was', () => {
    expect(emulatorRealism().preset).toBe('kind');
    expect(emulatorRealism().realism).toEqual({
      listingLagSeconds: 0,
      listTags: 'k=v',
      deleteLagSeconds: 0,
      obsErrors: 'job',
      unknownId: 404,
      patchAddConflict: false,
      maxConcurrentImports: 20,
      minDiskBounds: 'legacy',
    });
    expect(createEmulatorCore({ seed: 1 }).realism).toEqual(REALISM_PRESETS.kind);
  });

  it('strict is the harshest combination, its listing lag longer than the client request timeout', () => {
    expect(emulatorRealism({ realism: 'strict' }).realism).toEqual({
      listingLagSeconds: 40,
      listTags: 'none',
      deleteLagSeconds: 20,
      obsErrors: 'sync',
      unknownId: 400,
      patchAddConflict: true,
      maxConcurrentImports: 5,
      minDiskBounds: 'current',
    });
    expect(REALISM_PRESETS.strict.listingLagSeconds).toBeGreaterThan(30);
  });

  it('lets each switch given replace the preset value, and jobcap replace the cap', () => {
    const { preset, realism } = emulatorRealism({
      realism: 'strict',
      listingLagSeconds: 1,
      deleteLagSeconds: 1,
      patchAddConflict: false,
      listTags: 'k.v',
    });
    expect(preset).toBe('strict');
    expect(realism).toEqual({
      ...REALISM_PRESETS.strict,
      listingLagSeconds: 1,
      deleteLagSeconds: 1,
      patchAddConflict: false,
      listTags: 'k.v',
    });
    expect(emulatorRealism({ unknownId: 400 }).realism).toEqual({ ...REALISM_PRESETS.kind, unknownId: 400 });
    expect(emulatorRealism({ realism: 'strict', maxConcurrentImports: 3 }).realism.maxConcurrentImports).toBe(3);
    expect(
      emulatorRealism({ realism: 'strict', maxConcurrentImports: 3, faults: { jobcap: 7 } }).realism
        .maxConcurrentImports,
    ).toBe(7);
  });

  it('refuses values outside each switch', () => {
    expect(() => resolveRealism('kind', { listingLagSeconds: -1 })).toThrow(/listingLagSeconds/);
    expect(() => resolveRealism('kind', { listTags: 'k:v' as ListTagsStyle })).toThrow(/listTags/);
    expect(() => resolveRealism('kind', { unknownId: 500 as 404 })).toThrow(/unknownId/);
    expect(() => resolveRealism('kind', { maxConcurrentImports: 1.5 })).toThrow(/maxConcurrentImports/);
    expect(() => resolveRealism('lax' as 'kind')).toThrow(/realism must be kind or strict/);
  });
});

describe('--listing-lag', () => {
  it('lists a new image, by id, tag filter and tag query, only once the lag has passed', async () => {
    const { ims, clock } = open({ listingLagSeconds: 40 });
    const jobId = await ims.client.quickImport(spec('web'));
    // The job is known at once.
    expect(await ims.client.getJob(jobId)).toMatchObject({ status: 'INIT' });
    const id = onlyImageId(ims);
    const hidden = { list: [], byId: [], byTag: [], tagQuery: [] };
    expect(await visibility(ims, id)).toEqual(hidden);

    await clock.advance(10_000);
    expect(await ims.client.getJob(jobId)).toMatchObject({ status: 'SUCCESS', imageId: id });
    expect(await visibility(ims, id)).toEqual(hidden);
    await clock.advance(29_999);
    expect(await visibility(ims, id)).toEqual(hidden);

    await clock.advance(1);
    expect(await visibility(ims, id)).toEqual({ list: ['web'], byId: ['web'], byTag: ['web'], tagQuery: ['web'] });
    expect(await ims.client.getImage(id)).toMatchObject({ status: 'active' });
  });

  it('lets the per-image APIs act on the image before it is listed', async () => {
    const { ims, clock } = open({ listingLagSeconds: 40, jobSeconds: 1 });
    await ims.client.quickImport(spec('web'));
    const id = onlyImageId(ims);
    expect(await ims.client.listImageTags(id)).toEqual([
      { key: 'imsync-key', value: 'web' },
      { key: 'team', value: 'web' },
    ]);
    await ims.client.changeImageTags(id, 'create', [{ key: 'env', value: 'prod' }]);
    await clock.advance(1000);
    expect(await ims.client.updateImage(id, [{ op: 'replace', path: '/name', value: 'web-2' }])).toMatchObject({
      name: 'web-2',
    });
    expect(await ims.client.getImage(id)).toBeUndefined();
    await ims.client.deleteImage(id);
    await clock.advance(60_000);
    expect(await ims.client.listImages()).toEqual([]);
    expect(ims.store.snapshot().images).toEqual([]);
  });

  it('counts an image not yet listed against the quota', async () => {
    const { ims } = open({ listingLagSeconds: 40, imageQuota: 1 });
    await ims.client.quickImport(spec('web'));
    expect((await ims.client.getQuota())[0]).toMatchObject({ used: 1 });
    expect(await refusal(ims.client.quickImport(spec('db')))).toEqual({ status: 400, code: 'IMG.0015' });
  });

  it('is zero in kind: the image is listed from submission', async () => {
    const { ims } = open();
    await ims.client.quickImport(spec('web'));
    const id = onlyImageId(ims);
    expect(await visibility(ims, id)).toEqual({ list: ['web'], byId: ['web'], byTag: ['web'], tagQuery: ['web'] });
  });
});

describe('--list-tags', () => {
  const shown: Record<ListTagsStyle, string[]> = {
    'k=v': ['imsync-key=web', 'team=web'],
    'k.v': ['imsync-key.web', 'team.web'],
    none: [],
  };

  it.each(Object.entries(shown))(
    'with %s shows list tags as %j; the tag filter, tag API and tag query keep key/value',
    async (style, tags) => {
      const { ims } = open({ listTags: style as ListTagsStyle });
      await ims.client.quickImport(spec('web'));
      await ims.client.quickImport(spec('db', { image_tags: [{ key: 'team', value: 'data' }] }));
      const id = onlyImageIdNamed(ims, 'web');

      const [web] = await ims.client.listImages({ id });
      expect(web?.tags).toEqual(tags);
      expect((await ims.client.listImages({ tag: 'team=web' })).map((image) => image.name)).toEqual(['web']);
      expect((await ims.client.listImages({ tag: 'imsync-key=web' })).map((image) => image.name)).toEqual(['web']);
      expect(await ims.client.listImages({ tag: 'team=nobody' })).toEqual([]);
      const keyValue = [
        { key: 'imsync-key', value: 'web' },
        { key: 'team', value: 'web' },
      ];
      expect(await ims.client.listImageTags(id)).toEqual(keyValue);
      expect(await tagged(ims)).toEqual([{ id, name: 'web', status: 'queued', tags: keyValue }]);
      await ims.client.changeImageTags(id, 'create', [{ key: 'env', value: 'prod' }]);
      expect(ims.store.find(id)?.info.tags).toEqual(
        style === 'none' ? [] : [...tags, style === 'k.v' ? 'env.prod' : 'env=prod'],
      );
      // Inspection always shows key=value.
      expect(ims.store.snapshot().images.find((image) => image.id === id)?.tags).toEqual([
        'imsync-key=web',
        'team=web',
        'env=prod',
      ]);
    },
  );
});

function onlyImageIdNamed(ims: InMemoryIms, name: string): string {
  const image = ims.store.snapshot().images.find((info) => info.name === name);
  if (image === undefined) throw new Error(`no image ${name}`);
  return String(image.id);
}

describe('--delete-lag', () => {
  it('keeps a deleted image listed, unchanged and using quota, for the lag; deleting again is accepted', async () => {
    const { ims, clock } = open({ deleteLagSeconds: 20, jobSeconds: 0, imageQuota: 2 });
    await ims.client.quickImport(spec('web'));
    await ims.client.quickImport(spec('db'));
    const web = onlyImageIdNamed(ims, 'web');
    const before = await ims.client.getImage(web);
    expect(before).toMatchObject({ status: 'active' });

    await ims.client.deleteImage(web);
    await clock.advance(19_999);
    expect(await ims.client.getImage(web)).toEqual(before);
    expect(await visibility(ims, web)).toEqual({
      list: ['db', 'web'],
      byId: ['web'],
      byTag: ['db', 'web'],
      tagQuery: ['web', 'db'],
    });
    expect((await ims.client.getQuota())[0]).toMatchObject({ used: 2 });
    expect(await refusal(ims.client.quickImport(spec('logs')))).toEqual({ status: 400, code: 'IMG.0015' });
    await ims.client.deleteImage(web);
    // The other per-image APIs no longer know it.
    expect(await refusal(ims.client.listImageTags(web))).toEqual({ status: 404, code: 'IMG.0027' });
    expect(ims.store.snapshot()).toMatchObject({
      images: [expect.objectContaining({ name: 'db' })],
      deleting: [expect.objectContaining({ id: web, gone_at: '2026-11-26T10:00:20.000Z' })],
    });

    await clock.advance(1);
    expect(await visibility(ims, web)).toEqual({ list: ['db'], byId: [], byTag: ['db'], tagQuery: ['db'] });
    expect((await ims.client.getQuota())[0]).toMatchObject({ used: 1 });
    await ims.client.quickImport(spec('logs'));
    expect(ims.store.snapshot().deleting).toEqual([]);
  });

  it('pages a list that holds a deleted image by marker without overlap', async () => {
    const { ims, clock } = open({ deleteLagSeconds: 20, jobSeconds: 0 });
    for (const name of ['a', 'b', 'c', 'd']) {
      await ims.client.quickImport(spec(name));
      await clock.advance(1000);
    }
    await ims.client.deleteImage(onlyImageIdNamed(ims, 'b'));
    const names: string[] = [];
    for await (const image of ims.client.listAllImages({ limit: 1, sort_dir: 'asc' })) names.push(image.name);
    expect(names).toEqual(['a', 'b', 'c', 'd']);
  });

  it('is zero in kind: a deleted image is gone at once and frees its quota', async () => {
    const { ims } = open({ jobSeconds: 0, imageQuota: 1 });
    await ims.client.quickImport(spec('web'));
    const web = onlyImageId(ims);
    await ims.client.deleteImage(web);
    expect(await ims.client.getImage(web)).toBeUndefined();
    expect((await ims.client.getQuota())[0]).toMatchObject({ used: 0 });
    await ims.client.quickImport(spec('db'));
  });
});

describe('--obs-errors', () => {
  const GIB = 1024 ** 3;
  const objects: ObsEntry[] = [
    { bucket: 'golden-images', key: 'ok.zvhd2', size: 8 * GIB },
    { bucket: 'golden-images', key: 'kms.zvhd2', size: 8 * GIB, encryption: 'kms' },
    { bucket: 'golden-images', key: 'sse-c.zvhd2', size: 8 * GIB, encryption: 'customer' },
    { bucket: 'warm-bucket', storageClass: 'WARM' },
    { bucket: 'warm-bucket', key: 'ok.zvhd2', size: 8 * GIB },
    { bucket: 'golden-images', key: 'cold.zvhd2', size: 8 * GIB, storageClass: 'COLD' },
    { bucket: 'golden-images', key: 'huge.zvhd2', size: 2 * 1024 * 1024 * GIB },
    { bucket: 'golden-images', key: 'nobitmap.raw', size: 8 * GIB },
    { bucket: 'far-away', key: 'far.zvhd2', size: 8 * GIB, region: 'eu-west-0' },
  ];
  const problems: [string, string, string][] = [
    ['a missing object', 'golden-images:missing.zvhd2', 'IMG.0057'],
    ['a wrong format', 'golden-images:disk.qcow2', 'IMG.0072'],
    ['a missing bitmap', 'golden-images:nobitmap.raw', 'IMG.0057'],
    ['a class other than Standard', 'golden-images:cold.zvhd2', 'IMG.0057'],
    ['a bucket of a class other than Standard', 'warm-bucket:ok.zvhd2', 'IMG.0057'],
    ['an object encrypted with a customer key (SSE-C)', 'golden-images:sse-c.zvhd2', 'IMG.0057'],
    ['a file over 1 TB', 'golden-images:huge.zvhd2', 'IMG.0059'],
    ['a bucket in another region', 'far-away:far.zvhd2', 'IMG.0058'],
  ];

  it.each(problems)('with sync refuses %s at once with 400 %s… and creates nothing', async (_what, url, code) => {
    const { ims } = open({ obsErrors: 'sync', objects });
    expect(await refusal(ims.client.quickImport(spec('bad', { image_url: url })))).toEqual({ status: 400, code });
    expect(ims.store.snapshot().images).toEqual([]);
    expect(ims.store.jobList()).toEqual([]);
    expect((await ims.client.getQuota())[0]).toMatchObject({ used: 0 });
    await ims.client.quickImport(spec('good', { image_url: 'golden-images:ok.zvhd2' }));
    await ims.client.quickImport(spec('sse-kms', { image_url: 'golden-images:kms.zvhd2' }));
  });

  it.each(problems)('with job (kind) accepts %s and fails the job with %s…', async (_what, url, code) => {
    const { ims, clock } = open({ objects });
    const jobId = await ims.client.quickImport(spec('bad', { image_url: url }));
    await clock.advance(10_000);
    expect(await ims.client.getJob(jobId)).toMatchObject({ status: 'FAIL', errorCode: code });
  });
});

describe('--unknown-id', () => {
  const UNKNOWN_IMAGE = '00000000-0000-4000-8000-000000000000';
  const UNKNOWN_JOB = 'ff'.repeat(16);

  it('answers unknown job and image ids 404 IMG.0027 in kind', async () => {
    const { ims } = open();
    const notFound = { status: 404, code: 'IMG.0027' };
    expect(await refusal(ims.client.getJob(UNKNOWN_JOB))).toEqual(notFound);
    expect(
      await refusal(ims.client.updateImage(UNKNOWN_IMAGE, [{ op: 'replace', path: '/name', value: 'x' }])),
    ).toEqual(notFound);
    expect(await refusal(ims.client.listImageTags(UNKNOWN_IMAGE))).toEqual(notFound);
    expect(await refusal(ims.client.changeImageTags(UNKNOWN_IMAGE, 'delete', [{ key: 'a', value: '' }]))).toEqual(
      notFound,
    );
    // The client takes a DELETE's 404 as already gone.
    await ims.client.deleteImage(UNKNOWN_IMAGE);
  });

  it('answers them 400 IMG.0027 with 400, as the error table lists the code', async () => {
    const { ims } = open({ unknownId: 400 });
    const badRequest = { status: 400, code: 'IMG.0027' };
    expect(await refusal(ims.client.getJob(UNKNOWN_JOB))).toEqual(badRequest);
    expect(
      await refusal(ims.client.updateImage(UNKNOWN_IMAGE, [{ op: 'replace', path: '/name', value: 'x' }])),
    ).toEqual(badRequest);
    expect(await refusal(ims.client.listImageTags(UNKNOWN_IMAGE))).toEqual(badRequest);
    // DELETEs answered so are taken by the client as "already gone" (what IMG.0027 means there).
    await expect(ims.client.deleteImage(UNKNOWN_IMAGE)).resolves.toBeUndefined();
    await expect(ims.client.deleteImageTag(UNKNOWN_IMAGE, 'team')).resolves.toBeUndefined();
    // A list by an unknown id is still an empty list, and a missing tag key still 404 IMG.0115.
    expect(await ims.client.listImages({ id: UNKNOWN_IMAGE })).toEqual([]);
  });
});

describe('--patch-add-conflict', () => {
  it('refuses add of an attribute the image has with 400 IMG.0035; add of a missing one still works', async () => {
    const { ims } = open({ patchAddConflict: true, jobSeconds: 0 });
    await ims.client.quickImport(spec('web'));
    const id = onlyImageId(ims);
    expect(await refusal(ims.client.updateImage(id, [{ op: 'add', path: '/name', value: 'web-2' }]))).toEqual({
      status: 400,
      code: 'IMG.0035',
    });
    expect(await ims.client.getImage(id)).toMatchObject({ name: 'web' });
    expect(await ims.client.updateImage(id, [{ op: 'add', path: '/__description', value: 'first' }])).toMatchObject({
      __description: 'first',
    });
    expect(await refusal(ims.client.updateImage(id, [{ op: 'add', path: '/__description', value: 'second' }]))).toEqual(
      { status: 400, code: 'IMG.0035' },
    );
    expect(
      await ims.client.updateImage(id, [{ op: 'replace', path: '/__description', value: 'second' }]),
    ).toMatchObject({ __description: 'second' });
    // replace of a missing attribute is IMG.0035 in every mode.
    expect(
      await refusal(ims.client.updateImage(id, [{ op: 'replace', path: '/__support_kvm', value: 'true' }])),
    ).toEqual({ status: 400, code: 'IMG.0035' });
  });

  it('lets add replace an existing attribute in kind', async () => {
    const { ims } = open({ jobSeconds: 0 });
    await ims.client.quickImport(spec('web'));
    const id = onlyImageId(ims);
    expect(await ims.client.updateImage(id, [{ op: 'add', path: '/name', value: 'web-2' }])).toMatchObject({
      name: 'web-2',
    });
    expect(
      await refusal(ims.client.updateImage(id, [{ op: 'replace', path: '/__support_kvm', value: 'true' }])),
    ).toEqual({ status: 400, code: 'IMG.0035' });
  });
});

describe('--max-concurrent-imports', () => {
  /** How many imports are accepted while none ends, and the refusal of the next. */
  function capOf(ims: InMemoryIms): { accepted: number; refusal: unknown } {
    for (let accepted = 0; accepted < 100; accepted++) {
      try {
        submitDirectly(ims, spec(`img-${accepted}`));
      } catch (error) {
        if (!(error instanceof ImsFailure)) throw error;
        return { accepted, refusal: { status: error.status, code: error.code } };
      }
    }
    return { accepted: 100, refusal: undefined };
  }
  const refused = { status: 400, code: 'IMG.0194' };

  it('caps running imports at the number given (kind 20, strict 5), IMG.0194 beyond', () => {
    expect(capOf(open().ims)).toEqual({ accepted: 20, refusal: refused });
    expect(capOf(open({ maxConcurrentImports: 2 }).ims)).toEqual({ accepted: 2, refusal: refused });
    expect(capOf(open({ realism: 'strict' }).ims)).toEqual({ accepted: 5, refusal: refused });
    expect(capOf(open({ realism: 'strict', maxConcurrentImports: 8 }).ims)).toEqual({ accepted: 8, refusal: refused });
  });

  it('keeps the jobcap fault working, over the switch', () => {
    expect(capOf(open({ realism: 'strict', faults: { jobcap: 3 } }).ims)).toEqual({ accepted: 3, refusal: refused });
    expect(capOf(open({ maxConcurrentImports: 9, faults: { jobcap: 1 } }).ims)).toEqual({
      accepted: 1,
      refusal: refused,
    });
  });

  it('frees a slot when a job ends', async () => {
    const { ims, clock } = open({ maxConcurrentImports: 1 });
    await ims.client.quickImport(spec('web'));
    expect(() => submitDirectly(ims, spec('db'))).toThrow(/IMG.0194|import jobs run at once/);
    await clock.advance(10_000);
    await ims.client.quickImport(spec('db'));
  });
});

describe('--min-disk-bounds', () => {
  const windows = { os_version: 'Windows Server 2019 Standard 64bit' };
  const data = { type: 'DataImage', os_version: undefined };

  it('takes 1-1024 for every image in legacy (kind)', async () => {
    const { ims } = open();
    await ims.client.quickImport(spec('linux', { min_disk: 1 }));
    await ims.client.quickImport(spec('windows', { ...windows, min_disk: 1 }));
    await ims.client.quickImport(spec('linux-max', { min_disk: 1024 }));
    expect(await refusal(ims.client.quickImport(spec('zero', { min_disk: 0 })))).toEqual({
      status: 400,
      code: 'IMG.0055',
    });
    expect(await refusal(ims.client.quickImport(spec('over', { min_disk: 1025 })))).toEqual({
      status: 400,
      code: 'IMG.0055',
    });
  });

  it('takes Linux 10-1024 and Windows 20-1024 for system images in current; data images still 1-1024', async () => {
    const { ims } = open({ minDiskBounds: 'current' });
    const tooSmall = { status: 400, code: 'IMG.0055' };
    expect(await refusal(ims.client.quickImport(spec('linux-9', { min_disk: 9 })))).toEqual(tooSmall);
    await ims.client.quickImport(spec('linux-10', { min_disk: 10 }));
    expect(await refusal(ims.client.quickImport(spec('windows-19', { ...windows, min_disk: 19 })))).toEqual(tooSmall);
    await ims.client.quickImport(spec('windows-20', { ...windows, min_disk: 20 }));
    expect(await refusal(ims.client.quickImport(spec('bms-9', { type: 'BMS', min_disk: 9 })))).toEqual(tooSmall);
    expect(await refusal(ims.client.quickImport(spec('linux-1025', { min_disk: 1025 })))).toEqual(tooSmall);
    await ims.client.quickImport(spec('data-1', { ...data, min_disk: 1 }));
    expect(ims.store.snapshot().images.map((image) => image.name)).toEqual(['linux-10', 'windows-20', 'data-1']);
  });
});

describe('GET /__emulator/realism', () => {
  it('shows the preset, the settings in effect and which switches changed them', async () => {
    const t = await testEmulator({ realism: 'strict', listingLagSeconds: 1, faults: { jobcap: 7 } });
    const answer = await t.call('GET', '/__emulator/realism', { auth: 'none' });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      preset: 'strict',
      settings: { ...REALISM_PRESETS.strict, listingLagSeconds: 1, maxConcurrentImports: 7 },
      overridden: ['listingLagSeconds', 'maxConcurrentImports'],
    });
    expect(t.emulator.realism).toEqual(answer.json.settings);
  });

  it('shows kind with nothing changed by default', async () => {
    const t = await testEmulator();
    const answer = await t.call('GET', '/__emulator/realism', { auth: 'none' });
    expect(answer.json).toEqual({ preset: 'kind', settings: REALISM_PRESETS.kind, overridden: [] });
  });
});

describe('strict through the in-memory IMS', () => {
  it('plays every switch at once', async () => {
    const { ims, clock } = open({ realism: 'strict', jobSeconds: 0 });
    expect(await refusal(ims.client.quickImport(spec('small', { min_disk: 5 })))).toEqual({
      status: 400,
      code: 'IMG.0055',
    });
    expect(await refusal(ims.client.quickImport(spec('qcow', { image_url: 'golden-images:disk.qcow2' })))).toEqual({
      status: 400,
      code: 'IMG.0072',
    });
    const jobId = await ims.client.quickImport(spec('web'));
    const id = onlyImageId(ims);
    expect(await ims.client.getJob(jobId)).toMatchObject({ status: 'SUCCESS', imageId: id });
    expect(await ims.client.listImages({ tag: 'team=web' })).toEqual([]);
    await clock.advance(40_000);
    expect(await ims.client.listImages({ tag: 'team=web' })).toEqual([expect.objectContaining({ id, tags: [] })]);
    expect(await refusal(ims.client.updateImage(id, [{ op: 'add', path: '/name', value: 'x' }]))).toEqual({
      status: 400,
      code: 'IMG.0035',
    });
    await ims.client.deleteImage(id);
    await clock.advance(19_000);
    expect(await ims.client.getImage(id)).toMatchObject({ status: 'active' });
    await clock.advance(1000);
    expect(await ims.client.getImage(id)).toBeUndefined();
    // Gone: a DELETE now is answered 400 IMG.0027, which the client takes as "already gone".
    await expect(ims.client.deleteImage(id)).resolves.toBeUndefined();
    expect(await refusal(ims.client.listImageTags(id))).toEqual({ status: 400, code: 'IMG.0027' });
  });
});
