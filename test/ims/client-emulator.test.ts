// Every client call against the real emulator over HTTP: the two sides were written apart, from
// the documentation, so agreement here is evidence that both follow it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { ImsClient } from '../../src/ims/client.js';
import { ImsError } from '../../src/ims/errors.js';

let emulator: RunningEmulator;
let client: ImsClient;

beforeEach(async () => {
  emulator = await startEmulator({ jobSeconds: 0, seed: 3 });
  const [credentials] = emulator.credentials;
  client = new ImsClient({
    endpoint: emulator.url,
    projectId: emulator.projectId,
    auth: { kind: 'aksk', credentials: credentials! },
  });
});

afterEach(async () => {
  await client.close();
  await emulator.close();
});

const spec = (name: string) => ({
  name,
  image_url: `golden-images:${name}.zvhd2`,
  os_version: 'Ubuntu 22.04 server 64bit',
  min_disk: 40,
  image_tags: [
    { key: 'imsync-key', value: name },
    { key: 'team', value: 'web' },
  ],
});

async function imported(name: string): Promise<string> {
  const job = await client.getJob(await client.quickImport(spec(name)));
  expect(job).toMatchObject({ status: 'SUCCESS', jobType: 'imsImportImageJob' });
  return job.imageId!;
}

describe('ImsClient against the emulator', () => {
  it('imports, finds the image by id and by its ownership tag, and pages through all of them', async () => {
    const ids = [];
    for (const name of ['a', 'b', 'c', 'd', 'e']) ids.push(await imported(name));
    expect(await client.getImage(ids[0]!)).toMatchObject({ id: ids[0], name: 'a', status: 'active' });
    expect(await client.getImage('no-such-image')).toBeUndefined();
    const tagged = await client.listImages({ tag: 'imsync-key=c', __imagetype: 'private' });
    expect(tagged.map((image) => image.id)).toEqual([ids[2]]);
    const all = [];
    for await (const image of client.listAllImages({ limit: 2, sort_key: 'name', sort_dir: 'asc' }))
      all.push(image.name);
    expect(all).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('updates name and description in place', async () => {
    const id = await imported('web');
    const updated = await client.updateImage(id, [
      { op: 'replace', path: '/name', value: 'web-2' },
      { op: 'add', path: '/__description', value: 'now with a description' },
    ]);
    expect(updated).toMatchObject({ name: 'web-2', __description: 'now with a description' });
    const error = await client
      .updateImage(id, [{ op: 'replace', path: '/max_ram', value: '1024' }])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImsError);
    expect(error).toMatchObject({ code: 'IMG.0035', retry: 'never' });
  });

  it('reads and changes tags', async () => {
    const id = await imported('tagged');
    await client.changeImageTags(id, 'create', [{ key: 'env', value: 'prod' }]);
    await client.addImageTag(id, { key: 'tier', value: 'front' });
    await client.changeImageTags(id, 'delete', [{ key: 'team', value: 'web' }]);
    await client.deleteImageTag(id, 'tier');
    await client.deleteImageTag(id, 'tier');
    expect((await client.listImageTags(id)).sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { key: 'env', value: 'prod' },
      { key: 'imsync-key', value: 'tagged' },
    ]);
  });

  it('deletes an image, and a second delete is no error', async () => {
    const id = await imported('gone');
    await client.deleteImage(id);
    await client.deleteImage(id);
    expect(await client.getImage(id)).toBeUndefined();
  });

  it('reads the quota and the OS versions', async () => {
    await imported('one');
    expect(await client.getQuota()).toContainEqual(expect.objectContaining({ type: 'image', used: 1 }));
    expect(await client.listOsVersions()).toContainEqual(
      expect.objectContaining({ osVersion: 'Ubuntu 22.04 server 64bit', osBit: 64, osType: 'Linux' }),
    );
  });

  it("reports a failed job with the emulator's code and reason", async () => {
    const job = await client.getJob(
      await client.quickImport({ ...spec('bad'), image_url: 'golden-images:disk.qcow2' }),
    );
    expect(job).toMatchObject({ status: 'FAIL', errorCode: 'IMG.0072' });
    expect(job.failReason).toBeTruthy();
  });

  it('also works with an IAM token', async () => {
    const tokenClient = new ImsClient({
      endpoint: emulator.url,
      projectId: emulator.projectId,
      auth: { kind: 'token', token: emulator.token },
    });
    expect((await tokenClient.getQuota())[0]).toMatchObject({ type: 'image' });
    await tokenClient.close();
  });
});
