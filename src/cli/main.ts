#!/usr/bin/env node
// imsync's entry point: parses arguments, runs one command, and sets the exit code.
import { Command, CommanderError, Option } from '@commander-js/extra-typings';
import { ImsError } from '../ims/errors.js';
import { PlanFileError } from '../plan/codec.js';
import { StateError } from '../state/store.js';
import { EXIT, validateCommand } from './commands.js';
import { DEFAULT_EMULATOR_PORT, DEFAULT_LISTEN, DEFAULT_MANIFESTS, DEFAULT_STATE, UsageError } from './config.js';
import { processOutput } from './output.js';

const output = processOutput();
// A reader that went away (`imsync plan | head`) is not an error worth a stack trace. A command
// that only reads ends there; one that is changing things (it listens for SIGTERM) stops as on
// SIGTERM: its state saved, its lock released, a non-zero exit.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  if (process.listenerCount('SIGTERM') === 0) process.exit(process.exitCode ?? EXIT.ok);
  output.err('imsync: the output was closed; stopping as on SIGTERM\n');
  process.emit('SIGTERM', 'SIGTERM');
});

const program = new Command('imsync')
  .description('Keep Huawei Cloud IMS private images in line with YAML manifests.')
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError('(run imsync --help for usage)')
  .addOption(
    new Option('--state <location>', `state file or postgres:// URL (default: ${DEFAULT_STATE}; env IMSYNC_STATE)`),
  )
  .addOption(
    new Option(
      '--region <name>',
      'only this region (repeatable); the first is also the region of manifests that name none (env HW_REGION_NAME)',
    ).argParser((name, names: string[] = []) => [...names, name]),
  )
  .addOption(new Option('--project-id <id>', 'project of the region (env HW_PROJECT_ID)'))
  .addOption(
    new Option(
      '--endpoint <url>',
      'IMS endpoint (env IMSYNC_ENDPOINT; default https://ims.{region}.myhuaweicloud.com)',
    ),
  )
  .addOption(new Option('--emulator', 'run against an IMS emulator started in-process'));

program
  .command('validate')
  .description('check manifests; exit 0 when valid, 1 when not')
  .argument('[paths...]', 'manifest files or directories', [DEFAULT_MANIFESTS])
  .option('--json', 'print diagnostics as JSON lines')
  .action(async (paths, options) => {
    process.exitCode = await validateCommand(paths, options, output);
  });

/** What apply may do and how to refresh: the same flags make the plan `plan` shows and `apply` carries out. */
function planOptions(): Option[] {
  return [
    new Option('--allow-replace', 'carry out replacements: import anew, then delete the old image'),
    new Option('--prune', 'delete the images of manifests that are gone (only images imsync tagged)'),
    new Option('--max-prune <n>', 'refuse to prune more images than this (default 10)'),
    new Option('--force', 'prune beyond --max-prune, or with no manifest at all'),
    new Option('--refresh <bool>', 'look at the cloud first: true (default) or false'),
    new Option('--refresh-only', 'only record what the cloud holds (plan: show it), change nothing'),
    ...preflightOptions(),
  ];
}

/** The checks of the image files through OBS before anything is imported. */
function preflightOptions(): Option[] {
  return [
    new Option('--no-preflight', 'do not check the image files in OBS (existence, size, class, bitmap, region) first'),
    new Option(
      '--reupload <what>',
      'an image file uploaded again under its key after its import: warn (default), or replace the image',
    ),
    new Option(
      '--preflight-max-age <duration>',
      'trust an image file that passed for this long without asking OBS again (default 1h; 0s: always ask)',
    ),
  ];
}

const plan = program
  .command('plan')
  .description('show what apply would do')
  .argument('[paths...]', 'manifest files or directories', [DEFAULT_MANIFESTS])
  .option('--format <format>', 'text (default), json, or markdown: a comment for a pull request')
  .option('--json', 'print the plan as one JSON document (--format json)')
  .option('--out <file>', 'save the plan for `apply --plan`')
  .option('--detailed-exitcode', 'exit 2 when the account differs from the manifests, 0 when not, 1 on error')
  .option(
    '--settle-grace <duration>',
    'how long IMS may take to list a new image: a recorded image missing for less is not called deleted (default 2m)',
  );
for (const option of planOptions()) plan.addOption(option);
plan.action(async (paths, options, command) => {
  // Loaded when used: `validate` starts without the client, the pipeline or the emulator.
  const { planCommand } = await import('./plan-command.js');
  process.exitCode = await planCommand(paths, { ...command.optsWithGlobals(), ...options }, process.env, output);
});

const apply = program
  .command('apply')
  .description('import what the plan says, follow every job to its end, and record the results')
  .argument('[paths...]', 'manifest files or directories (default manifests/)')
  .option('--plan <file>', 'apply a plan saved by `plan --out`, refused if the state has moved since')
  .option('--auto-approve', 'do not ask for confirmation (required without a terminal)')
  .option('--parallelism <n>', 'import requests in flight at once (default 10); waiting for jobs takes none')
  .option('--json', 'print the plan and progress events as JSON lines')
  .option('--detailed-exitcode', 'exit 2 when blocked changes remain (replacements not allowed, orphans kept)')
  .option(
    '--wait-timeout <duration>',
    'stop waiting for a job after this long, leaving it recorded (default 2h; exit 3)',
  )
  .option('--lock-timeout <duration>', 'wait this long for the state lock (default: fail at once)')
  .option(
    '--settle-grace <duration>',
    'how long an unanswered import may stay invisible before it is sent again (default 2m)',
  );
for (const option of planOptions()) apply.addOption(option);
apply.action(async (paths, options, command) => {
  // Loaded when used: `validate` and `plan` start without the client, the daemon or the emulator.
  const { applyCommand, processTerminal } = await import('./apply-command.js');
  process.exitCode = await applyCommand(
    paths,
    { ...command.optsWithGlobals(), ...options },
    process.env,
    output,
    processTerminal(),
  );
});

const watch = program
  .command('watch')
  .description('reconcile continuously: apply what changes in the manifests, resync on an interval')
  .argument('[paths...]', 'manifest files or directories (default manifests/)')
  .option('--interval <duration>', 'full resync interval (default 5m)')
  .option('--listen <host:port>', `address of /healthz, /readyz, /metrics and /status (default ${DEFAULT_LISTEN})`)
  .addOption(
    new Option(
      '--allowed-host <name>',
      'a host name the HTTP endpoints answer to besides IP addresses and localhost (repeatable)',
    ).argParser((name, names: string[] = []) => [...names, name]),
  )
  .option('--parallelism <n>', 'import requests in flight at once (default 10)')
  .option('--allow-replace', 'carry out replacements')
  .option('--prune', 'delete the images of manifests that are gone')
  .option('--max-prune <n>', 'refuse to prune more images than this (default 10)')
  .option('--force', 'prune beyond --max-prune, or with no manifest at all')
  .option('--lock-timeout <duration>', 'wait this long for the state lock (default: fail at once)')
  .option('--standby', 'while another daemon holds the state, stand by (endpoints answer) and lead once it is gone')
  .option('--git <url>', 'follow a git repository (https://, ssh://, git@host:path or file://) instead of local paths')
  .option('--ref <ref>', 'with --git: a branch, tag:NAME or a commit id (default main)')
  .option('--git-path <dir>', "with --git: the manifests' directory in the repository (default its root)")
  .option('--git-interval <duration>', 'with --git: fetch this often (default 1m)')
  .option(
    '--git-cache <dir>',
    'with --git: where the repository is kept (default ~/.cache/imsync/git, IMSYNC_GIT_CACHE)',
  )
  .option('--git-credentials <file>', "with --git over https: a file in git's credential-store format")
  .option('--git-ssh-key <file>', 'with --git over ssh: the private key')
  .option('--git-known-hosts <file>', "with --git over ssh: the known_hosts file the server's key must be in")
  .option(
    '--git-verify <file>',
    'with --git: apply only commits signed by a key in this file (SSH allowed signers or OpenPGP keys)',
  )
  .option(
    '--webhook-secret-file <file>',
    'with --git: POST /hooks/git, signed with this secret (GitHub or GitLab), fetches at once',
  )
  .option(
    '--settle-grace <duration>',
    'how long an unanswered import may stay invisible before it is sent again (default 2m)',
  )
  .addOption(
    new Option(
      '--notify <url>',
      'post events (imports ended, drift, blocked replacements, failing reconciles, leadership) as JSON to this URL; slack+https://… posts Slack messages (repeatable)',
    ).argParser((url, urls: string[] = []) => [...urls, url]),
  )
  .option(
    '--notify-secret-file <file>',
    'with --notify: sign each post (Standard Webhooks) with the secret in this file',
  )
  .action(async (paths, options, command) => {
    const { watchCommand } = await import('./watch-command.js');
    process.exitCode = await watchCommand(
      paths,
      { ...command.optsWithGlobals(), ...options },
      process.env,
      Boolean(process.stdout.isTTY),
    );
  });
for (const option of preflightOptions()) watch.addOption(option);

program
  .command('import')
  .description("adopt an existing image under a manifest key: tag it as imsync's and record it")
  .argument('<key>', 'the manifest key (metadata.name)')
  .argument('<image-id>', 'the id of an active private image')
  .argument('[paths...]', 'manifest files or directories', [DEFAULT_MANIFESTS])
  .option('--lock-timeout <duration>', 'wait this long for the state lock (default: fail at once)')
  .action(async (key, imageId, paths, options, command) => {
    const { importCommand } = await import('./import-command.js');
    process.exitCode = await importCommand(
      key,
      imageId,
      paths,
      { ...command.optsWithGlobals(), ...options },
      process.env,
      output,
    );
  });

const state = program.command('state').description('read and change the state by hand');
const stateCommands = () => import('./state-command.js');
state
  .command('list')
  .description('one line per recorded image')
  .option('--json', 'print the whole state document')
  .action(async (options, command) => {
    const { stateListCommand } = await stateCommands();
    process.exitCode = await stateListCommand({ ...command.optsWithGlobals(), ...options }, process.env, output);
  });
state
  .command('show')
  .description('one record, as the state holds it')
  .argument('<key>', 'the manifest key')
  .option('--json', 'one line of JSON')
  .action(async (key, options, command) => {
    const { stateShowCommand } = await stateCommands();
    process.exitCode = await stateShowCommand(key, { ...command.optsWithGlobals(), ...options }, process.env, output);
  });
state
  .command('rm')
  .description('forget records; their images stay in the account')
  .argument('<keys...>', 'manifest keys')
  .option('--lock-timeout <duration>', 'wait this long for the state lock (default: fail at once)')
  .action(async (keys, options, command) => {
    const { stateRmCommand } = await stateCommands();
    process.exitCode = await stateRmCommand(keys, { ...command.optsWithGlobals(), ...options }, process.env, output);
  });
state
  .command('mv')
  .description('move a record to another key (a renamed manifest); the next apply retags its image')
  .argument('<from>', 'the recorded key')
  .argument('<to>', 'the new key')
  .option('--lock-timeout <duration>', 'wait this long for the state lock (default: fail at once)')
  .action(async (from, to, options, command) => {
    const { stateMvCommand } = await stateCommands();
    process.exitCode = await stateMvCommand(
      from,
      to,
      { ...command.optsWithGlobals(), ...options },
      process.env,
      output,
    );
  });
state
  .command('rebuild')
  .description('rebuild a lost or corrupt state from the imsync-key tags in the account; the old file is kept aside')
  .argument('[paths...]', 'manifest files or directories', [DEFAULT_MANIFESTS])
  .option('--lock-timeout <duration>', 'wait this long for the state lock (default: fail at once)')
  .action(async (paths, options, command) => {
    const { stateRebuildCommand } = await stateCommands();
    process.exitCode = await stateRebuildCommand(
      paths,
      { ...command.optsWithGlobals(), ...options },
      process.env,
      output,
    );
  });
state
  .command('migrate')
  .description('copy the state to another location (a file or a postgres:// URL), lineage and serial kept')
  .requiredOption('--to <location>', 'the state file or postgres:// URL to copy it to; it must hold no records')
  .option('--lock-timeout <duration>', 'wait this long for each state lock (default: fail at once)')
  .action(async (options, command) => {
    const { stateMigrateCommand } = await stateCommands();
    process.exitCode = await stateMigrateCommand({ ...command.optsWithGlobals(), ...options }, process.env, output);
  });

program
  .command('force-unlock')
  .description('remove the state lock of a process that is gone, by the lock id its "locked by" error gave')
  .argument('<lock-id>', 'the lock id, as in "lock id 3f2a9c01d4e5"')
  .action(async (lockId, _options, command) => {
    const { forceUnlockCommand } = await import('./force-unlock-command.js');
    process.exitCode = await forceUnlockCommand(lockId, command.optsWithGlobals(), process.env, output);
  });

program
  .command('emulator')
  .description('run the IMS emulator: a local IMS endpoint for trying imsync without an account')
  .option('--port <n>', `port to listen on (default ${DEFAULT_EMULATOR_PORT}; 0 picks a free one)`)
  .option('--host <address>', 'address to bind (default 127.0.0.1)')
  .option(
    '--regions <list>',
    'regions to serve, comma-separated, the first the default (each at ims.{region}.localhost)',
  )
  .option('--objects <file>', 'JSON list of OBS objects {bucket, key, size, storageClass, region}')
  .option('--job-seconds <s>', 'how long an import job runs (default 5)')
  .option('--faults <spec>', 'faults to inject, e.g. rate=100,429=0.1,lost=0.05 (see README)')
  .option('--seed <n>', 'seed for faults and ids, to repeat a run')
  .option('--quota <n>', 'private images allowed (default 100; IMG.0015 beyond)')
  .option('--realism <preset>', "kind (default: the emulator's own choices) or strict (the harshest); see README")
  .option('--listing-lag <s>', 'seconds before a new image is listed and found by tag (kind 0, strict 40)')
  .option('--list-tags <style>', 'how list results show key/value tags: k=v, k.v or none (kind k=v, strict none)')
  .option('--delete-lag <s>', 'seconds a deleted image stays listed and uses quota (kind 0, strict 20)')
  .option('--obs-errors <mode>', 'OBS problems fail the job or refuse the import at once: job or sync (kind job)')
  .option('--unknown-id <status>', 'status of IMG.0027 for an unknown job or image id: 404 or 400 (kind 404)')
  .option('--patch-add-conflict', 'PATCH add of an attribute the image has is IMG.0035 (strict)')
  .option('--no-patch-add-conflict', 'PATCH add of an attribute the image has replaces it (kind)')
  .option('--max-concurrent-imports <n>', 'import jobs allowed at once, IMG.0194 beyond (kind 20, strict 5)')
  .option('--min-disk-bounds <bounds>', 'min_disk of system images: legacy 1-1024 or current 10/20-1024 (kind legacy)')
  .action(async (options, command) => {
    const { emulatorCommand } = await import('./emulator-command.js');
    process.exitCode = await emulatorCommand({ ...command.optsWithGlobals(), ...options }, process.env, output);
  });

// A command left waiting on something that will never happen would end in Node's silent exit 13.
let finished = false;
process.once('beforeExit', () => {
  if (finished) return;
  output.err(
    'imsync: internal error, this is a bug: the command stopped waiting with its work unfinished; what it recorded is saved, and its lock is taken over as stale by the next command\n',
  );
  process.exitCode = EXIT.error;
});

try {
  await program.parseAsync();
} catch (error) {
  process.exitCode = report(error);
}
finished = true;

function report(error: unknown): number {
  if (error instanceof CommanderError) {
    return error.exitCode === 0 ? EXIT.ok : EXIT.error; // commander has printed the message or help already
  }
  if (error instanceof UsageError || error instanceof StateError || error instanceof PlanFileError) {
    output.err(`imsync: ${error.message}\n`);
    return EXIT.error;
  }
  if (error instanceof ImsError) {
    // IMS refused or could not be reached before anything was changed (a refresh, a lookup).
    output.err(`imsync: ${imsHint(error)}${error.message}\n`);
    return EXIT.error;
  }
  output.err(`imsync: internal error, this is a bug: ${(error as Error).stack ?? String(error)}\n`);
  return EXIT.error;
}

/** What to check, for the failures a person can fix: credentials, project, endpoint. */
function imsHint(error: ImsError): string {
  if (error.status === 401) return 'IMS refused the credentials (HW_ACCESS_KEY and HW_SECRET_KEY, or HW_AUTH_TOKEN): ';
  if (error.status === 403) return 'IMS refused the project (--project-id or HW_PROJECT_ID): ';
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'].includes(error.code)) {
    return 'IMS cannot be reached (check --region, or --endpoint and IMSYNC_ENDPOINT): ';
  }
  return '';
}
