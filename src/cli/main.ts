#!/usr/bin/env node
// imsync's entry point: parses arguments, runs one command, and sets the exit code.
import { Command, CommanderError, Option } from '@commander-js/extra-typings';
import { StateError } from '../state/store.js';
import { EXIT, planCommand, validateCommand } from './commands.js';
import { DEFAULT_MANIFESTS, DEFAULT_STATE, UsageError } from './config.js';
import { processOutput } from './output.js';

const output = processOutput();
// A reader that went away (`imsync plan | head`) is not an error worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? EXIT.ok);
});

const program = new Command('imsync')
  .description('Keep Huawei Cloud IMS private images in line with YAML manifests.')
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError('(run imsync --help for usage)')
  .addOption(new Option('--state <location>', `state file (default: ${DEFAULT_STATE}; env IMSYNC_STATE)`))
  .addOption(new Option('--region <name>', 'default region of manifests that name none (env HW_REGION_NAME)'));

program
  .command('validate')
  .description('check manifests; exit 0 when valid, 1 when not')
  .argument('[paths...]', 'manifest files or directories', [DEFAULT_MANIFESTS])
  .option('--json', 'print diagnostics as JSON lines')
  .action(async (paths, options) => {
    process.exitCode = await validateCommand(paths, options, output);
  });

program
  .command('plan')
  .description('show what apply would do')
  .argument('[paths...]', 'manifest files or directories', [DEFAULT_MANIFESTS])
  .option('--json', 'print the plan as one JSON document')
  .option('--out <file>', 'save the plan for `apply --plan`')
  .option('--detailed-exitcode', 'exit 2 when there are changes, 0 when none, 1 on error')
  .action(async (paths, options, command) => {
    process.exitCode = await planCommand(paths, { ...command.optsWithGlobals(), ...options }, process.env, output);
  });

try {
  await program.parseAsync();
} catch (error) {
  process.exitCode = report(error);
}

function report(error: unknown): number {
  if (error instanceof CommanderError) {
    return error.exitCode === 0 ? EXIT.ok : EXIT.error; // commander has printed the message or help already
  }
  if (error instanceof UsageError || error instanceof StateError) {
    output.err(`imsync: ${error.message}\n`);
    return EXIT.error;
  }
  output.err(`imsync: internal error, this is a bug: ${(error as Error).stack ?? String(error)}\n`);
  return EXIT.error;
}
