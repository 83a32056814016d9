// `imsync watch --git`: the built CLI follows a repository served over file:// and reconciles
// each commit it fetches: pushed commits become imports within the interval, a force-push back
// is one more change, and a commit with a broken manifest applies nothing until one fixes it.
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRepository } from '../support/git-repo.js';
import { cleanup, manifestText, startEmulator, Workspace } from '../support/watch-harness.js';

afterEach(cleanup);

async function following(extra: readonly string[] = []) {
  const workspace = await Workspace.create();
  const repo = await makeRepository(workspace.dir, { files: { 'images/a.yaml': manifestText('git-a') } });
  const first = repo.initial;
  const emulator = await startEmulator();
  const daemon = workspace.watchGit(emulator, repo.fileUrl, ['--git-interval', '1s', ...extra]);
  return { repo, first, emulator, workspace, daemon };
}

describe('imsync watch --git', () => {
  it('imports what each pushed commit adds within the interval, and tells the commit everywhere', async () => {
    const { repo, first, daemon } = await following();
    const status = await daemon.waitForCommit(first, ['git-a']);
    expect(status.source).toMatchObject({
      kind: 'git',
      url: repo.fileUrl,
      ref: 'main',
      path: 'images',
      fetch_error: null,
    });
    expect(status.images['git-a']!.revision).toBe(first);
    expect(status.last_reconcile!.revision).toBe(first);

    await repo.write('images/b.yaml', manifestText('git-b'));
    const pushedAt = Date.now();
    const second = await repo.publish('b');
    await daemon.waitForCommit(second, ['git-a', 'git-b']);
    const submitted = daemon.logs().find((line) => line.msg === 'import.submitted' && line.key === 'git-b')!;
    console.log(`push to import.submitted: ${submitted.time - pushedAt} ms (fetch interval 1 s)`);
    expect(submitted.time - pushedAt).toBeLessThan(5_000);
    expect(submitted.revision).toBe(second);
    const metrics = (await daemon.get('/metrics')).body;
    expect(metrics).toContain(`imsync_source_revision_info{url="${repo.fileUrl}",ref="main",revision="${second}"} 1`);
  });

  it('takes a force-push back to an older commit as a change like any other', async () => {
    const { repo, first, daemon } = await following();
    await daemon.waitForCommit(first, ['git-a']);
    await repo.write('images/a.yaml', manifestText('git-a', { description: 'second thoughts' }));
    const second = await repo.publish('a, described');
    await daemon.waitForCommit(second, ['git-a']);
    expect(daemon.logsWith('update.succeeded')).toHaveLength(1);

    await repo.forcePush(first);
    await daemon.waitForCommit(first, ['git-a']);
    expect(daemon.logsWith('update.succeeded')).toHaveLength(2);
    expect(daemon.logsWith('import.submitted')).toHaveLength(1);
  });

  it('applies nothing of a commit with a broken manifest, says where in the repository, and applies the fix', async () => {
    const { repo, first, daemon } = await following();
    await daemon.waitForCommit(first, ['git-a']);
    await repo.write('images/b.yaml', manifestText('git-b'));
    await repo.write(
      'images/broken.yaml',
      'apiVersion: imsync/v1\nkind: Image\nmetadata: {name: git-c}\nspec: {name: c}\n',
    );
    const broken = await repo.publish('b, and c broken');
    const reported = await daemon.waitForStatus('the broken commit reported', (status) =>
      status.source.fetched_revision === broken && status.diagnostics.length > 0 ? status : undefined,
    );
    expect(reported.diagnostics.map((d) => d.where)).toContain('images/broken.yaml:4:7');
    expect(reported.source.applied_revision).toBe(first);
    expect(reported.images['git-b']).toBeUndefined();
    expect(daemon.logsWith('invalid manifest: nothing is applied until it is fixed')[0]!.revision).toBe(broken);

    await repo.write('images/broken.yaml', manifestText('git-c'));
    const fixed = await repo.publish('c fixed');
    const status = await daemon.waitForCommit(fixed, ['git-a', 'git-b', 'git-c']);
    expect(status.diagnostics).toEqual([]);
  });

  it('keeps the last good commit when the repository cannot be fetched, and reports why', async () => {
    const { repo, first, daemon } = await following();
    await daemon.waitForCommit(first, ['git-a']);
    await rm(repo.bare, { recursive: true, force: true });
    const status = await daemon.waitForStatus('the failed fetch reported', (s) =>
      typeof s.source.fetch_error === 'string' ? s : undefined,
    );
    expect(status.source.fetch_error).toMatch(
      /^cannot fetch main from file:\/\/.*\.git: .*does not appear to be a git repository/,
    );
    expect(status.source.applied_revision).toBe(first);
    expect((await daemon.get('/readyz')).status).toBe(200);
    expect((await daemon.get('/metrics')).body).toMatch(/imsync_source_fetches_total\{result="failed"\} [1-9]/);
  });
});
