// `imsync watch` with the pre-flight: a manifest whose image file is missing holds the whole
// reconcile back (nothing sent, the problem logged with its file), and once the file is uploaded
// the next reconcile imports everything, once.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { emulatorRequests, importPosts } from '../support/emulator-inspect.js';
import { allDaemonOutput, cleanup, SECRET_KEY, startEmulator, Workspace } from '../support/watch-harness.js';

afterEach(async () => {
  await cleanup();
  const leaked = allDaemonOutput.splice(0).find((text) => text.includes(SECRET_KEY));
  expect(leaked, 'a daemon printed HW_SECRET_KEY').toBeUndefined();
});

describe('imsync watch: the pre-flight', () => {
  it('refuses a reconcile whose image file is missing, then imports once the file is there', async () => {
    const workspace = await Workspace.create();
    const objects = join(workspace.dir, 'objects.json');
    await writeFile(objects, JSON.stringify([{ bucket: 'golden', key: 'present.zvhd2', size: 1024 ** 3 }]));
    const emulator = await startEmulator(['--job-seconds', '1', '--objects', objects]);
    await workspace.put('present');
    await workspace.put('later');
    const daemon = workspace.watch(emulator, [], { env: { IMSYNC_OBS_ENDPOINT: emulator.obsEndpoint } });

    const problem = await daemon.waitForLog('the pre-flight problem', (line) => line.msg.startsWith('pre-flight:'));
    expect(problem).toMatchObject({
      msg: 'pre-flight: golden:later.zvhd2 does not exist',
      key: 'later',
      code: 'OBJECT_MISSING',
    });
    await daemon.waitForLog('the refusal', (line) => line.msg === 'plan refused; nothing is applied');
    expect(importPosts(await emulatorRequests(emulator))).toEqual([]);

    const put = await fetch(`${emulator.url}/__emulator/objects`, {
      method: 'PUT',
      headers: { 'x-imsync-emulator': '1', 'content-type': 'application/json' },
      body: JSON.stringify({ bucket: 'golden', key: 'later.zvhd2', size: 1024 ** 3 }),
    });
    expect(put.status).toBe(200);
    await workspace.put('later'); // any edit reconciles again
    await daemon.waitForPhase(['present', 'later'], 'succeeded');
    const posts = importPosts(await emulatorRequests(emulator));
    expect(posts.map((post) => post.key).sort()).toEqual(['later', 'present']);
    // Each record keeps the file it was imported from.
    const state = await workspace.state();
    expect(state.images.later?.source).toMatchObject({
      size: 1024 ** 3,
      etag: expect.stringMatching(/^"[0-9a-f]{32}"$/) as string,
    });
  });
});
