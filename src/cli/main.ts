#!/usr/bin/env node
// imsync's entry point: parses arguments, runs one command, and sets the exit code.
import { Command, CommanderError, Option } from '@commander-js/extra-typings';
import { StateError } from '../state/store.js';
import { EXIT, planCommand, validateCommand } from './commands.js';
import { DEFAULT_MANIFESTS, DEFAULT_STATE, UsageError } from './config.js';
import { DEFAULT_EMULATOR_PORT, emulatorCommand } from './emulator-command.js';
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

program
  .command('emulator')
  .description('run the IMS emulator: a local IMS endpoint for trying imsync without an account')
  .option('--port <n>', `port to listen on (default ${DEFAULT_EMULATOR_PORT}; 0 picks a free one)`)
  .option('--host <address>', 'address to bind (default 127.0.0.1)')
  .option('--objects <file>', 'JSON list of OBS objects {bucket, key, size, storageClass, region}')
  .option('--job-seconds <s>', 'how long an import job runs (default 5)')
  .option('--faults <spec>', 'faults to inject, e.g. rate=100,429=0.1,lost=0.05 (see README)')
  .option('--seed <n>', 'seed for faults and ids, to repeat a run')
  .action(async (options, command) => {
    process.exitCode = await emulatorCommand({ ...command.optsWithGlobals(), ...options }, process.env, output);
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
