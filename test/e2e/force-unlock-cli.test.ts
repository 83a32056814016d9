// `imsync force-unlock` as a user runs it: a lock left by a process on another host (which no
// same-host takeover can clear) blocks apply, naming its id; force-unlock with that id frees it.
import { cp, mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/run-cli.js';

const HOLDER = { host: 'build-7', pid: 4242, command: 'imsync apply', since: '2026-11-29T10:00:00.000Z' };
const ID = '3f2a9c01d4e5';

async function workspace(): Promise<{ dir: string; state: string; lockPath: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'imsync-unlock-'));
  await mkdir(join(dir, 'manifests'));
  await cp(join(repoRoot, 'manifests', 'web', 'web-base.yaml'), join(dir, 'manifests', 'web-base.yaml'));
  const state = join(dir, 'team.state.json');
  return { dir, state, lockPath: `${state}.lock` };
}

describe('imsync force-unlock', () => {
  it('frees a lock left on another host by its id, after which apply runs', async () => {
    const { dir, state, lockPath } = await workspace();
    const lockText = JSON.stringify({ ...HOLDER, id: ID, token: 'left-behind' });
    await writeFile(lockPath, lockText);
    const apply = ['apply', 'manifests', '--emulator', '--auto-approve', '--state', state];

    const blocked = runCli(apply, { cwd: dir });
    expect(blocked.status, blocked.stderr).toBe(1);
    expect(blocked.stderr).toBe(
      `imsync: ${state} is locked by imsync apply (pid 4242 on build-7, since 2026-11-29T10:00:00.000Z), ` +
        `lock id ${ID}; if that process is gone, run \`imsync force-unlock ${ID}\`\n`,
    );

    const wrong = runCli(['force-unlock', 'wrongid', '--state', state], { cwd: dir });
    expect(wrong.status).toBe(1);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toContain(`lock id ${ID}; wrongid is not its lock id, so nothing was unlocked`);
    expect(await readFile(lockPath, 'utf8')).toBe(lockText);

    const unlocked = runCli(['force-unlock', ID, '--state', state], { cwd: dir });
    expect(unlocked.status, unlocked.stderr).toBe(0);
    expect(unlocked.stdout).toBe(
      `Unlocked ${state}: the lock ${ID} of imsync apply (pid 4242 on build-7, since 2026-11-29T10:00:00.000Z) was removed.\n`,
    );

    const applied = runCli(apply, { cwd: dir });
    expect(applied.status, applied.stderr).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(['manifests', 'team.state.json', 'team.state.json.backup']);

    const again = runCli(['force-unlock', ID, '--state', state], { cwd: dir });
    expect(again).toMatchObject({
      status: 1,
      stdout: '',
      stderr: `imsync: ${state} is not locked; nothing to unlock\n`,
    });
  });

  it('reads the state location from IMSYNC_STATE like every command', async () => {
    const { dir, state, lockPath } = await workspace();
    await writeFile(lockPath, JSON.stringify({ ...HOLDER, id: ID, token: 'left-behind' }));
    const unlocked = runCli(['force-unlock', ID], { cwd: dir, env: { IMSYNC_STATE: state } });
    expect(unlocked.status, unlocked.stderr).toBe(0);
    expect(await readdir(dir)).toEqual(['manifests']);
  });
});
