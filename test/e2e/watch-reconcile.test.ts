// `imsync watch` end to end (issue 5): manifest files added, edited, deleted and broken while the
// daemon runs. The daemon and the emulator each run in a process of their own; the daemon is seen
// through its JSON log lines and /status, the emulator through its inspection API.
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { countBy, emulatorImages, emulatorRequests, imagesByKey, importPosts } from '../support/emulator-inspect.js';
import {
  allDaemonOutput,
  cleanup,
  manifestText,
  SECRET_KEY,
  startEmulator,
  Workspace,
  type DaemonProcess,
  type LogLine,
} from '../support/watch-harness.js';

afterEach(async () => {
  await cleanup();
  const leaked = allDaemonOutput.splice(0).find((text) => text.includes(SECRET_KEY));
  expect(leaked, 'a daemon printed HW_SECRET_KEY').toBeUndefined();
});

/**
 * Waits for the daemon to notice the file event (`add`, `change`, `unlink`) of `file`, then for
 * the reconcile it causes. A burst of events is one reason naming the first ("2 changes (add
 * .../fresh.yaml, ...)"), so the event is matched only when it is alone.
 */
async function reconcileAfterEvent(daemon: DaemonProcess, event: string, file: string): Promise<LogLine> {
  const since = Date.now();
  const requested = await daemon.waitForLog(`"reconcile requested" for ${event} ${file}`, (line) => {
    const reason = typeof line.reason === 'string' ? line.reason : '';
    const burst = /^\d+ changes \(/.test(reason);
    return line.msg === 'reconcile requested' && reason.includes(file) && (burst || reason.startsWith(`${event} `));
  });
  await daemon.waitForReconcileAfter(Math.min(since, requested.time));
  return requested;
}

describe('imsync watch: manifest changes', () => {
  it('imports what it finds at start, then a new manifest file, each exactly once', async () => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    await workspace.put('base');
    const daemon = workspace.watch(emulator);
    await daemon.waitForPhase(['base'], 'succeeded');

    await workspace.put('fresh');
    const requested = await reconcileAfterEvent(daemon, 'add', 'fresh.yaml');
    expect(requested.reason).toMatch(/add \S*fresh\.yaml/);
    const status = await daemon.waitForPhase(['base', 'fresh'], 'succeeded');

    const images = imagesByKey(await emulatorImages(emulator));
    expect(images.get('fresh')?.map((image) => [image.status, image.name])).toEqual([['active', 'image-fresh']]);
    expect(status.images.fresh?.image_id).toBe(images.get('fresh')?.[0]?.id);
    expect(images.get('base')).toHaveLength(1);
    const posts = countBy(importPosts(await emulatorRequests(emulator)), (post) => post.key);
    expect(Object.fromEntries(posts)).toEqual({ base: 1, fresh: 1 });
    const succeeded = daemon.logsWith('import.succeeded').map((line) => line.key);
    expect(succeeded).toEqual(['base', 'fresh']);
  });

  it('an edited description is updated in place: same image, no new import', async () => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    await workspace.put('web', { description: 'first words' });
    const daemon = workspace.watch(emulator);
    const before = await daemon.waitForPhase(['web'], 'succeeded');
    const imageId = before.images.web!.image_id!;

    await workspace.put('web', { description: 'second words' });
    await reconcileAfterEvent(daemon, 'change', 'web.yaml');
    const updated = await daemon.waitForLog('update.succeeded of web', (line) => line.msg === 'update.succeeded');
    expect(updated).toMatchObject({ key: 'web', image_id: imageId, fields: ['description'] });

    const images = imagesByKey(await emulatorImages(emulator)).get('web') ?? [];
    expect(images.map((image) => [image.id, image.status, image.__description])).toEqual([
      [imageId, 'active', 'second words'],
    ]);
    const requests = await emulatorRequests(emulator);
    expect(importPosts(requests)).toHaveLength(1);
    expect(requests.filter((r) => r.method === 'PATCH' && r.path === `/v2/cloudimages/${imageId}`)).toHaveLength(1);
    const after = await daemon.status();
    expect(after.images.web).toMatchObject({ phase: 'succeeded', image_id: imageId });
  });

  it("an editor's atomic save (a temporary file renamed over the manifest) is an edit", async () => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    await workspace.put('vim', { name: 'before-save' });
    const daemon = workspace.watch(emulator);
    const before = await daemon.waitForPhase(['vim'], 'succeeded');

    const temporary = join(workspace.manifests, '.vim.yaml.swp');
    await writeFile(temporary, manifestText('vim', { name: 'after-save' }));
    await rename(temporary, workspace.fileOf('vim'));
    await daemon.waitForLog('update.succeeded of vim', (line) => line.msg === 'update.succeeded');
    const images = imagesByKey(await emulatorImages(emulator)).get('vim') ?? [];
    expect(images.map((image) => [image.id, image.name])).toEqual([[before.images.vim!.image_id, 'after-save']]);
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(1);
  });

  it('a deleted manifest file leaves an orphan: its image is kept and its record stays', async () => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    await workspace.put('keep');
    await workspace.put('gone');
    const daemon = workspace.watch(emulator);
    const before = await daemon.waitForPhase(['keep', 'gone'], 'succeeded');
    const goneId = before.images.gone!.image_id!;

    await workspace.remove('gone');
    await reconcileAfterEvent(daemon, 'unlink', 'gone.yaml');
    const status = await daemon.status();
    expect(status.last_reconcile?.result).toBe('applied');
    expect(status.images.gone).toMatchObject({ phase: 'succeeded', image_id: goneId });
    const images = imagesByKey(await emulatorImages(emulator));
    expect(images.get('gone')?.map((image) => [image.id, image.status])).toEqual([[goneId, 'active']]);
    const requests = await emulatorRequests(emulator);
    expect(requests.filter((request) => request.method === 'DELETE')).toEqual([]);
    expect(importPosts(requests)).toHaveLength(2);
    expect((await workspace.state()).images.gone?.imageId).toBe(goneId);
  });

  it('a deleted manifest file: the orphan is reported in /status and in the logs', async () => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    await workspace.put('keep');
    await workspace.put('gone');
    const daemon = workspace.watch(emulator);
    await daemon.waitForPhase(['keep', 'gone'], 'succeeded');
    await workspace.remove('gone');
    const requested = await reconcileAfterEvent(daemon, 'unlink', 'gone.yaml');

    const status = await daemon.status();
    const inStatus =
      JSON.stringify(status.images.gone ?? {}).includes('orphan') ||
      JSON.stringify(status.orphans ?? null).includes('"gone"');
    expect(inStatus, `/status does not report gone as an orphan: ${JSON.stringify(status)}`).toBe(true);
    const logged = daemon
      .logs()
      .filter((line) => line.time >= requested.time)
      .some((line) => JSON.stringify(line).includes('orphan') && JSON.stringify(line).includes('gone'));
    expect(logged, `no log line reports the orphan gone:\n${daemon.tail()}`).toBe(true);
  });

  it('a manifest of another region is left alone, as apply leaves it', async () => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    await workspace.put('here');
    await workspace.put('elsewhere', {}, { region: 'cn-north-4' });
    const daemon = workspace.watch(emulator);
    await daemon.waitForPhase(['here'], 'succeeded');
    await daemon.waitForIdle();
    const posts = importPosts(await emulatorRequests(emulator)).map((post) => post.key);
    expect(posts).toEqual(['here']);
  });

  it('a broken manifest: diagnostics in /status and the log, nothing sent, still alive; its fix is imported', async () => {
    const emulator = await startEmulator();
    const workspace = await Workspace.create();
    await workspace.put('ok');
    const daemon = workspace.watch(emulator);
    await daemon.waitForPhase(['ok'], 'succeeded');
    const requestsBefore = (await emulatorRequests(emulator)).length;

    await workspace.putRaw(
      'bad.yaml',
      [
        'apiVersion: imsync/v1',
        'kind: Image',
        'metadata:',
        '  name: bad',
        'spec:',
        '  name: image-bad',
        '  image_url: golden:bad.zvhd2',
        '  os_version: Ubuntu 22.04 server 64bit',
        '  min_disk: 0',
        '',
      ].join('\n'),
    );
    await reconcileAfterEvent(daemon, 'add', 'bad.yaml');
    const status = await daemon.status();
    expect(status.last_reconcile?.result).toBe('invalid');
    expect(status.diagnostics).toEqual([
      expect.objectContaining({ code: 'FIELD_RANGE', where: expect.stringMatching(/bad\.yaml:9:13$/) as unknown }),
    ]);
    const warned = daemon.logsWith('invalid manifest: nothing is applied until it is fixed');
    expect(warned).toEqual([expect.objectContaining({ level: 40, code: 'FIELD_RANGE' })]);
    expect((await daemon.get('/healthz')).status).toBe(200);
    expect(daemon.running).toBe(true);
    // Nothing at all was sent while the manifests were invalid, least of all an import of bad.
    const during = await emulatorRequests(emulator);
    expect(importPosts(during).filter((post) => post.key === 'bad')).toEqual([]);
    expect(during.slice(requestsBefore)).toEqual([]);
    expect(status.images.bad).toBeUndefined();

    await workspace.put('bad');
    const fixed = await daemon.waitForPhase(['ok', 'bad'], 'succeeded');
    expect(fixed.diagnostics).toEqual([]);
    expect(fixed.last_reconcile?.result, `${JSON.stringify(fixed)}\n${daemon.tail(60)}`).toBe('applied');
    const posts = countBy(importPosts(await emulatorRequests(emulator)), (post) => post.key);
    expect(Object.fromEntries(posts)).toEqual({ ok: 1, bad: 1 });
    expect(
      imagesByKey(await emulatorImages(emulator))
        .get('bad')
        ?.map((image) => image.status),
    ).toEqual(['active']);
  });
});
