// Day two, end to end: changes made outside imsync (by Huawei's own SDK client, never imsync's),
// a lost state against images that exist, `import`, the `state` commands, the prune guard, a
// blocked replacement and a state of another account. The built CLI against `imsync emulator`.
import { spawnSync } from 'node:child_process';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ATTEMPT_TAG, KEY_TAG } from '../../src/ims/ownership.js';
import { emulatorImages, emulatorRequests, importPosts, tagValue } from '../support/emulator-inspect.js';
import type { EmulatorProcess } from '../support/emulator-process.js';
import { OutOfBand } from '../support/out-of-band.js';
import { repoRoot } from '../support/run-cli.js';
import { specFor } from '../support/specs.js';
import {
  applyArgs,
  expectConverged,
  imageOf,
  jsonLines,
  outputOf,
  planArgs,
  startEmulator,
  stopProcesses,
  Workspace,
  type CliRun,
} from '../support/apply-harness.js';

afterEach(stopProcesses);

const FAST_JOBS = ['--job-seconds', '0.3'];
/**
 * A recorded image missing from the list counts as deleted only once its record is older than the
 * settle grace (IMS may list a new image late); the emulator lists at once, so none is needed here.
 */
const NO_LAG = ['--settle-grace', '0s'];

/** Manifests applied to a new emulator: keys with their default spec, or specs by key. */
async function applied(
  manifests: readonly string[] | Record<string, Record<string, unknown>>,
  emulatorArgs: readonly string[] = [],
) {
  const emulator = await startEmulator([...FAST_JOBS, ...emulatorArgs]);
  const workspace = await Workspace.create('imsync-day2-');
  const specs: Record<string, Record<string, unknown>> = Array.isArray(manifests)
    ? Object.fromEntries(manifests.map((key: string) => [key, specFor(key)]))
    : (manifests as Record<string, Record<string, unknown>>);
  for (const [key, spec] of Object.entries(specs)) await workspace.put(key, spec);
  expectExit(await workspace.run(applyArgs(workspace), emulator), 0);
  return { emulator, workspace, sdk: await OutOfBand.connect(emulator) };
}

/** A lost state: no file of it is left (a state file gone beside its backup is refused). */
async function loseState(workspace: Workspace): Promise<void> {
  await rm(workspace.statePath);
  await rm(`${workspace.statePath}.backup`);
}

function expectExit(run: CliRun, code: number): CliRun {
  expect(run.code, outputOf(run)).toBe(code);
  return run;
}

/** The plan's JSON document, from `plan --json`. */
async function planJson(workspace: Workspace, emulator: EmulatorProcess, ...extra: string[]) {
  const run = expectExit(await workspace.run(planArgs(workspace, '--json', ...extra), emulator), 0);
  return jsonLines(run.stdout)[0] as {
    summary: Record<string, number>;
    refresh: { drift: Record<string, unknown>; unadopted: unknown[] };
    entries: { key: string; action: string; drift?: unknown; changes?: { field: string }[] }[];
  };
}

function userTags(tags: readonly string[]): string[] {
  return tags.filter((tag) => !tag.startsWith(`${KEY_TAG}=`) && !tag.startsWith(`${ATTEMPT_TAG}=`)).sort();
}

describe('refresh: changes made outside imsync', () => {
  it('an image deleted out of band is planned as an import that says why, then imported again', async () => {
    const { emulator, workspace, sdk } = await applied(['victim', 'bystander']);
    const victim = await imageOf(emulator, 'victim');
    await sdk.delete(victim.id);

    const plan = expectExit(await workspace.run(planArgs(workspace, '--detailed-exitcode', ...NO_LAG), emulator), 2);
    expect(plan.stdout).toContain(
      `Changed outside imsync (found by refresh):\n  ! victim image ${victim.id} was deleted\n`,
    );
    expect(plan.stdout).toContain(
      `  + victim (ap-southeast-1) will be imported (because image ${victim.id} was deleted)\n`,
    );
    expect(plan.stdout).toContain('Plan: 1 to import, 0 to update, 0 to replace, 0 to adopt, 0 to delete;');

    expectExit(await workspace.run(applyArgs(workspace, ...NO_LAG), emulator), 0);
    expect((await imageOf(emulator, 'victim')).id).not.toBe(victim.id);
    await expectConverged(workspace, emulator, ['victim', 'bystander']);
  });

  it('a name, description and firmware edited out of band are updated back', async () => {
    const { emulator, workspace, sdk } = await applied({
      edited: specFor('edited', { description: 'as written', hw_firmware_type: 'bios' }),
    });
    const image = await imageOf(emulator, 'edited');
    await sdk.patch(image.id, [
      { op: 'replace', path: '/name', value: 'renamed-by-hand' },
      { op: 'replace', path: '/__description', value: 'edited by hand' },
      { op: 'replace', path: '/hw_firmware_type', value: 'uefi' },
    ]);

    const plan = await planJson(workspace, emulator);
    expect(plan.refresh.drift).toEqual({
      edited: { kind: 'edited', image_id: image.id, fields: ['name', 'description', 'hw_firmware_type'] },
    });
    const [entry] = plan.entries;
    expect(entry).toMatchObject({ key: 'edited', action: 'update' });
    expect(entry!.changes!.map((change) => change.field)).toEqual(['description', 'hw_firmware_type', 'name']);

    expectExit(await workspace.run(applyArgs(workspace), emulator), 0);
    expect(await imageOf(emulator, 'edited')).toMatchObject({
      id: image.id,
      name: 'image-edited',
      __description: 'as written',
      hw_firmware_type: 'bios',
    });
    await expectConverged(workspace, emulator, ['edited']);
  });

  it('tags changed out of band, the ownership tag included, are put back', async () => {
    const { emulator, workspace, sdk } = await applied({
      tagged: specFor('tagged', { image_tags: [{ key: 'team', value: 'web' }] }),
    });
    const image = await imageOf(emulator, 'tagged');
    await sdk.tags(image.id, 'delete', [
      { key: 'team', value: 'web' },
      { key: KEY_TAG, value: 'tagged' },
    ]);
    await sdk.tags(image.id, 'create', [{ key: 'owner', value: 'someone-else' }]);

    const plan = await planJson(workspace, emulator);
    expect(plan.refresh.drift).toEqual({
      tagged: { kind: 'edited', image_id: image.id, fields: ['tags', 'ownership'] },
    });
    expect(plan.entries[0]).toMatchObject({ key: 'tagged', action: 'update' });

    expectExit(await workspace.run(applyArgs(workspace), emulator), 0);
    const after = (await emulatorImages(emulator)).find((i) => i.id === image.id)!;
    expect(userTags(after.tags)).toEqual(['team=web']);
    expect(tagValue(after, KEY_TAG)).toBe('tagged');
    await expectConverged(workspace, emulator, ['tagged']);
  });
});

describe('refresh only, and saved plans', () => {
  it('plan --refresh-only shows what changed; apply --refresh-only records it and changes nothing', async () => {
    const { emulator, workspace, sdk } = await applied(['gone', 'here']);
    const gone = await imageOf(emulator, 'gone');
    await sdk.delete(gone.id);
    const shown = expectExit(await workspace.run(planArgs(workspace, '--refresh-only', ...NO_LAG), emulator), 0);
    expect(shown.stdout).toContain(`  ! gone image ${gone.id} was deleted`);
    expect(shown.stdout).toContain(
      'Refresh only: 1 record to update from what the cloud holds; nothing else is planned.',
    );

    const recorded = expectExit(
      await workspace.run(applyArgs(workspace, '--refresh-only', '--json', ...NO_LAG), emulator),
      0,
    );
    expect(jsonLines(recorded.stdout).at(-1)).toMatchObject({ type: 'apply.finished', summary: { imported: 0 } });
    expect(Object.keys((await workspace.state()).images)).toEqual(['here']);
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(2);
    // The next plan imports it, and no longer needs the refresh to say why.
    const next = await planJson(workspace, emulator, '--refresh=false');
    expect(next.entries.map((entry) => [entry.key, entry.action])).toEqual([
      ['gone', 'import'],
      ['here', 'none'],
    ]);
  });

  it('apply --plan carries out a saved plan as it was shown, what its refresh found included', async () => {
    const { emulator, workspace } = await applied(['saved-a', 'saved-b']);
    const ids = [(await imageOf(emulator, 'saved-a')).id, (await imageOf(emulator, 'saved-b')).id];
    await loseState(workspace);
    await workspace.put('saved-c');
    const out = join(workspace.dir, 'saved.plan.json');
    expectExit(await workspace.run(planArgs(workspace, '--out', out), emulator), 0);
    const refused = await workspace.run(['apply', '--plan', out, '--state', workspace.statePath, '--prune'], emulator);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('the saved plan already decided what --prune would; make a new plan to change it');

    const run = expectExit(
      await workspace.run(['apply', '--plan', out, '--state', workspace.statePath, '--json'], emulator),
      0,
    );
    const events = jsonLines(run.stdout);
    expect(events.filter((e) => e.type === 'adopt.succeeded').map((e) => e.image_id)).toEqual(ids);
    expect(events.filter((e) => e.type === 'import.submitting').map((e) => e.key)).toEqual(['saved-c']);
    await expectConverged(workspace, emulator, ['saved-a', 'saved-b', 'saved-c']);
    // Applied once: the state has moved on, so the same file is refused now.
    const again = await workspace.run(['apply', '--plan', out, '--state', workspace.statePath], emulator);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('make a new plan');
  });
});

describe('adoption: images that exist, a state that does not know them', () => {
  it('a lost state adopts every image by its tag: nothing is imported twice', async () => {
    const keys = ['one', 'two', 'three'];
    const { emulator, workspace } = await applied(keys);
    const before = new Map(
      await Promise.all(keys.map(async (key) => [key, (await imageOf(emulator, key)).id] as const)),
    );
    await loseState(workspace);

    const plan = expectExit(await workspace.run(planArgs(workspace, '--detailed-exitcode'), emulator), 2);
    for (const key of keys) {
      expect(plan.stdout).toContain(
        `  > ${key} (ap-southeast-1) will be adopted: image ${before.get(key)} carries its imsync-key tag, so nothing is imported`,
      );
    }
    expect(plan.stdout).toContain('Plan: 0 to import, 0 to update, 0 to replace, 3 to adopt, 0 to delete;');

    const run = expectExit(await workspace.run(applyArgs(workspace, '--json'), emulator), 0);
    expect(
      jsonLines(run.stdout)
        .filter((e) => e.type === 'adopt.succeeded')
        .map((e) => e.key),
    ).toEqual(keys.sort());
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(3); // the first apply's, no more
    const state = await workspace.state();
    for (const key of keys) expect(state.images[key]).toMatchObject({ phase: 'succeeded', imageId: before.get(key) });
    await expectConverged(workspace, emulator, keys);
  });

  it("an image someone else imported with imsync's tags for a key with no record is adopted", async () => {
    const { emulator, workspace, sdk } = await applied(['bystander']);
    const jobId = await sdk.quickImport({
      ...specFor('made-elsewhere'),
      image_tags: [
        { key: KEY_TAG, value: 'made-elsewhere' },
        { key: ATTEMPT_TAG, value: 'by-a-colleague' },
      ],
    });
    const imageId = await sdk.imageOfJob(jobId);
    await workspace.put('made-elsewhere');
    const plan = await planJson(workspace, emulator);
    expect(plan.entries.find((entry) => entry.key === 'made-elsewhere')).toMatchObject({
      action: 'adopt',
      drift: { kind: 'adopted', image_id: imageId },
    });
    expectExit(await workspace.run(applyArgs(workspace), emulator), 0);
    expect((await workspace.state()).images['made-elsewhere']).toMatchObject({ imageId, attemptId: 'by-a-colleague' });
    // imsync's one import, and the SDK's.
    expect(importPosts(await emulatorRequests(emulator)).map((post) => post.key)).toEqual([
      'bystander',
      'made-elsewhere',
    ]);
  });

  it('images with imsync tags for keys in no manifest are named, never adopted or deleted', async () => {
    const { emulator, workspace } = await applied(['kept', 'foreign']);
    const foreign = await imageOf(emulator, 'foreign');
    await loseState(workspace);
    await workspace.remove('foreign');
    const plan = await planJson(workspace, emulator, '--prune');
    expect(plan.refresh.unadopted).toEqual([{ key: 'foreign', image_id: foreign.id, why: 'no manifest has this key' }]);
    expect(plan.entries.map((entry) => [entry.key, entry.action])).toEqual([['kept', 'adopt']]);
  });
});

describe('imsync import', () => {
  it('adopts an existing image under a manifest key: tags it, records it, shows what differs', async () => {
    const { emulator, workspace, sdk } = await applied(['bystander']);
    const imageId = await sdk.imageOfJob(await sdk.quickImport({ ...specFor('legacy'), min_disk: 50 }));
    await workspace.put('legacy');
    const run = expectExit(
      await workspace.run(['import', 'legacy', imageId, workspace.manifests, '--state', workspace.statePath], emulator),
      0,
    );
    expect(run.stdout).toContain(
      `Imported image ${imageId} (image-legacy) as legacy: recorded, and tagged imsync-key=legacy.`,
    );
    expect(run.stdout).toContain('  min_disk: the image has 50, the manifest 40 (forces replacement)');
    const image = (await emulatorImages(emulator)).find((i) => i.id === imageId)!;
    expect(tagValue(image, KEY_TAG)).toBe('legacy');
    expect((await workspace.state()).images.legacy).toMatchObject({ phase: 'succeeded', imageId });
    const plan = await planJson(workspace, emulator);
    expect(plan.entries.find((entry) => entry.key === 'legacy')).toMatchObject({ action: 'replace-blocked' });
  });

  it('refuses bad input with one clear error each, and changes nothing', async () => {
    const { emulator, workspace, sdk } = await applied(['taken']);
    const taken = await imageOf(emulator, 'taken');
    const other = await sdk.imageOfJob(
      await sdk.quickImport({ ...specFor('other'), image_tags: [{ key: KEY_TAG, value: 'somebody-else' }] }),
    );
    await workspace.put('free');
    const stateBefore = await readFile(workspace.statePath, 'utf8');
    const cases: [string[], string][] = [
      [['import', 'nope', other], 'no manifest in'],
      [['import', 'free', 'no-such-image'], 'image no-such-image is not a private image of project'],
      [
        ['import', 'free', other],
        `image ${other} carries imsync-key=somebody-else: it is imsync's image of another key`,
      ],
      [['import', 'taken', other], 'taken is already recorded with image'],
      [['import', 'free', taken.id], `image ${taken.id} is already recorded under taken`],
    ];
    for (const [args, message] of cases) {
      const run = await workspace.run([...args, workspace.manifests, '--state', workspace.statePath], emulator);
      expect(run.code, outputOf(run)).toBe(1);
      expect(run.stderr).toContain(message);
      expect(run.stdout).toBe('');
    }
    expect(await readFile(workspace.statePath, 'utf8')).toBe(stateBefore);
    const image = (await emulatorImages(emulator)).find((i) => i.id === other)!;
    expect(tagValue(image, KEY_TAG)).toBe('somebody-else');
  });
});

describe('imsync state', () => {
  it('list, show, mv (the image is retagged by the next apply) and rm (the image stays)', async () => {
    const { emulator, workspace } = await applied(['alpha', 'beta']);
    const alpha = await imageOf(emulator, 'alpha');
    const state = ['--state', workspace.statePath];
    const list = expectExit(await workspace.run(['state', 'list', ...state], emulator), 0);
    expect(list.stdout.split('\n')[0]).toMatch(/^KEY\s+PHASE\s+IMAGE\s+REGION\s+UPDATED$/);
    expect(list.stdout).toMatch(new RegExp(`^alpha\\s+succeeded\\s+${alpha.id}\\s+ap-southeast-1\\s+`, 'm'));
    const show = expectExit(await workspace.run(['state', 'show', 'alpha', ...state], emulator), 0);
    expect(JSON.parse(show.stdout)).toMatchObject({ key: 'alpha', phase: 'succeeded', imageId: alpha.id });

    // The manifest is renamed: mv keeps its image instead of an import and an orphan.
    await workspace.remove('alpha');
    await workspace.put('alpha-renamed', specFor('alpha'));
    const mv = expectExit(await workspace.run(['state', 'mv', 'alpha', 'alpha-renamed', ...state], emulator), 0);
    expect(mv.stdout).toContain('Moved alpha to alpha-renamed');
    const plan = await planJson(workspace, emulator);
    expect(plan.entries.map((entry) => [entry.key, entry.action])).toEqual([
      ['alpha-renamed', 'update'],
      ['beta', 'none'],
    ]);
    expectExit(await workspace.run(applyArgs(workspace), emulator), 0);
    expect(tagValue(await imageOf(emulator, 'alpha-renamed'), KEY_TAG)).toBe('alpha-renamed');
    expect((await imageOf(emulator, 'alpha-renamed')).id).toBe(alpha.id);

    await workspace.remove('beta');
    const beta = await imageOf(emulator, 'beta');
    const rmRun = expectExit(await workspace.run(['state', 'rm', 'beta', ...state], emulator), 0);
    expect(rmRun.stdout).toContain(`Removed beta from ${workspace.statePath}; image ${beta.id} stays in the account.`);
    expect(Object.keys((await workspace.state()).images)).toEqual(['alpha-renamed']);
    expect((await emulatorImages(emulator)).map((image) => image.id)).toContain(beta.id);
  });

  it('refuses an unknown key, a move onto a recorded key and a bad key, changing nothing', async () => {
    const { emulator, workspace } = await applied(['a1', 'a2']);
    const before = await readFile(workspace.statePath, 'utf8');
    const state = ['--state', workspace.statePath];
    for (const [args, message] of [
      [['state', 'show', 'zz'], 'has no record of zz'],
      [['state', 'rm', 'a1', 'zz'], 'has no record of zz'],
      [['state', 'mv', 'zz', 'a3'], 'has no record of zz'],
      [['state', 'mv', 'a1', 'a2'], 'a2 is already recorded'],
      [['state', 'mv', 'a1', 'Not_A_Key'], '"Not_A_Key" is not a manifest key'],
    ] as const) {
      const run = await workspace.run([...args, ...state], emulator);
      expect(run.code, outputOf(run)).toBe(1);
      expect(run.stderr).toContain(message);
    }
    expect(await readFile(workspace.statePath, 'utf8')).toBe(before);
  });

  it('rebuild: a corrupt state rebuilt from the tags in the account, the old file kept aside', async () => {
    const keys = ['r1', 'r2'];
    const { emulator, workspace } = await applied(keys);
    const ids = await Promise.all(keys.map(async (key) => (await imageOf(emulator, key)).id));
    const lineage = (await workspace.state()).lineage;
    await writeFile(workspace.statePath, '{ "version": 1, "lin');
    expectExit(await workspace.run(planArgs(workspace), emulator), 1);

    const run = expectExit(
      await workspace.run(['state', 'rebuild', workspace.manifests, '--state', workspace.statePath], emulator),
      0,
    );
    expect(run.stdout).toContain('2 images recorded, nothing imported');
    const aside = (await readdir(workspace.dir)).find((file) => file.startsWith('imsync.state.json.before-rebuild-'));
    expect(await readFile(join(workspace.dir, aside!), 'utf8')).toBe('{ "version": 1, "lin');
    const state = await workspace.state();
    expect(state.lineage).not.toBe(lineage);
    expect(keys.map((key) => state.images[key]?.imageId)).toEqual(ids);
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(2);
    await expectConverged(workspace, emulator, keys);
  });
});

describe('safety', () => {
  it('--prune refuses to delete more than --max-prune images, and says how many', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    const { emulator, workspace } = await applied(keys);
    for (const key of keys.slice(1)) await workspace.remove(key);
    const refused = expectExit(await workspace.run(applyArgs(workspace, '--prune'), emulator), 1);
    expect(refused.stderr).toContain(
      'imsync: --prune would delete 11 images, more than --max-prune 10; check the manifest paths, or raise --max-prune (or pass --force); nothing was sent',
    );
    expect(await emulatorImages(emulator)).toHaveLength(12);
    const planned = expectExit(await workspace.run(planArgs(workspace, '--prune'), emulator), 1);
    expect(planned.stderr).toContain('--prune would delete 11 images');

    expectExit(await workspace.run(applyArgs(workspace, '--prune', '--max-prune', '11'), emulator), 0);
    expect((await emulatorImages(emulator)).map((image) => image.name)).toEqual(['image-p00']);
  });

  it('deletions wait until the image is gone from the list (here IMS keeps it listed 2 s)', async () => {
    const { emulator, workspace } = await applied(['stays', 'goes'], ['--delete-lag', '2']);
    const goes = await imageOf(emulator, 'goes');
    await workspace.remove('goes');
    const run = expectExit(await workspace.run(applyArgs(workspace, '--prune', '--json'), emulator), 0);
    const done = jsonLines(run.stdout).find((e) => e.type === 'delete.succeeded');
    expect(done).toMatchObject({ key: 'goes', image_id: goes.id });
    const requests = await emulatorRequests(emulator);
    const deleted = requests.find((r) => r.method === 'DELETE' && r.path.endsWith(goes.id))!;
    const lookups = requests.filter(
      (r) => r.method === 'GET' && r.query.includes(`id=${goes.id}`) && r.time > deleted.time,
    );
    // Said deleted only once the list no longer shows it, after looking more than once.
    expect(Date.parse(done!.time as string) - Date.parse(deleted.time)).toBeGreaterThanOrEqual(2000);
    expect(lookups.length).toBeGreaterThanOrEqual(2);
    expect((await emulatorImages(emulator)).map((image) => image.id)).not.toContain(goes.id);
  });

  it('a replacement that is not allowed asks nothing, does nothing, and says why', async () => {
    const { emulator, workspace } = await applied(['fixed']);
    await workspace.put('fixed', specFor('fixed', { image_url: 'golden:fixed-2.zvhd2' }));
    const run = expectExit(await workspace.run(applyArgs(workspace, '--detailed-exitcode'), emulator), 2);
    expect(run.stdout).toContain('  ! fixed (ap-southeast-1) must be replaced, which is not allowed: nothing is done');
    expect(run.stdout).toContain('Nothing to do: every change left is blocked (1), as said above.');
    expect(run.stdout).not.toContain('apply started');
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(1);
  });

  it('a state of another account is refused before anything is read from IMS or written', async () => {
    const { workspace } = await applied(['mine']);
    const elsewhere = await startEmulator(FAST_JOBS);
    const before = await readFile(workspace.statePath, 'utf8');
    for (const args of [planArgs(workspace), applyArgs(workspace)]) {
      const run = await workspace.run(args, elsewhere);
      expect(run.code, outputOf(run)).toBe(1);
      expect(run.stderr).toMatch(
        /imsync: .*imsync\.state\.json describes project \w+ at http:\/\/127\.0\.0\.1:\d+ in ap-southeast-1, not project \w+ at http:\/\/127\.0\.0\.1:\d+/,
      );
    }
    expect(await readFile(workspace.statePath, 'utf8')).toBe(before);
    expect(await emulatorRequests(elsewhere)).toHaveLength(0);
  });

  it('--emulator keeps a state file of its own', async () => {
    const workspace = await Workspace.create('imsync-emulator-state-');
    await workspace.put('demo');
    const run = spawnSync(
      process.execPath,
      [join(repoRoot, 'dist', 'cli', 'main.js'), 'apply', 'manifests', '--emulator', '--auto-approve'],
      { cwd: workspace.dir, encoding: 'utf8', env: { PATH: process.env.PATH, NO_COLOR: '1' } },
    );
    expect(run.status, run.stderr).toBe(0);
    const files = await readdir(workspace.dir);
    expect(files).toContain('imsync.emulator.state.json');
    expect(files).not.toContain('imsync.state.json');
  });
});
