// What the built CLI's help lists: files that run imsync (CI workflows, deployment files) are
// checked against it, so that a flag renamed or removed fails their tests, not a user's job.
import { runCli } from './run-cli.js';

/** Whether `help` (commander's) lists `--flag` as an option. */
export function listsOption(help: string, flag: string): boolean {
  return new RegExp(`^\\s+(?:-\\w, )?${flag}(?:[ ,=<[]|$)`, 'm').test(help);
}

/**
 * The `--flags` among `args` (`--flag` or `--flag=value`) that neither `imsync COMMAND --help` nor
 * the global help lists. Throws when the command has no help: a command that does not exist.
 */
export function unknownFlags(command: string, args: readonly string[]): string[] {
  const help = runCli([command, '--help']);
  if (help.status !== 0) throw new Error(`imsync ${command} --help exited ${help.status}: ${help.stderr}`);
  const globalHelp = runCli(['--help']).stdout;
  return args
    .filter((arg) => arg.startsWith('--'))
    .map((arg) => arg.split('=')[0]!)
    .filter((flag) => !listsOption(help.stdout, flag) && !listsOption(globalHelp, flag));
}
