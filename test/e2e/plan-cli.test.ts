import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/manifest/load.js';
import { validateAgainst } from '../../src/manifest/schema.js';
import { FileStateStore } from '../../src/state/file-store.js';
import type { State } from '../../src/state/model.js';
import { repoRoot, runCli } from '../support/run-cli.js';
import { systemSpec } from '../support/specs.js';
import { emptyState, failed, imported, set, submitted } from '../support/states.js';
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imsync-cli-'));
  await cp(join(repoRoot, 'manifests'), join(dir, 'manifests'), { recursive: true });
});

/** A state in which every example manifest was imported as it is written now. */
async function importedState(): Promise<State> {
  const { manifests } = await loadManifests([join(dir, 'manifests')]);
  return manifests.reduce(
    (state, m) => imported(state, m.metadata.name, m.spec, m.metadata.region, `img-${m.metadata.name}`),
    emptyState(),
  );
}

async function saveState(state: State): Promise<void> {
  await new FileStateStore(join(dir, 'imsync.state.json')).write(state);
}

describe('imsync validate', () => {
  it('accepts the shipped examples', () => {
    const result = runCli(['validate'], { cwd: repoRoot });
    expect(result).toMatchObject({ status: 0, stdout: '8 manifests in 3 files: valid\n' });
  });

  it('exits 1 and names the file, line and column of a problem', async () => {
    await writeFile(
      join(dir, 'manifests', 'bad.yaml'),
      'apiVersion: imsync/v1\nkind: Image\nmetadata: { name: Bad }\n',
    );
    const result = runCli(['validate', 'manifests'], { cwd: dir });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('manifests/bad.yaml:3:19  FIELD_FORMAT  metadata.name "Bad" is not valid.');
    expect(result.stderr).toContain('manifests/bad.yaml:1:1  FIELD_REQUIRED  the document is missing "spec"');
    expect(result.stderr).toContain('2 errors in 1 file');
  });

  it('prints diagnostics as JSON lines with --json', async () => {
    await writeFile(join(dir, 'manifests', 'bad.yaml'), 'kind: Image\n');
    const result = runCli(['validate', '--json', 'manifests'], { cwd: dir });
    expect(result.status).toBe(1);
    expect(
      result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown),
    ).toEqual([
      expect.objectContaining({
        type: 'diagnostic',
        code: 'API_VERSION',
        file: 'manifests/bad.yaml',
        line: 1,
        column: 1,
      }),
    ]);
  });
});

// These plans are made from the state alone (--refresh=false): the records name images no IMS has.
const offline = '--refresh=false';

describe('imsync plan', () => {
  it('plans every example as an import against a missing state, which it does not create', async () => {
    const result = runCli(['plan', offline], { cwd: dir });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('  + web-base (ap-southeast-1) will be imported');
    expect(result.stdout).toContain(
      'Plan: 8 to import, 0 to update, 0 to replace, 0 to adopt, 0 to delete; 0 blocked, 0 in progress, 0 unchanged.',
    );
    await expect(stat(join(dir, 'imsync.state.json'))).rejects.toThrow();
  });

  it('with --detailed-exitcode exits 2 when there are changes and 0 when there are none', async () => {
    expect(runCli(['plan', offline, '--detailed-exitcode'], { cwd: dir }).status).toBe(2);
    await saveState(await importedState());
    const result = runCli(['plan', offline, '--detailed-exitcode'], { cwd: dir });
    expect(result).toMatchObject({ status: 0, stdout: 'No changes. 8 images match the manifests.\n' });
  });

  it('shows updates, replacements, orphans, running jobs and failed imports with their details', async () => {
    let state = await importedState();
    state = imported(state, 'old-image', systemSpec('old-image'), undefined, 'img-old');
    state = submitted(state, 'db-bms', state.images['db-bms']!.spec, 'job-77');
    // A first import that failed (not a replacement: the key had no image before).
    state = failed(set(state, 'logs-data-disk', null), 'logs-data-disk', state.images['logs-data-disk']!.spec, {
      code: 'IMG.0010',
      reason: 'The object does not exist in OBS.',
    });
    await saveState(state);
    const web = join(dir, 'manifests', 'web', 'web-base.yaml');
    const text = await readFile(web, 'utf8');
    await writeFile(
      web,
      text
        .replace('nginx and node exporter baked in', 'nginx baked in')
        .replace('web-base-arm-2026.11.zvhd2', 'web-base-arm-2026.12.zvhd2'),
    );
    const result = runCli(['plan', offline, '--detailed-exitcode'], { cwd: dir });
    expect(result.status).toBe(2);
    const imageUrl =
      '      image_url: "golden-images:web-base-arm-2026.11.zvhd2" -> "golden-images:web-base-arm-2026.12.zvhd2" # forces replacement\n';
    for (const shown of [
      '  ~ web-base (ap-southeast-1) will be updated in place\n      description: "Web tier base image, nginx and node exporter baked in" -> "Web tier base image, nginx baked in"\n',
      `  ! web-base-arm (ap-southeast-1) must be replaced, which is not allowed: nothing is done (apply with --allow-replace to import it anew and delete image img-web-base-arm)\n${imageUrl}`,
      '  - old-image is in no manifest any more; image img-old is kept (--prune deletes it)',
      '  = db-bms is being imported (job job-77 INIT); apply follows it, never resubmits',
      '  + logs-data-disk will be imported again\n      last attempt failed: IMG.0010 The object does not exist in OBS.',
      'Plan: 1 to import, 1 to update, 0 to replace, 0 to adopt, 0 to delete; 2 blocked, 1 in progress, 4 unchanged.',
    ]) {
      expect(result.stdout).toContain(shown);
    }
    // The same flags as apply make the plan apply would carry out.
    const allowed = runCli(['plan', offline, '--allow-replace', '--prune'], { cwd: dir });
    for (const shown of [
      `  -/+ web-base-arm (ap-southeast-1) will be replaced (imported anew, then image img-web-base-arm deleted)\n${imageUrl}`,
      '  - old-image is in no manifest any more; image img-old will be deleted (--prune)',
      'Plan: 2 to import, 1 to update, 1 to replace, 0 to adopt, 1 to delete; 0 blocked, 1 in progress, 4 unchanged.',
    ]) {
      expect(allowed.stdout).toContain(shown);
    }
  });

  it('says so when every change left is blocked, and exits 2 with --detailed-exitcode', async () => {
    await saveState(await importedState());
    const web = join(dir, 'manifests', 'web', 'web-base.yaml');
    await writeFile(web, (await readFile(web, 'utf8')).replace('min_disk: 40', 'min_disk: 60'));
    const result = runCli(['plan', offline, '--detailed-exitcode'], { cwd: dir });
    expect(result.status).toBe(2);
    expect(result.stdout).toContain('Nothing to do: every change left is blocked (1), as said above.');
  });

  it('prints the documented JSON with --json, and --out saves the same document with mode 0600', async () => {
    await saveState(await importedState());
    await writeFile(
      join(dir, 'manifests', 'web', 'web-base.yaml'),
      (await readFile(join(dir, 'manifests', 'web', 'web-base.yaml'), 'utf8')).replace('min_disk: 40', 'min_disk: 60'),
    );
    const result = runCli(['plan', offline, '--json', '--out', 'saved.plan.json'], { cwd: dir });
    expect(result.status).toBe(0);
    expect(result.stdout.split('\n')).toHaveLength(2);
    const plan = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(validateAgainst('plan', plan)).toEqual([]);
    expect(plan).toMatchObject({
      type: 'plan',
      format_version: '3',
      checksum: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) as string,
      basis: { serial: 1 },
      policy: { allow_replace: false, prune: false, retry_failed: true },
      summary: { import: 0, update: 0, replace: 0, 'replace-blocked': 1, 'keep-orphan': 0, follow: 0, none: 7 },
    });
    expect((plan.entries as object[]).find((e) => (e as { key: string }).key === 'web-base')).toMatchObject({
      action: 'replace-blocked',
      region: 'ap-southeast-1',
      manifest: { metadata: { name: 'web-base' }, source: { file: 'manifests/web/web-base.yaml', line: 2, column: 1 } },
      changes: [{ field: 'min_disk', before: 40, after: 60, forces_replacement: true }],
      recorded: { phase: 'succeeded', imageId: 'img-web-base' },
    });
    expect(await readFile(join(dir, 'saved.plan.json'), 'utf8')).toBe(result.stdout);
    expect((await stat(join(dir, 'saved.plan.json'))).mode & 0o777).toBe(0o600);
  });

  it('a saved plan edited after it was written is refused by apply --plan, before anything is read or sent', async () => {
    expect(runCli(['plan', offline, '--out', 'saved.plan.json'], { cwd: dir }).status).toBe(0);
    const saved = await readFile(join(dir, 'saved.plan.json'), 'utf8');
    await writeFile(join(dir, 'saved.plan.json'), saved.replace('web-base-2026.11.zvhd2', 'web-base-2027.01.zvhd2'));
    const result = runCli(['apply', '--plan', 'saved.plan.json', '--auto-approve'], { cwd: dir });
    expect(result).toMatchObject({
      status: 1,
      stdout: '',
      stderr:
        'imsync: --plan saved.plan.json: the plan was changed after it was written (its checksum does not match); make a new one with `imsync plan --out`\n',
    });
    await expect(stat(join(dir, 'imsync.state.json'))).rejects.toThrow();
  });

  it('apply --plan refuses a FIFO without waiting on it', () => {
    execFileSync('mkfifo', [join(dir, 'plan.fifo')]);
    const result = runCli(['apply', '--plan', 'plan.fifo', '--auto-approve'], { cwd: dir, timeoutMs: 10_000 });
    expect(result).toMatchObject({
      status: 1,
      stdout: '',
      stderr: 'imsync: --plan plan.fifo: cannot be read (a FIFO, not a regular file)\n',
    });
  });

  it('apply --plan says a saved plan was made against another state, not that its serial moved', async () => {
    await saveState(await importedState());
    const made = (await new FileStateStore(join(dir, 'imsync.state.json')).read()).lineage;
    expect(runCli(['plan', offline, '--out', 'saved.plan.json'], { cwd: dir }).status).toBe(0);
    // The same serial of a state made anew (a rebuild, say): another lineage.
    await rm(join(dir, 'imsync.state.json'));
    await saveState(await importedState());
    const now = (await new FileStateStore(join(dir, 'imsync.state.json')).read()).lineage;
    // Somewhere nothing listens: the plan is refused before anything is sent.
    const env = {
      IMSYNC_ENDPOINT: 'http://127.0.0.1:9',
      HW_REGION_NAME: 'ap-southeast-1',
      HW_PROJECT_ID: 'p',
      HW_ACCESS_KEY: 'ak',
      HW_SECRET_KEY: 'sk',
    };
    const result = runCli(['apply', '--plan', 'saved.plan.json', '--auto-approve'], { cwd: dir, env });
    expect(result).toMatchObject({
      status: 1,
      stdout: '',
      stderr: `imsync: the saved plan saved.plan.json was made against another state (lineage ${made}) than imsync.state.json holds (lineage ${now}); make a new plan\n`,
    });
  });

  it.each([
    ['a missing directory', 'nowhere/saved.plan.json', 'the directory nowhere does not exist'],
    ['a directory', 'manifests', 'it is a directory'],
    [
      'a path through a file',
      'manifests/web/web-base.yaml/saved.plan.json',
      'manifests/web/web-base.yaml is not a directory',
    ],
    // Nobody may create files in /sys, root included.
    ['a place nobody may write', '/sys/saved.plan.json', 'EACCES: permission denied'],
  ])('plan --out to %s exits 1, names the path and says why, and leaves nothing behind', async (_name, out, why) => {
    const before = await readdir(dir, { recursive: true });
    const result = runCli(['plan', offline, '--out', out], { cwd: dir });
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('Plan: 8 to import');
    expect(result.stderr).toBe(`imsync: --out ${out}: the plan cannot be saved there (${why}); nothing was written\n`);
    expect(await readdir(dir, { recursive: true })).toEqual(before);
  });

  it('plan --out replaces a file already there whole, with mode 0600', async () => {
    await writeFile(join(dir, 'saved.plan.json'), 'an older plan', { mode: 0o644 });
    const result = runCli(['plan', offline, '--json', '--out', 'saved.plan.json'], { cwd: dir });
    expect(result.status).toBe(0);
    expect(await readFile(join(dir, 'saved.plan.json'), 'utf8')).toBe(result.stdout);
    expect((await stat(join(dir, 'saved.plan.json'))).mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).sort()).toEqual(['manifests', 'saved.plan.json']);
  });

  it('reads the state named by IMSYNC_STATE, and --state over it', async () => {
    await saveState(await importedState());
    const plan = (env: NodeJS.ProcessEnv, ...args: string[]) => runCli(['plan', offline, ...args], { cwd: dir, env });
    expect(plan({ IMSYNC_STATE: 'imsync.state.json' }).stdout).toContain('No changes.');
    expect(plan({ IMSYNC_STATE: 'other.json' }).stdout).toContain('8 to import');
    const result = plan({ IMSYNC_STATE: 'other.json' }, '--state', 'imsync.state.json');
    expect(result.stdout).toContain('No changes.');
  });

  it('refuses invalid manifests: exit 1, diagnostics, no plan and no file written', async () => {
    await writeFile(
      join(dir, 'manifests', 'broken.yaml'),
      'apiVersion: imsync/v1\nkind: Image\nmetadata: { name: x }\nspec: { min_disk: 0 }\n',
    );
    const result = runCli(['plan', offline, '--out', 'p.json'], { cwd: dir });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('manifests/broken.yaml:4:19  FIELD_RANGE');
    await expect(stat(join(dir, 'p.json'))).rejects.toThrow();
  });

  it('stops on a corrupt state file, names the backup, and leaves both untouched', async () => {
    const state = await importedState();
    await saveState(state);
    await saveState({
      ...state,
      serial: 1,
      lineage: (await new FileStateStore(join(dir, 'imsync.state.json')).read()).lineage,
    });
    await writeFile(join(dir, 'imsync.state.json'), '{ "version": 1, "lin');
    const backup = await readFile(join(dir, 'imsync.state.json.backup'), 'utf8');
    const result = runCli(['plan', offline], { cwd: dir });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /^imsync: imsync\.state\.json is not valid JSON \(.+\)\. It was left untouched\. The previous good copy is imsync\.state\.json\.backup\.\n$/,
    );
    expect(await readFile(join(dir, 'imsync.state.json'), 'utf8')).toBe('{ "version": 1, "lin');
    expect(await readFile(join(dir, 'imsync.state.json.backup'), 'utf8')).toBe(backup);
  });

  it.each([
    [['plan', '--bogus'], {}, "error: unknown option '--bogus'"],
    [['plan', '--region', 'Mars'], {}, 'imsync: --region "Mars" is not a region name such as ap-southeast-1'],
    [['plan'], { HW_REGION_NAME: 'ap southeast' }, 'imsync: HW_REGION_NAME "ap southeast" is not a region name'],
    [['plan'], { IMSYNC_STATE: '' }, 'imsync: IMSYNC_STATE is empty'],
    [
      ['plan', '--state', 'postgres://db/imsync?sslmode=prefer'],
      {},
      'imsync: --state has sslmode=prefer, which falls back to no TLS unnoticed',
    ],
    [['plan', offline, 'nowhere/'], {}, 'nowhere/: no such file or directory'],
    [['plan', '--refresh', 'maybe'], {}, 'imsync: --refresh "maybe" must be true or false'],
    [['plan', '--max-prune', 'ten'], {}, 'imsync: --max-prune "ten" must be a whole number'],
    [['plan'], {}, 'imsync: no endpoint: set --region or HW_REGION_NAME'],
    [['frobnicate'], {}, "error: unknown command 'frobnicate'"],
  ])('refuses bad input %j with exit 1 and a clear message', (args, env, message) => {
    const result = runCli(args, { cwd: dir, env });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });
});
