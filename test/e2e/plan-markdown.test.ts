// `imsync plan --format markdown` as a CI job runs it, in a git repository, against `imsync
// emulator`: the comment of a plan, its exit codes, and a broken manifest's file:line from the
// repository's root, wherever the job runs from.
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyArgs, CliProcess, outputOf, startEmulator, stopProcesses, Workspace } from '../support/apply-harness.js';

afterEach(stopProcesses);

describe('imsync plan --format markdown', () => {
  it('comments the plan, exits as --detailed-exitcode says, and names a broken manifest from the repository root', async () => {
    const emulator = await startEmulator(['--job-seconds', '0.3']);
    const workspace = await Workspace.create('imsync-markdown-');
    execFileSync('git', ['init', '--quiet', workspace.dir]);
    await workspace.put('web');
    // The job runs below the repository's root (a `working-directory:`), on paths from there.
    const plan = (...args: string[]) =>
      new CliProcess(
        ['plan', '.', '--state', '../imsync.state.json', '--format', 'markdown', '--detailed-exitcode', ...args],
        workspace.manifests,
        workspace.env(emulator),
      ).exited;

    const changes = await plan();
    expect(changes.code, outputOf(changes)).toBe(2);
    expect(changes.stdout).toMatch(
      /^### imsync plan\n\n\*\*Plan:\*\* 1 to import, 0 to update, 0 to replace, 0 to adopt, 0 to delete; 0 blocked, 0 in progress, 0 unchanged\.\n\nRegion: ap-southeast-1 · State: `\.\.\/imsync\.state\.json`\n\n\| action \| count \|\n/,
    );
    expect(changes.stdout).toContain('| `+` import | 1 |\n');
    expect(changes.stdout).toContain(
      '<details><summary><code>+</code> import (1)</summary>\n\n- **web** (ap-southeast-1) will be imported\n  - name: "image-web"\n',
    );

    const applied = await workspace.run(applyArgs(workspace), emulator);
    expect(applied.code, outputOf(applied)).toBe(0);
    const none = await plan();
    expect(none.code, outputOf(none)).toBe(0);
    expect(none.stdout).toContain('**No changes.** 1 image match the manifests.\n');

    await mkdir(join(workspace.manifests, 'team'));
    await writeFile(
      join(workspace.manifests, 'team', 'bad.yaml'),
      'apiVersion: imsync/v1\nkind: Image\nmetadata: { name: Bad }\n',
    );
    // The comment names the state as messages do: a PostgreSQL URL without its password.
    const broken = await plan('--state', 'postgres://imsync:s3cret@127.0.0.1:9/platform');
    expect(broken.code, outputOf(broken)).toBe(1);
    const lines = broken.stdout.split('\n');
    expect(lines.slice(0, 9)).toEqual([
      '### imsync plan',
      '',
      '**Invalid manifests:** nothing can be applied (2 errors in 1 file).',
      '',
      'Region: ap-southeast-1 · State: `postgres://imsync@127.0.0.1:9/platform`',
      '',
      '| where | code | problem |',
      '| :-- | :-- | :-- |',
      '| manifests/team/bad.yaml:1:1 | FIELD\\_REQUIRED | the document is missing "spec" |',
    ]);
    expect(lines[9]).toMatch(
      /^\| manifests\/team\/bad\.yaml:3:19 \| FIELD\\_FORMAT \| metadata\.name "Bad" is not valid\. .* \|$/,
    );
    expect(lines.slice(10)).toEqual(['']);
    expect(broken.stdout + broken.stderr).not.toContain('s3cret');

    // Outside any repository, paths are from the current directory.
    await rm(join(workspace.dir, '.git'), { recursive: true });
    const outside = await plan();
    expect(outside.code, outputOf(outside)).toBe(1);
    expect(outside.stdout).toContain('\n| team/bad.yaml:3:19 | FIELD\\_FORMAT |');
  });
});
