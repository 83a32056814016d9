// The CI workflows in docs/ci run real imsync commands: every `imsync ...` they run names a
// command and flags the built CLI has, and runs, in order, against the embedded emulator on the
// shipped example manifests, as a pull request and then a merge would.
import { cp, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { unknownFlags } from '../support/cli-help.js';
import { repoRoot, runCli } from '../support/run-cli.js';

/** The shell scripts of a workflow, in the order its jobs run. */
const WORKFLOWS: Record<string, (document: Record<string, unknown>) => string[]> = {
  'github-actions.yml': (document) =>
    Object.values(document.jobs as Record<string, { steps: { run?: string }[] }>).flatMap((job) =>
      job.steps.flatMap((step) => (step.run === undefined ? [] : [step.run])),
    ),
  'gitlab-ci.yml': (document) => {
    const scripts = (job: { before_script?: string[]; script?: string[] } | undefined) => [
      ...(job?.before_script ?? []),
      ...(job?.script ?? []),
    ];
    const jobs = Object.values(document).filter(
      (value): value is { script: string[] } => typeof value === 'object' && value !== null && 'script' in value,
    );
    const before = scripts(document.default as { before_script?: string[] });
    return jobs.flatMap((job) => [...before, ...scripts(job)]);
  },
};

/** The imsync command lines of a script, as words, its output redirection left out. */
function imsyncCommands(script: string): string[][] {
  return script
    .split('\n')
    .flatMap((line) => {
      const found = /^\s*imsync\s+([^>]*)/.exec(line);
      return found ? [found[1]!.trim()] : [];
    })
    .map((command) => {
      // Run here as words: quoting or expansion would need a shell, and would hide a flag.
      expect(command, command).not.toMatch(/["'$`\\]/);
      return command.split(/\s+/);
    });
}

describe.each(Object.keys(WORKFLOWS))('docs/ci/%s', (file) => {
  it('runs imsync commands and flags that exist, and they work on the examples in order', async () => {
    const document = parse(await readFile(join(repoRoot, 'docs', 'ci', file), 'utf8')) as Record<string, unknown>;
    const commands = WORKFLOWS[file]!(document).flatMap(imsyncCommands);
    expect(commands.map(([command]) => command)).toEqual(['validate', 'plan', 'validate', 'apply']);

    for (const [command, ...args] of commands) {
      expect(unknownFlags(command!, args), `imsync ${command} ${args.join(' ')}`).toEqual([]);
    }

    // As CI runs them, the embedded emulator and a state file of this test's own standing in for
    // the account and PostgreSQL: validate, plan (changes: exit 2), validate, apply.
    const dir = await mkdtemp(join(tmpdir(), 'imsync-ci-'));
    await cp(join(repoRoot, 'manifests'), join(dir, 'manifests'), { recursive: true });
    const expected: Record<string, number> = { validate: 0, plan: 2, apply: 0 };
    for (const args of commands) {
      const run = runCli([...args, '--emulator', '--state', join(dir, 'imsync.state.json')], {
        cwd: dir,
        timeoutMs: 60_000,
      });
      expect(run.status, `imsync ${args.join(' ')}\n${run.stdout}${run.stderr}`).toBe(expected[args[0]!]);
      if (args[0] === 'plan') expect(run.stdout).toMatch(/^### imsync plan\n\n\*\*Plan:\*\* 8 to import/);
    }
  });
});
