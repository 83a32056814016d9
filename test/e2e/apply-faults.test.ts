// apply against a misbehaving IMS and a misbehaving OBS (issue 4 §9): a fault storm converges
// with no duplicate; import jobs that fail on their file are results with the API's codes.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { countBy, emulatorImages, emulatorRequests, importPosts, imagesByKey } from '../support/emulator-inspect.js';
import { specFor } from '../support/specs.js';
import {
  applyArgs,
  expectConverged,
  jsonLines,
  outputOf,
  startEmulator,
  stopProcesses,
  sleep,
  REGION,
  Workspace,
  type CliRun,
} from '../support/apply-harness.js';

afterEach(stopProcesses);

/** The kind emulator, and the harshest one with lags short enough for a test (the settle grace outlasts the listing lag). */
const REALISMS = [
  ['the kind emulator', [], []],
  ['strict realism', ['--realism', 'strict', '--listing-lag', '3', '--delete-lag', '2'], ['--settle-grace', '5s']],
] as const;

describe('imsync apply in a fault storm', () => {
  it.each(REALISMS)(
    '%s: imports 50 images through 429s, 5xx, resets and lost answers with no duplicate',
    async (name, realism, settle) => {
      const emulator = await startEmulator([
        '--job-seconds',
        '1',
        '--faults',
        '429=0.1,500=0.05,503=0.05,reset=0.05,lost=0.05,jobcap=1000',
        '--seed',
        '4242',
        ...realism,
      ]);
      const workspace = await Workspace.create('imsync-storm-');
      const keys = Array.from({ length: 50 }, (_, i) => `storm-${String(i).padStart(2, '0')}`);
      for (const key of keys) await workspace.put(key);

      const started = Date.now();
      const runs: CliRun[] = [];
      while (runs.length < 6) {
        const run = await workspace.run(applyArgs(workspace, '--json', ...settle), emulator);
        runs.push(run);
        await workspace.state(); // loads after every run
        if (run.code === 0) break;
      }
      const seconds = (Date.now() - started) / 1000;
      const requests = await emulatorRequests(emulator);
      const posts = importPosts(requests);
      const events = runs.flatMap((run) => jsonLines(run.stdout));
      const figures = {
        runs: runs.map((run) => ({ code: run.code, ms: run.ms, stderr: run.stderr.split('\n')[0] })),
        seconds,
        requests: requests.length,
        faults: Object.fromEntries(countBy(requests, (request) => request.fault)),
        importPosts: posts.length,
        importPostFaults: Object.fromEntries(countBy(posts, (post) => post.fault ?? String(post.status))),
        ambiguous: events.filter((e) => e.type === 'import.ambiguous').length,
        settledFound: events.filter((e) => e.type === 'import.settled' && e.found === true).length,
        settledAbsent: events.filter((e) => e.type === 'import.settled' && e.found === false).length,
        failedImports: events
          .filter((e) => e.type === 'import.failed')
          .map((e) => `${String(e.key)} ${String(e.code)}`),
      };
      console.log(`fault storm figures (${name}): ${JSON.stringify(figures)}`);

      expect(runs.at(-1)!.code, runs.at(-1)!.stderr).toBe(0);
      await expectConverged(workspace, emulator, keys);
      // The storm did reach the imports: some went unanswered (5xx, reset or lost) and were settled.
      expect(figures.ambiguous).toBeGreaterThan(0);
      expect(figures.settledFound + figures.settledAbsent).toBeGreaterThan(0);
    },
    120_000,
  );
});

describe('imsync apply with OBS problems', () => {
  it('fails a missing object, a wrong format and a missing bitmap with their codes; the rest succeed', async () => {
    const GiB = 1024 ** 3;
    const object = (key: string) => ({
      bucket: 'golden',
      key,
      size: 8 * GiB,
      storageClass: 'STANDARD',
      region: REGION,
    });
    const workspace = await Workspace.create('imsync-obs-');
    const objectsFile = join(workspace.dir, 'objects.json');
    await writeFile(
      objectsFile,
      JSON.stringify([
        object('good-a.zvhd2'),
        object('good-b.zvhd2'),
        object('good-raw.raw'),
        object('good-raw.mf'),
        object('disk.qcow2'), // it exists; its format is what is wrong
        object('no-bitmap.raw'), // its .mf does not exist
      ]),
    );
    const emulator = await startEmulator(['--job-seconds', '0.5', '--objects', objectsFile]);
    const urls: Record<string, string> = {
      'good-a': 'golden:good-a.zvhd2',
      'good-b': 'golden:good-b.zvhd2',
      'good-raw': 'golden:good-raw.raw',
      'missing-object': 'golden:missing.zvhd2',
      'wrong-format': 'golden:disk.qcow2',
      'missing-bitmap': 'golden:no-bitmap.raw',
    };
    for (const [key, url] of Object.entries(urls)) await workspace.put(key, specFor(key, { image_url: url }));

    const run = await workspace.run(applyArgs(workspace, '--json'), emulator);
    expect(run.code, run.stderr).toBe(1);
    const events = jsonLines(run.stdout);
    const failed = new Map(
      events
        .filter((e) => e.type === 'import.failed')
        .map((e) => [String(e.key), { code: String(e.code), reason: String(e.reason) }]),
    );
    expect([...failed.keys()].sort()).toEqual(['missing-bitmap', 'missing-object', 'wrong-format']);
    expect(failed.get('missing-object')!.code).toBe('IMG.0057');
    expect(failed.get('missing-object')!.reason).toContain('missing.zvhd2');
    expect(failed.get('wrong-format')!.code).toBe('IMG.0072');
    expect(failed.get('wrong-format')!.reason).toContain('disk.qcow2');
    expect(failed.get('missing-bitmap')!.code).toBe('IMG.0057');
    expect(failed.get('missing-bitmap')!.reason).toMatch(/bitmap/);
    expect(
      events
        .filter((e) => e.type === 'import.succeeded')
        .map((e) => e.key)
        .sort(),
    ).toEqual(['good-a', 'good-b', 'good-raw']);
    expect(events.at(-1)).toMatchObject({ type: 'apply.finished', summary: { imported: 3, failed: 3 } });

    const state = await workspace.state();
    for (const key of ['good-a', 'good-b', 'good-raw']) expect(state.images[key]).toMatchObject({ phase: 'succeeded' });
    for (const [key, error] of failed) {
      expect(state.images[key]).toMatchObject({ phase: 'failed', error });
    }
    // Each failed attempt left one killed image; each good one an active image.
    const byKey = imagesByKey(await emulatorImages(emulator));
    for (const key of Object.keys(urls)) {
      const status = failed.has(key) ? 'killed' : 'active';
      expect(byKey.get(key)?.map((image) => image.status)).toEqual([status]);
    }

    const plan = await workspace.run(['plan', workspace.manifests, '--state', workspace.statePath, '--json'], emulator);
    expect(plan.code, plan.stderr).toBe(0);
    const entries = (JSON.parse(plan.stdout) as { entries: { key: string; action: string; recorded: unknown }[] })
      .entries;
    for (const entry of entries) {
      const error = failed.get(entry.key);
      if (error) {
        expect(entry).toMatchObject({ action: 'retry', recorded: { phase: 'failed', error } });
      } else {
        expect(entry).toMatchObject({ action: 'none', recorded: { phase: 'succeeded' } });
        expect(entry.recorded).not.toHaveProperty('error');
      }
    }
    expect(countBy(importPosts(await emulatorRequests(emulator)), (post) => post.key).size).toBe(6);
  });
});

describe('imsync apply during an IMS outage', () => {
  it('keeps an unanswered import to settle while IMS answers 5xx to everything; Ctrl-C saves it', async () => {
    const emulator = await startEmulator(['--job-seconds', '0.3', '--faults', '500=1']);
    const workspace = await Workspace.create('imsync-outage-');
    await workspace.put('outage');
    // The refresh meets the outage first: nothing is planned, nothing sent, and the error says why.
    const refused = await workspace.run(applyArgs(workspace, '--json'), emulator);
    expect(refused.code, outputOf(refused)).toBe(1);
    expect(refused.stderr).toMatch(/^imsync: (GET|POST) \/v2\/\S+: 500 IMG\.0061/);
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(0);
    // Planned from the state alone, the import is sent, and its answer lost to the outage.
    const apply = workspace.start(applyArgs(workspace, '--json', '--refresh=false'), emulator);
    await apply.waitFor((p) => p.events().some((e) => e.type === 'import.ambiguous'), 10_000);
    // Lookups by tag keep failing: the apply neither resubmits blindly nor gives up.
    await sleep(2500);
    expect(apply.child.exitCode).toBeNull();
    apply.child.kill('SIGINT');
    const run = await apply.exited;
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toBe('');
    expect((await workspace.state()).images.outage).toMatchObject({ phase: 'submitting' });
    const posts = importPosts(await emulatorRequests(emulator));
    expect(posts).toHaveLength(1);
    expect(jsonLines(run.stdout).at(-1)).toMatchObject({ type: 'apply.finished', summary: { still_running: 1 } });
  });
});
