// `imsync emulator --realism strict` as users run it: its own process, its banner, and a few of the
// strict behaviours over HTTP (the unit tests in test/emulator/realism.test.ts cover each switch).
import { afterEach, describe, expect, it } from 'vitest';
import { EMULATOR_DEFAULTS } from '../../src/emulator/index.js';
import { spawnEmulator, type EmulatorProcess } from '../support/emulator-process.js';
import { emulatorImages, emulatorJobs } from '../support/emulator-inspect.js';
import { DOC_EXAMPLES } from '../support/ims-doc-examples.js';
import { runCli } from '../support/run-cli.js';

const started: EmulatorProcess[] = [];
afterEach(() => {
  for (const emulator of started.splice(0)) emulator.kill();
});

async function startCli(args: string[]): Promise<EmulatorProcess> {
  const emulator = await spawnEmulator(args);
  started.push(emulator);
  return emulator;
}

interface Answer {
  readonly status: number;
  readonly json: Record<string, unknown>;
}

/** An API call with the emulator's token. */
async function call(emulator: EmulatorProcess, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${emulator.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-auth-token': EMULATOR_DEFAULTS.token },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
}

const listById = async (emulator: EmulatorProcess, id: string) =>
  (await call(emulator, 'GET', `/v2/cloudimages?id=${id}`)).json.images as Record<string, unknown>[];

/** Polls until `done` holds, every 50 ms for at most `ms`. */
async function eventually(done: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const STRICT_ARGS = ['--realism', 'strict', '--listing-lag', '1', '--delete-lag', '1', '--job-seconds', '0'];

describe('imsync emulator --realism strict', () => {
  it('prints the preset, the switches given and every setting in effect', async () => {
    const emulator = await startCli(STRICT_ARGS);
    const banner = emulator.stdout();
    expect(banner).toContain(
      '  realism      strict (the harshest the IMS documentation allows), changed by --listing-lag --delete-lag',
    );
    expect(banner).toContain('listing-lag 1s, list-tags none, delete-lag 1s, obs-errors sync,');
    expect(banner).toContain(
      'unknown-id 400, patch-add-conflict on, max-concurrent-imports 5, min-disk-bounds current',
    );
    const realism = (await (await fetch(`${emulator.url}/__emulator/realism`)).json()) as Record<string, unknown>;
    expect(realism).toMatchObject({
      preset: 'strict',
      settings: { listingLagSeconds: 1, deleteLagSeconds: 1, listTags: 'none', unknownId: 400 },
      overridden: ['listingLagSeconds', 'deleteLagSeconds'],
    });
  });

  it('prints kind by default', async () => {
    const emulator = await startCli([]);
    expect(emulator.stdout()).toContain("  realism      kind (the emulator's own choices)\n");
    expect(emulator.stdout()).toContain('listing-lag 0s, list-tags k=v, delete-lag 0s, obs-errors job,');
  });

  it('lists a new image only after the listing lag, without tags, and keeps a deleted one listed for the delete lag', async () => {
    const emulator = await startCli(STRICT_ARGS);
    const body = DOC_EXAMPLES.systemWithImageTags;
    const accepted = await call(emulator, 'POST', '/v2/cloudimages/quickimport/action', body);
    expect(accepted.status).toBe(200);
    const jobId = accepted.json.job_id as string;

    // The job knows the image at once; the list does not yet.
    const job = await call(emulator, 'GET', `/v1/${emulator.projectId}/jobs/${jobId}`);
    expect(job.json).toMatchObject({ status: 'SUCCESS' });
    const imageId = (job.json.entities as { image_id: string }).image_id;
    expect(await listById(emulator, imageId)).toEqual([]);
    expect((await call(emulator, 'GET', '/v2/cloudimages?tag=key2=value2')).json.images).toEqual([]);
    // The inspection API shows what exists, key=value.
    expect(await emulatorImages(emulator)).toEqual([
      expect.objectContaining({ id: imageId, tags: ['key2=value2', 'key1=value1'] }),
    ]);
    expect(await emulatorJobs(emulator)).toEqual([expect.objectContaining({ job_id: jobId, status: 'SUCCESS' })]);

    await eventually(async () => (await listById(emulator, imageId)).length === 1);
    expect(await listById(emulator, imageId)).toEqual([expect.objectContaining({ status: 'active', tags: [] })]);
    expect((await call(emulator, 'GET', '/v2/cloudimages?tag=key2=value2')).json.images).toEqual([
      expect.objectContaining({ id: imageId }),
    ]);

    expect((await call(emulator, 'DELETE', `/v2/images/${imageId}`)).status).toBe(204);
    expect(await listById(emulator, imageId)).toEqual([expect.objectContaining({ status: 'active' })]);
    expect((await call(emulator, 'DELETE', `/v2/images/${imageId}`)).status).toBe(204);
    const inspected = (await (await fetch(`${emulator.url}/__emulator/images`)).json()) as Record<string, unknown[]>;
    expect(inspected).toEqual({ images: [], deleting: [expect.objectContaining({ id: imageId })] });

    await eventually(async () => (await listById(emulator, imageId)).length === 0);
    const again = await call(emulator, 'DELETE', `/v2/images/${imageId}`);
    expect(again).toMatchObject({ status: 400, json: { error: { code: 'IMG.0027' } } });
  });

  it('refuses OBS problems and small disks at once, unknown ids with 400, and PATCH add of an existing attribute', async () => {
    const emulator = await startCli(STRICT_ARGS);
    const body = DOC_EXAMPLES.minimal;
    const qcow = await call(emulator, 'POST', '/v2/cloudimages/quickimport/action', {
      ...body,
      image_url: 'ims-image:disk.qcow2',
    });
    expect(qcow).toMatchObject({ status: 400, json: { error: { code: 'IMG.0072' } } });
    const small = await call(emulator, 'POST', '/v2/cloudimages/quickimport/action', { ...body, min_disk: 5 });
    expect(small).toMatchObject({ status: 400, json: { error: { code: 'IMG.0055' } } });
    expect(await emulatorJobs(emulator)).toEqual([]);

    const unknownJob = await call(emulator, 'GET', `/v1/${emulator.projectId}/jobs/${'0'.repeat(32)}`);
    expect(unknownJob).toMatchObject({ status: 400, json: { error: { code: 'IMG.0027' } } });

    const accepted = await call(emulator, 'POST', '/v2/cloudimages/quickimport/action', body);
    const job = await call(emulator, 'GET', `/v1/${emulator.projectId}/jobs/${accepted.json.job_id as string}`);
    const imageId = (job.json.entities as { image_id: string }).image_id;
    const add = await call(emulator, 'PATCH', `/v2/cloudimages/${imageId}`, [
      { op: 'add', path: '/name', value: 'renamed' },
    ]);
    expect(add).toMatchObject({ status: 400, json: { error: { code: 'IMG.0035' } } });
    const replace = await call(emulator, 'PATCH', `/v2/cloudimages/${imageId}`, [
      { op: 'replace', path: '/name', value: 'renamed' },
    ]);
    expect(replace).toMatchObject({ status: 200, json: { name: 'renamed', tags: [] } });
  });

  it.each([
    [['--realism', 'lax'], '--realism "lax" must be one of kind, strict'],
    [['--list-tags', 'k:v'], '--list-tags "k:v" must be one of k=v, k.v, none'],
    [['--listing-lag', '-1'], '--listing-lag "-1" must be a number of seconds'],
    [['--obs-errors', 'later'], '--obs-errors "later" must be one of job, sync'],
    [['--unknown-id', '410'], '--unknown-id "410" must be one of 404, 400'],
    [['--max-concurrent-imports', 'many'], '--max-concurrent-imports "many" must be a whole number'],
    [['--min-disk-bounds', 'new'], '--min-disk-bounds "new" must be one of legacy, current'],
  ])('refuses %j with exit 1: %s', (args, message) => {
    const result = runCli(['emulator', '--port', '0', ...args]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(message);
  });
});
