// `imsync apply` as a user runs it, against `imsync emulator` in its own process: confirmation,
// saved plans, secrets, the JSON lines, updates in place, replacements and pruning.
import { randomUUID } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ATTEMPT_TAG } from '../../src/ims/ownership.js';
import { countBy, emulatorImages, emulatorRequests, importPosts, tagValue } from '../support/emulator-inspect.js';
import { specFor } from '../support/specs.js';
import {
  applyArgs,
  duplicateProblems,
  imageOf,
  jsonLines,
  planArgs,
  startEmulator,
  stopProcesses,
  outputOf,
  Workspace,
  type CliRun,
} from '../support/apply-harness.js';

afterEach(stopProcesses);

async function expectExit(running: Promise<CliRun>, code: number): Promise<CliRun> {
  const run = await running;
  expect(run.code, outputOf(run)).toBe(code);
  return run;
}

const FAST_JOBS = ['--job-seconds', '0.3'];

describe('imsync apply: confirmation and saved plans', () => {
  it('without --auto-approve and without a terminal exits 1 and sends nothing', async () => {
    const emulator = await startEmulator(FAST_JOBS);
    const workspace = await Workspace.create();
    await workspace.put('no-tty');
    const args = applyArgs(workspace).filter((arg) => arg !== '--auto-approve');
    const run = await workspace.run(args, emulator);
    expect(run.code, outputOf(run)).toBe(1);
    expect(run.stderr).toContain('without one, pass --auto-approve');
    expect(run.stdout).toBe('');
    expect(await emulatorRequests(emulator)).toEqual([]);
    expect(await workspace.files()).toEqual(['manifests']); // no state, no lock left behind
  });

  it('apply --plan applies exactly the saved plan, and refuses it once the state has moved on', async () => {
    const emulator = await startEmulator(FAST_JOBS);
    const workspace = await Workspace.create();
    await workspace.put('saved-a', specFor('saved-a', { description: 'as planned' }));
    await workspace.put('saved-b');
    const planFile = join(workspace.dir, 'saved.plan.json');
    const plan = await workspace.run(planArgs(workspace, '--out', planFile), emulator);
    expect(plan.code, plan.stderr).toBe(0);
    // The manifests move on after the plan was made; the saved plan is what gets applied.
    await workspace.put('saved-a', specFor('saved-a', { description: 'edited after the plan' }));
    await workspace.put('saved-c');

    const args = ['apply', '--plan', planFile, '--state', workspace.statePath, '--auto-approve', '--json'];
    const applied = await workspace.run(args, emulator);
    expect(applied.code, applied.stderr).toBe(0);
    expect(jsonLines(applied.stdout)[0]).toMatchObject({ type: 'plan', summary: { import: 2 } });
    const posts = importPosts(await emulatorRequests(emulator));
    expect(posts.map((post) => post.key).sort()).toEqual(['saved-a', 'saved-b']);
    const state = await workspace.state();
    expect(Object.keys(state.images).sort()).toEqual(['saved-a', 'saved-b']);
    expect(state.images['saved-a']!.spec.description).toBe('as planned');

    const again = await workspace.run(args, emulator);
    expect(again.code, outputOf(again)).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain(
      `the saved plan ${planFile} was made against serial 0 of the state, which is now at serial ${state.serial}; make a new plan`,
    );
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(2);
  });
});

describe('imsync apply: credentials and endpoint checked once, before anything is sent', () => {
  it.each([
    ['a wrong secret key', {}, { HW_SECRET_KEY: 'not-the-secret' }, 'imsync: IMS refused the credentials'],
    ['a dead endpoint', { endpoint: true }, {}, 'imsync: IMS cannot be reached'],
  ])('%s: one clear error, exit 1, no import sent, nothing recorded', async (_case, how, env, message) => {
    const emulator = await startEmulator(['--job-seconds', '0.3']);
    const workspace = await Workspace.create();
    for (const key of ['cred-a', 'cred-b']) await workspace.put(key);
    const extra = 'endpoint' in how ? { IMSYNC_ENDPOINT: 'http://127.0.0.1:9' } : env;
    for (const refresh of ['--refresh=true', '--refresh=false']) {
      const run = await workspace.run(applyArgs(workspace, refresh), emulator, extra);
      expect(run.code, outputOf(run)).toBe(1);
      expect(run.stderr.split('\n').filter((line) => line.startsWith('imsync:'))).toHaveLength(1);
      expect(run.stderr).toContain(message);
      expect(run.stdout).toBe('');
    }
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(0);
    expect(await workspace.files()).not.toContain('imsync.state.json');
  });
});

describe('imsync apply: long jobs', () => {
  it('--wait-timeout stops waiting with the jobs recorded, exit 3; the next apply follows them', async () => {
    const emulator = await startEmulator(['--job-seconds', '4']);
    const workspace = await Workspace.create();
    await workspace.put('long-job');
    const waited = await workspace.run(applyArgs(workspace, '--wait-timeout', '1s'), emulator);
    expect(waited.code, outputOf(waited)).toBe(3);
    expect(waited.stdout).toContain('still running after 1s (--wait-timeout)');
    expect((await workspace.state()).images['long-job']).toMatchObject({ phase: 'submitted' });
    await expectExit(workspace.run(applyArgs(workspace), emulator), 0);
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(1);
  });
});

describe('imsync apply: output', () => {
  it('output cut off (apply | head -1): stops as on SIGTERM, saves the state, releases the lock, exits non-zero', async () => {
    const emulator = await startEmulator(['--job-seconds', '2']);
    const workspace = await Workspace.create();
    for (const key of ['cut-a', 'cut-b', 'cut-c']) await workspace.put(key);
    const apply = workspace.start(applyArgs(workspace, '--json'), emulator);
    await apply.waitFor((p) => p.stdout().includes('"import.submitted"'), 10_000);
    apply.child.stdout!.destroy(); // the reader is gone, as `head -1` goes after one line
    const run = await apply.exited;
    expect(run.code, outputOf(run)).toBe(130);
    expect(run.stderr).toContain('imsync: the output was closed; stopping as on SIGTERM');
    expect(await workspace.files()).not.toContain('imsync.state.json.lock');
    // Every import sent is recorded, to be followed by the next apply.
    const posts = importPosts(await emulatorRequests(emulator)).length;
    const state = await workspace.state();
    expect(Object.values(state.images).filter((r) => r.phase !== 'submitting')).toHaveLength(posts);
    await expectExit(workspace.run(applyArgs(workspace), emulator), 0);
  });

  it('never writes HW_SECRET_KEY to its output, the state, its backup and journal, the lock or the plan file', async () => {
    const secretKey = `imsync-test-secret-${randomUUID()}`;
    const emulator = await startEmulator([...FAST_JOBS, '--faults', 'lost=0.3', '--seed', '11'], {
      HW_ACCESS_KEY: 'IMSYNCTESTACCESSKEY1',
      HW_SECRET_KEY: secretKey,
    });
    expect(emulator.secretKey).toBe(secretKey);
    const workspace = await Workspace.create();
    for (const key of ['secret-a', 'secret-b', 'secret-c']) await workspace.put(key);
    await workspace.put('secret-bad', specFor('secret-bad', { image_url: 'golden:disk.qcow2' })); // a failure message
    const outputs: string[] = [];
    const record = (run: { stdout: string; stderr: string }) => outputs.push(run.stdout, run.stderr);
    record(await workspace.run(planArgs(workspace, '--out', join(workspace.dir, 'plan.json')), emulator));
    const plain = await workspace.run(applyArgs(workspace), emulator);
    record(plain);
    expect(plain.code, outputOf(plain)).toBe(1); // secret-bad failed
    // The job's own code; IMAGE_KILLED when the import's answer was lost and only its image was found.
    expect(plain.stdout).toMatch(/IMG\.0072|IMAGE_KILLED/);
    await workspace.put('secret-d');
    record(await workspace.run(applyArgs(workspace, '--json'), emulator));
    // A wrong secret: refused by the gateway, and the refusal does not echo it.
    const wrongSecret = `wrong-secret-${randomUUID()}`;
    await workspace.put('secret-e');
    const refused = await workspace.run(applyArgs(workspace, '--json'), emulator, { HW_SECRET_KEY: wrongSecret });
    record(refused);
    expect(refused.code, outputOf(refused)).toBe(1);
    // The refresh is refused before anything is planned or sent.
    expect(refused.stderr).toContain('APIGW.0301');
    expect(refused.stdout).toBe('');

    // A run killed mid-way leaves its journal (and its lock) behind: they are read too.
    await workspace.put('secret-f');
    const killed = workspace.start(applyArgs(workspace, '--json'), emulator);
    await killed.waitFor((p) => p.stdout().includes('"import.submitting"'), 10_000);
    killed.child.kill('SIGKILL');
    record(await killed.exited);

    const files = await workspace.files();
    expect(files).toEqual(
      expect.arrayContaining([
        'imsync.state.json',
        'imsync.state.json.backup',
        'imsync.state.json.journal',
        'imsync.state.json.lock',
        'plan.json',
      ]),
    );
    for (const file of files.filter((name) => name !== 'manifests')) {
      outputs.push(await readFile(join(workspace.dir, file), 'utf8'));
    }
    outputs.push(JSON.stringify(await emulatorRequests(emulator)));
    for (const text of outputs) {
      expect(text).not.toContain(secretKey);
      expect(text).not.toContain(wrongSecret);
    }
    expect((await stat(workspace.statePath)).mode & 0o777).toBe(0o600);
  });

  it('--json prints one JSON object per line with a type: the plan first, apply.finished last', async () => {
    const emulator = await startEmulator([...FAST_JOBS, '--faults', 'lost=0.2', '--seed', '5']);
    const workspace = await Workspace.create();
    for (const key of ['json-a', 'json-b', 'json-c', 'json-d']) await workspace.put(key);
    const plan = await workspace.run(planArgs(workspace, '--json'), emulator);
    const run = await workspace.run(applyArgs(workspace, '--json'), emulator);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout.endsWith('\n')).toBe(true);
    const lines = run.stdout.slice(0, -1).split('\n');
    const events = lines.map((line) => JSON.parse(line) as unknown);
    for (const event of events) {
      expect(typeof event === 'object' && event !== null && !Array.isArray(event), String(event)).toBe(true);
      expect(typeof (event as { type?: unknown }).type).toBe('string');
    }
    const typed = events as { type: string; time?: string }[];
    expect(lines[0]).toBe(plan.stdout.trimEnd()); // the same document as `plan --json`
    expect(typed[1]!.type).toBe('apply.started');
    expect(typed.at(-1)).toMatchObject({ type: 'apply.finished', summary: { imported: 4, failed: 0 } });
    for (const event of typed.slice(1)) expect(Date.parse(event.time ?? '')).not.toBeNaN();
    const types = new Set(typed.map((event) => event.type));
    for (const type of ['import.submitting', 'import.succeeded']) expect(types).toContain(type);
    expect(typed.filter((event) => event.type === 'import.succeeded')).toHaveLength(4);
  });
});

describe('imsync apply: changes to imported images', () => {
  it('updates description and tags in place on the same image; then plan shows no changes', async () => {
    const emulator = await startEmulator(FAST_JOBS);
    const workspace = await Workspace.create();
    const tags = (pairs: [string, string][]) => pairs.map(([key, value]) => ({ key, value }));
    await workspace.put(
      'upd',
      specFor('upd', {
        description: 'first version',
        image_tags: tags([
          ['team', 'web'],
          ['tier', 'base'],
        ]),
      }),
    );
    await expectExit(workspace.run(applyArgs(workspace), emulator), 0);
    const before = await imageOf(emulator, 'upd');
    expect(before.__description).toBe('first version');

    await workspace.put(
      'upd',
      specFor('upd', {
        description: 'second version',
        image_tags: tags([
          ['team', 'platform'],
          ['owner', 'ops'],
        ]),
      }),
    );
    const planned = await workspace.run(planArgs(workspace, '--json'), emulator);
    const entry = (JSON.parse(planned.stdout) as { entries: { action: string; changes: { field: string }[] }[] })
      .entries[0]!;
    expect(entry.action).toBe('update');
    expect(entry.changes.map((change) => change.field).sort()).toEqual(['description', 'tags']);

    const run = await workspace.run(applyArgs(workspace, '--json'), emulator);
    expect(run.code, run.stderr).toBe(0);
    expect(jsonLines(run.stdout).find((e) => e.type === 'update.succeeded')).toMatchObject({
      key: 'upd',
      image_id: before.id,
    });
    const after = await imageOf(emulator, 'upd');
    expect(after.id).toBe(before.id);
    expect(after.__description).toBe('second version');
    expect([...after.tags].sort()).toEqual(
      [`imsync-attempt=${tagValue(before, ATTEMPT_TAG)}`, 'imsync-key=upd', 'owner=ops', 'team=platform'].sort(),
    );
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(1);
    const state = await workspace.state();
    expect(state.images.upd).toMatchObject({ phase: 'succeeded', imageId: before.id });
    expect(state.images.upd!.spec.description).toBe('second version');
    const plan = await workspace.run(planArgs(workspace, '--detailed-exitcode'), emulator);
    expect(plan.code, plan.stdout).toBe(0);
  });

  it('--allow-replace imports a new image for a new image_url and deletes the old one', async () => {
    const emulator = await startEmulator(FAST_JOBS);
    const workspace = await Workspace.create();
    await workspace.put('rep', specFor('rep', { image_url: 'golden:rep-1.zvhd2' }));
    await expectExit(workspace.run(applyArgs(workspace), emulator), 0);
    const old = await imageOf(emulator, 'rep');

    await workspace.put('rep', specFor('rep', { image_url: 'golden:rep-2.zvhd2' }));
    // Without --allow-replace the replacement is only shown: nothing is imported or deleted.
    const shown = await workspace.run(applyArgs(workspace, '--json'), emulator);
    expect(jsonLines(shown.stdout)[0]).toMatchObject({ summary: { replace: 0, 'replace-blocked': 1 } });
    expect(importPosts(await emulatorRequests(emulator))).toHaveLength(1);
    expect((await imageOf(emulator, 'rep')).id).toBe(old.id);

    const run = await workspace.run(applyArgs(workspace, '--json', '--allow-replace'), emulator);
    expect(run.code, run.stderr).toBe(0);
    const events = jsonLines(run.stdout);
    expect(events.find((e) => e.type === 'delete.succeeded')).toMatchObject({ key: 'rep', image_id: old.id });
    const current = await imageOf(emulator, 'rep');
    expect(current.id).not.toBe(old.id);
    expect(current.status).toBe('active');
    expect((await emulatorImages(emulator)).map((image) => image.id)).toEqual([current.id]);
    const posts = (await emulatorRequests(emulator)).filter((r) => r.path.endsWith('/quickimport/action'));
    expect(posts.map((post) => (post.body as { image_url: string }).image_url)).toEqual([
      'golden:rep-1.zvhd2',
      'golden:rep-2.zvhd2',
    ]);
    const state = await workspace.state();
    expect(state.images.rep).toMatchObject({ phase: 'succeeded', imageId: current.id });
    expect(state.images.rep!.supersedes).toBeUndefined();
    expect(duplicateProblems(['rep'], await emulatorImages(emulator), state)).toEqual([]);
    await expectExit(workspace.run(planArgs(workspace, '--detailed-exitcode'), emulator), 0);
  });

  it('--prune deletes the image of a removed manifest; without --prune it stays', async () => {
    const emulator = await startEmulator(FAST_JOBS);
    const workspace = await Workspace.create();
    await workspace.put('keep');
    await workspace.put('gone');
    await expectExit(workspace.run(applyArgs(workspace), emulator), 0);
    const gone = await imageOf(emulator, 'gone');
    const keep = await imageOf(emulator, 'keep');
    await workspace.remove('gone');

    const kept = await workspace.run(applyArgs(workspace, '--json'), emulator);
    expect(kept.code, kept.stderr).toBe(0);
    expect(jsonLines(kept.stdout)[0]).toMatchObject({ summary: { 'keep-orphan': 1, none: 1 } });
    expect((await emulatorImages(emulator)).map((image) => image.id).sort()).toEqual([gone.id, keep.id].sort());
    expect((await workspace.state()).images.gone).toMatchObject({ imageId: gone.id });

    const pruned = await workspace.run(applyArgs(workspace, '--json', '--prune'), emulator);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(jsonLines(pruned.stdout).find((e) => e.type === 'delete.succeeded')).toMatchObject({
      key: 'gone',
      image_id: gone.id,
    });
    expect((await emulatorImages(emulator)).map((image) => image.id)).toEqual([keep.id]);
    const state = await workspace.state();
    expect(Object.keys(state.images)).toEqual(['keep']);
    const deletes = (await emulatorRequests(emulator)).filter((r) => r.method === 'DELETE');
    expect(deletes.map((r) => r.path)).toEqual([`/v2/images/${gone.id}`]);
    await expectExit(workspace.run(planArgs(workspace, '--detailed-exitcode'), emulator), 0);
  });
});

describe('imsync apply: product bugs found by these tests', () => {
  it('a journal line cut short by a crash does not corrupt the state on the next apply', async () => {
    const emulator = await startEmulator(FAST_JOBS);
    const workspace = await Workspace.create();
    await workspace.put('torn-a');
    await expectExit(workspace.run(applyArgs(workspace), emulator), 0);
    const { lineage, serial } = await workspace.state();
    // What an append killed half-way (or a full disk) leaves: the start of a line, no newline.
    await writeFile(
      `${workspace.statePath}.journal`,
      `{"lineage":"${lineage}","serial":${serial + 1},"changes":{"torn-a":{"spec":{"na`,
      { mode: 0o600 },
    );
    expect((await workspace.state()).serial).toBe(serial); // the torn line is ignored: it loads

    await workspace.put('torn-b');
    const run = await workspace.run(applyArgs(workspace), emulator);
    const state = await workspace.state(); // throws STATE_CORRUPT today
    expect(state.images['torn-b']).toMatchObject({ phase: 'succeeded' });
    expect(run.code, run.stderr).toBe(0);
  });

  it('an apply without --allow-replace never deletes the image of an earlier, failed replacement', async () => {
    const emulator = await startEmulator(FAST_JOBS);
    const workspace = await Workspace.create();
    await workspace.put('frep', specFor('frep', { image_url: 'golden:frep-1.zvhd2' }));
    await expectExit(workspace.run(applyArgs(workspace), emulator), 0);
    const old = await imageOf(emulator, 'frep');
    // A replacement that fails: the new file is not RAW or ZVHD2.
    await workspace.put('frep', specFor('frep', { image_url: 'golden:frep.qcow2' }));
    const failed = await workspace.run(applyArgs(workspace, '--json', '--allow-replace'), emulator);
    expect(failed.code, outputOf(failed)).toBe(1);
    expect((await workspace.state()).images.frep).toMatchObject({ phase: 'failed', supersedes: old.id });
    // The manifest is fixed; this apply is not allowed to replace.
    await workspace.put('frep', specFor('frep', { image_url: 'golden:frep-2.zvhd2' }));
    const plan = await workspace.run(planArgs(workspace, '--json'), emulator);
    const shown = (JSON.parse(plan.stdout) as { entries: { action: string }[] }).entries[0]!;
    const run = await workspace.run(applyArgs(workspace, '--json'), emulator);
    const deletes = (await emulatorRequests(emulator)).filter((r) => r.method === 'DELETE');
    expect({ deletes: deletes.map((r) => r.path), planned: shown.action }).toEqual({
      deletes: [],
      planned: 'replace-blocked',
    });
    expect(run.code, outputOf(run)).toBe(0);
  });

  it('a state path in a missing directory is a clear error, not an internal error', async () => {
    const emulator = await startEmulator(FAST_JOBS);
    const workspace = await Workspace.create();
    await workspace.put('nodir');
    const args = applyArgs(workspace).map((arg) =>
      arg === workspace.statePath ? join(workspace.dir, 'missing', 'imsync.state.json') : arg,
    );
    const run = await workspace.run(args, emulator);
    expect(run.code, outputOf(run)).toBe(1);
    expect(run.stderr).not.toContain('internal error');
    expect(await emulatorRequests(emulator)).toEqual([]);
  });

  it('a wide apply (--parallelism 20) prints nothing on stderr', async () => {
    const emulator = await startEmulator([...FAST_JOBS, '--faults', 'jobcap=1000']);
    const workspace = await Workspace.create();
    const keys = Array.from({ length: 24 }, (_, i) => `wide-${i}`);
    for (const key of keys) await workspace.put(key);
    const run = await workspace.run(applyArgs(workspace, '--json', '--parallelism', '20'), emulator);
    expect(run.code, outputOf(run)).toBe(0);
    expect(countBy(importPosts(await emulatorRequests(emulator)), (post) => post.key).size).toBe(24);
    expect(run.stderr).toBe('');
  });
});
