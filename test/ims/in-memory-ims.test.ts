// The in-memory IMS (test/support/in-memory-ims.ts): a real ImsClient served by the emulator's
// routes in-process, on a fake clock, so that unit tests need no sockets and never sleep.
import { afterEach, describe, expect, it } from 'vitest';
import type { QuickImportBody } from '../../src/ims/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { inMemoryIms, type InMemoryIms } from '../support/in-memory-ims.js';

const opened: InMemoryIms[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((ims) => ims.close()));
});

function open(options: Omit<Parameters<typeof inMemoryIms>[0], 'clock'> = {}): { ims: InMemoryIms; clock: FakeClock } {
  const clock = new FakeClock();
  const ims = inMemoryIms({ seed: 7, jobSeconds: 10, ...options, clock });
  opened.push(ims);
  return { ims, clock };
}

const spec = (name: string, tagged = true): QuickImportBody => ({
  name,
  image_url: `golden-images:${name}.zvhd2`,
  os_version: 'Ubuntu 22.04 server 64bit',
  min_disk: 40,
  ...(tagged
    ? {
        image_tags: [
          { key: 'imsync-key', value: name },
          { key: 'team', value: 'web' },
        ],
      }
    : {}),
});

describe('inMemoryIms', () => {
  it('imports, and the job goes INIT -> RUNNING -> SUCCESS as the fake clock moves', async () => {
    const { ims, clock } = open();
    const jobId = await ims.client.quickImport(spec('web'));
    expect(await ims.client.getJob(jobId)).toMatchObject({ status: 'INIT', percent: 0 });
    await clock.advance(1000);
    expect(await ims.client.getJob(jobId)).toMatchObject({
      status: 'RUNNING',
      percent: 10,
      currentTask: 'ConvertImage',
    });
    await clock.advance(4000);
    expect(await ims.client.getJob(jobId)).toMatchObject({ status: 'RUNNING', percent: 50 });
    await clock.advance(5000);
    const job = await ims.client.getJob(jobId);
    expect(job).toMatchObject({ status: 'SUCCESS', jobType: 'imsImportImageJob' });
    expect(await ims.client.getImage(job.imageId!)).toMatchObject({ name: 'web', status: 'active' });
  });

  it('finds images by their imsync-key tag, with key/value tags, and sees changes made out of band', async () => {
    const { ims, clock } = open();
    const job = await ims.client.getJob(await ims.client.quickImport(spec('web')));
    await ims.client.quickImport(spec('untagged', false));
    await clock.advance(10_000);
    const id = (await ims.client.getJob(job.jobId)).imageId!;
    const tagged = async () => {
      const found = [];
      for await (const image of ims.client.listTaggedImages('imsync-key')) found.push(image);
      return found;
    };
    expect(await tagged()).toEqual([
      {
        id,
        name: 'web',
        status: 'active',
        tags: [
          { key: 'imsync-key', value: 'web' },
          { key: 'team', value: 'web' },
        ],
      },
    ]);

    ims.store.update(id, Buffer.from(JSON.stringify([{ op: 'replace', path: '/name', value: 'web-renamed' }])));
    ims.store.removeTags(id, ['team']);
    expect(await tagged()).toEqual([
      { id, name: 'web-renamed', status: 'active', tags: [{ key: 'imsync-key', value: 'web' }] },
    ]);
    ims.store.delete(id);
    expect(await tagged()).toEqual([]);
  });

  it('pages listTaggedImages over 2,500 images in 3 requests', async () => {
    const { ims } = open({ jobSeconds: 0, imageQuota: 3000 });
    for (let i = 0; i < 2500; i++) await ims.client.quickImport(spec(`img-${i}`));
    const before = ims.requests();
    const names = [];
    for await (const image of ims.client.listTaggedImages('imsync-key')) names.push(image.name);
    expect(names).toEqual(Array.from({ length: 2500 }, (_, i) => `img-${i}`));
    expect(ims.requests() - before).toBe(3);
    expect(ims.requestLog.slice(before).map(({ body }) => (body as { offset: string }).offset)).toEqual([
      '0',
      '1000',
      '2000',
    ]);
  });

  it('counts and logs every request served', async () => {
    const { ims } = open();
    expect(ims.requests()).toBe(0);
    const jobId = await ims.client.quickImport(spec('web'));
    await ims.client.getJob(jobId);
    await ims.client.deleteImage('no-such-image');
    expect(ims.requests()).toBe(3);
    expect(ims.requestLog.map(({ method, path }) => `${method} ${path}`)).toEqual([
      'POST /v2/cloudimages/quickimport/action',
      `GET /v1/cloudimages/job/${jobId}`,
      'DELETE /v2/images/no-such-image',
    ]);
    expect(ims.requestLog[0]).toMatchObject({ query: '', body: spec('web') });
    expect(ims.requestLog[1]?.body).toBeUndefined();
  });

  it('refuses an import beyond the job cap with IMG.0194, and takes it once the running job has ended', async () => {
    const { ims, clock } = open({ jobSeconds: 0.1, maxConcurrentImports: 1 });
    await ims.client.quickImport(spec('first'));
    await expect(ims.client.quickImport(spec('second'))).rejects.toMatchObject({ code: 'IMG.0194' });
    await clock.advance(200);
    await ims.client.getJob(await ims.client.quickImport(spec('third')));
    const imports = ims.requestLog.filter(({ path }) => path === '/v2/cloudimages/quickimport/action');
    expect(imports).toHaveLength(3);
  });
});
