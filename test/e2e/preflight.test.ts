// The pre-flight through the real CLI and the emulator's OBS over HTTP: each class of problem in
// the plan with its manifest and file, nothing sent to IMS, what passed not asked again, and a
// file uploaded again under its key seen as drift.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emulatorEnv, spawnEmulator, type EmulatorProcess } from '../support/emulator-process.js';
import { runCli } from '../support/run-cli.js';
import { manifestYaml } from '../support/specs.js';

const GiB = 1024 ** 3;
let dir: string;
let emulator: EmulatorProcess;
let env: NodeJS.ProcessEnv;

interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly service?: 'obs';
}

async function requests(): Promise<LoggedRequest[]> {
  const answer = await fetch(`${emulator.url}/__emulator/requests`);
  return ((await answer.json()) as { requests: LoggedRequest[] }).requests;
}

const isImport = (request: LoggedRequest) => request.method === 'POST' && request.path.endsWith('/quickimport/action');
const obsRequests = async () => (await requests()).filter((request) => request.service === 'obs').length;

async function manifests(images: Record<string, string>): Promise<void> {
  await rm(join(dir, 'manifests'), { recursive: true, force: true });
  await mkdir(join(dir, 'manifests'));
  const documents = Object.entries(images).map(([key, url]) => manifestYaml(key, url));
  await writeFile(join(dir, 'manifests', 'images.yaml'), documents.join('---\n'));
}

const imsync = (...args: string[]) => runCli([...args, '--state', join(dir, 'imsync.state.json')], { cwd: dir, env });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imsync-preflight-'));
  const objects = [
    { bucket: 'golden', key: 'ok.zvhd2', size: 8 * GiB },
    { bucket: 'golden', key: 'ok.raw', size: 8 * GiB },
    { bucket: 'golden', key: 'ok.mf', size: 1024 },
    { bucket: 'golden', key: 'nobitmap.raw', size: 8 * GiB },
    { bucket: 'golden', key: 'big.zvhd2', size: 1024 ** 4 + 1 },
    { bucket: 'golden', key: 'warm.zvhd2', size: 8 * GiB, storageClass: 'WARM' },
    { bucket: 'golden', key: 'disk.qcow2', size: 8 * GiB },
    { bucket: 'archive', storageClass: 'COLD' },
    { bucket: 'archive', key: 'a.zvhd2', size: 8 * GiB },
    { bucket: 'faraway', key: 'b.zvhd2', size: 8 * GiB, region: 'eu-west-101' },
    ...Array.from({ length: 20 }, (_, i) => ({ bucket: 'golden', key: `many-${i}.zvhd2`, size: GiB })),
  ];
  await writeFile(join(dir, 'objects.json'), JSON.stringify(objects));
  emulator = await spawnEmulator(['--objects', join(dir, 'objects.json'), '--job-seconds', '1']);
  env = emulatorEnv(emulator);
});

afterEach(async () => {
  emulator.kill();
  await rm(dir, { recursive: true, force: true });
});

describe('the pre-flight', () => {
  it('lists each problem with its manifest, file and reason, and neither plan nor apply sends an import', async () => {
    await manifests({
      ok: 'golden:ok.zvhd2',
      'ok-raw': 'golden:ok.raw',
      nobitmap: 'golden:nobitmap.raw',
      big: 'golden:big.zvhd2',
      warm: 'golden:warm.zvhd2',
      qcow: 'golden:disk.qcow2',
      absent: 'golden:absent.zvhd2',
      cold: 'archive:a.zvhd2',
      far: 'faraway:b.zvhd2',
      nobucket: 'nowhere:c.zvhd2',
    });
    const plan = imsync('plan', 'manifests');
    expect(plan.status).toBe(1);
    const listed = plan.stdout.split('\n').filter((line) => line.startsWith('  ✗ '));
    expect(listed.map((line) => /^ {2}✗ (\S+) .* \[(\w+)\]$/.exec(line)?.slice(1))).toEqual([
      ['absent', 'OBJECT_MISSING'],
      ['big', 'OBJECT_TOO_BIG'],
      ['cold', 'BUCKET_CLASS'],
      ['far', 'BUCKET_REGION'],
      ['nobitmap', 'BITMAP_MISSING'],
      ['nobucket', 'BUCKET_MISSING'],
      ['qcow', 'FORMAT'],
      ['warm', 'OBJECT_CLASS'],
    ]);
    expect(plan.stdout).toContain('✗ absent golden:absent.zvhd2 does not exist [OBJECT_MISSING]');
    expect(plan.stdout).toContain(
      "✗ qcow golden:disk.qcow2 is a QCOW2 file: quick import takes RAW and ZVHD2 files only. IMS's common image import serves QCOW2; imsync does not",
    );
    expect(plan.stderr).toContain('the pre-flight found 8 problems with the image files to import (above)');

    const apply = imsync('apply', 'manifests', '--auto-approve');
    expect(apply.status).toBe(1);
    expect(apply.stderr).toMatch(/the pre-flight found 8 problems .*; nothing was sent/);
    expect((await requests()).filter(isImport)).toEqual([]);

    // --no-preflight plans without asking OBS; the JSON plan says so.
    const before = await obsRequests();
    const unchecked = imsync('plan', 'manifests', '--no-preflight', '--json');
    expect(unchecked.status).toBe(0);
    expect((JSON.parse(unchecked.stdout) as { preflight: unknown }).preflight).toMatchObject({
      skipped: 'not checked (--no-preflight)',
      requests: 0,
    });
    expect(await obsRequests()).toBe(before);
  });

  it('records the file with each import; a second plan asks OBS nothing; a re-upload shows as drift', async () => {
    await manifests({ first: 'golden:ok.zvhd2' });
    expect(imsync('apply', 'manifests', '--auto-approve')).toMatchObject({ status: 0 });
    const images = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`many-${i}`, `golden:many-${i}.zvhd2`]));
    await manifests({ first: 'golden:ok.zvhd2', ...images });

    const start = await obsRequests();
    const first = imsync('plan', 'manifests');
    expect(first.status).toBe(0);
    const firstCount = (await obsRequests()) - start;
    // 20 objects; their bucket and the imported file are still in the cache the apply kept.
    expect(firstCount).toBe(20);
    expect(first.stdout).toContain(
      'Pre-flight: the image files in OBS pass every check (21 files looked at, 20 requests to OBS, 1 answered from the cache).',
    );
    const second = imsync('plan', 'manifests');
    expect(second.status).toBe(0);
    expect((await obsRequests()) - start - firstCount).toBe(0);
    expect(second.stdout).toContain('21 files looked at, 0 requests to OBS, 21 answered from the cache');

    // The imported file uploaded again under its key: a warning by default, a replacement when asked.
    const put = await fetch(`${emulator.url}/__emulator/objects`, {
      method: 'PUT',
      headers: { 'x-imsync-emulator': '1', 'content-type': 'application/json' },
      body: JSON.stringify({ bucket: 'golden', key: 'ok.zvhd2', size: 8 * GiB }),
    });
    expect(put.status).toBe(200);
    const warned = imsync('plan', 'manifests', '--preflight-max-age', '0s');
    expect(warned.status).toBe(0);
    expect(warned.stdout).toMatch(
      /! first golden:ok\.zvhd2 was uploaded again since its image was imported \(ETag "\w+", now "\w+"\)/,
    );
    const replaced = imsync('plan', 'manifests', '--preflight-max-age', '0s', '--reupload', 'replace', '--json');
    const entry = (
      JSON.parse(replaced.stdout) as { entries: { key: string; action: string; changes?: { field: string }[] }[] }
    ).entries.find((e) => e.key === 'first');
    expect(entry).toMatchObject({ action: 'replace-blocked', changes: [{ field: 'image file' }] });
  });
});
