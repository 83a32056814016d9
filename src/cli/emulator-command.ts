// `imsync emulator`: the IMS emulator (and the OBS and IAM calls beside it) as a long-running local
// service, for one region or several (--regions).
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import {
  checkRegions,
  describeRealism,
  EMULATOR_DEFAULTS,
  LIST_TAGS_STYLES,
  MIN_DISK_BOUNDS,
  OBS_ERRORS_MODES,
  overriddenSwitches,
  parseFaults,
  parseObjectsFile,
  REALISM_PRESET_NAMES,
  startEmulator,
  type EmulatorOptions,
  type Realism,
  type RunningEmulator,
  type RealismPreset,
  type UnknownIdStatus,
} from '../emulator/index.js';
import { DEFAULT_EMULATOR_PORT, resolveRegion, UsageError } from './config.js';
import type { Output } from './output.js';

export interface EmulatorCommandOptions {
  port?: string;
  host?: string;
  region?: string[];
  regions?: string;
  objects?: string;
  jobSeconds?: string;
  faults?: string;
  seed?: string;
  quota?: string;
  realism?: string;
  listingLag?: string;
  listTags?: string;
  deleteLag?: string;
  obsErrors?: string;
  unknownId?: string;
  /** true for --patch-add-conflict, false for --no-patch-add-conflict, undefined for neither. */
  patchAddConflict?: boolean;
  maxConcurrentImports?: string;
  minDiskBounds?: string;
}

/** Each realism switch's flag, in the order the banner prints them. */
const REALISM_FLAGS: Readonly<Record<keyof Realism, string>> = {
  listingLagSeconds: '--listing-lag',
  listTags: '--list-tags',
  deleteLagSeconds: '--delete-lag',
  obsErrors: '--obs-errors',
  unknownId: '--unknown-id',
  patchAddConflict: '--patch-add-conflict',
  maxConcurrentImports: '--max-concurrent-imports',
  minDiskBounds: '--min-disk-bounds',
};

/** Runs until SIGINT or SIGTERM, then closes the server and returns 0. */
export async function emulatorCommand(
  options: EmulatorCommandOptions,
  env: NodeJS.ProcessEnv,
  output: Output,
): Promise<number> {
  const settings = await emulatorOptions(options, env);
  const emulator = await startEmulator(settings).catch((error: NodeJS.ErrnoException) => {
    const why = { EADDRINUSE: 'the address is in use', EACCES: 'not allowed', EADDRNOTAVAIL: 'no such address here' };
    const reason = why[error.code as keyof typeof why];
    if (reason === undefined) throw error;
    throw new UsageError(
      `--port ${settings.port}: cannot listen on ${settings.host ?? '127.0.0.1'}:${settings.port} (${reason})`,
    );
  });
  // Listen before announcing: whoever reads the announcement may signal at once.
  const stopped = Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  const fromEnvironment = Boolean(env.HW_ACCESS_KEY);
  const [pair] = emulator.credentials;
  const several = emulator.regions.length > 1;
  const obs = new URL(emulator.obsEndpoint);
  const lines = [
    `imsync emulator listening on ${emulator.url} (region ${emulator.region}${several ? ', the default one' : ''}); stop it with Ctrl-C`,
    `  project id   ${emulator.projectId}`,
    ...(several ? regionLines(emulator) : []),
    fromEnvironment
      ? '  credentials  HW_ACCESS_KEY and HW_SECRET_KEY from the environment'
      : `  credentials  the emulator's fixed example pair (not a secret), and the token ${emulator.token}${several ? ` (${emulator.region}'s project; ${emulator.token}-{region} for another region's)` : ''}`,
    `  seed         ${emulator.seed} (--seed ${emulator.seed} repeats this run's faults and ids)`,
    ...realismLines(emulator.realismPreset, emulator.realism),
    several
      ? `  obs          ${emulator.obsEndpoint} (${emulator.region}'s) and http://obs.{region}.localhost:${obs.port}, each bucket at its virtual host http://{bucket}.{endpoint host}`
      : `  obs          ${emulator.obsEndpoint}, each bucket at its virtual host http://{bucket}.${obs.host}`,
    `  inspect      ${emulator.url}/__emulator/requests, /images, /jobs, /realism, /objects${several ? ', /regions' : ''}; POST /__emulator/reset${several ? ', POST /__emulator/regions/{region}/down and /up' : ''} and PUT /__emulator/objects (header X-Imsync-Emulator: 1)`,
    '',
    'To point imsync at it:',
    `  export IMSYNC_ENDPOINT=${emulator.url} HW_PROJECT_ID=${emulator.projectId} HW_REGION_NAME=${emulator.region}`,
    `  export IMSYNC_OBS_ENDPOINT=${emulator.obsEndpoint}`,
    ...(several
      ? [
          `  export IMSYNC_ENDPOINTS=${byRegion(emulator.endpoints)}`,
          `  export IMSYNC_OBS_ENDPOINTS=${byRegion(emulator.obsEndpoints)}`,
          `  export IMSYNC_PROJECTS=${byRegion(emulator.projectIds)}`,
          `  export IMSYNC_IAM_ENDPOINT=${emulator.iamEndpoint}`,
        ]
      : []),
    ...(fromEnvironment || !pair ? [] : [`  export HW_ACCESS_KEY=${pair.accessKey} HW_SECRET_KEY=${pair.secretKey}`]),
  ];
  output.out(`${lines.join('\n')}\n`);
  await stopped;
  await emulator.close();
  output.out('imsync emulator stopped\n');
  return 0;
}

async function emulatorOptions(options: EmulatorCommandOptions, env: NodeJS.ProcessEnv): Promise<EmulatorOptions> {
  const accessKey = env.HW_ACCESS_KEY;
  const secretKey = env.HW_SECRET_KEY;
  if (Boolean(accessKey) !== Boolean(secretKey)) {
    throw new UsageError(
      'set both HW_ACCESS_KEY and HW_SECRET_KEY for the emulator to accept, or neither for its own pair',
    );
  }
  return {
    host: options.host ?? EMULATOR_DEFAULTS.host,
    port: integer('--port', options.port, DEFAULT_EMULATOR_PORT, 0, 65_535),
    ...regionOptions(options, env),
    ...(env.HW_PROJECT_ID ? { projectId: env.HW_PROJECT_ID } : {}),
    ...(accessKey && secretKey ? { credentials: [{ accessKey, secretKey }] } : {}),
    ...(options.objects === undefined ? {} : { objects: await readObjects(options.objects) }),
    jobSeconds: number('--job-seconds', options.jobSeconds, EMULATOR_DEFAULTS.jobSeconds),
    imageQuota: integer('--quota', options.quota, EMULATOR_DEFAULTS.imageQuota, 0, 1_000_000),
    ...(options.faults === undefined ? {} : { faults: parse(() => parseFaults(options.faults!), '--faults') }),
    ...(options.seed === undefined ? {} : { seed: integer('--seed', options.seed, 0, 0, 2 ** 32 - 1) }),
    ...realismOptions(options),
  };
}

/**
 * The regions served: --regions (the first the default; --region, if given too, must be it), or
 * the one of --region or HW_REGION_NAME.
 */
function regionOptions(options: EmulatorCommandOptions, env: NodeJS.ProcessEnv): EmulatorOptions {
  if ((options.region?.length ?? 0) > 1)
    throw new UsageError('the emulator takes one --region; several are --regions a,b,c');
  if (options.regions === undefined) {
    const region = resolveRegion(options, env);
    return region === undefined ? {} : { region };
  }
  const regions = options.regions.split(',').map((name) => name.trim());
  parse(() => checkRegions(regions, []), '--regions');
  if (options.region !== undefined && options.region[0] !== regions[0]) {
    throw new UsageError(
      `--region ${options.region[0]} is not the first of --regions ${regions.join(',')}, which is the default region`,
    );
  }
  return { regions };
}

/** The banner's lines on the regions: each one's IMS endpoint and project, and IAM. */
function regionLines(emulator: RunningEmulator): string[] {
  const rows = emulator.regions.map(
    (region) => `${region} at ${emulator.endpoints.get(region)}, project ${emulator.projectIds.get(region)}`,
  );
  return [
    ...rows.map((row, index) => `${index === 0 ? '  regions      ' : '               '}${row}`),
    `  iam          ${emulator.iamEndpoint} (GET /v3/projects?name={region})`,
  ];
}

/** `region=value,...`, the default region first. */
function byRegion(values: ReadonlyMap<string, string>): string {
  return [...values].map(([region, value]) => `${region}=${value}`).join(',');
}

/** The realism preset and the switches given; each given switch replaces the preset's value. */
function realismOptions(options: EmulatorCommandOptions): EmulatorOptions {
  const chosen: EmulatorOptions = {};
  if (options.realism !== undefined) chosen.realism = choice('--realism', options.realism, REALISM_PRESET_NAMES);
  if (options.listingLag !== undefined) chosen.listingLagSeconds = number('--listing-lag', options.listingLag, 0);
  if (options.listTags !== undefined) chosen.listTags = choice('--list-tags', options.listTags, LIST_TAGS_STYLES);
  if (options.deleteLag !== undefined) chosen.deleteLagSeconds = number('--delete-lag', options.deleteLag, 0);
  if (options.obsErrors !== undefined) chosen.obsErrors = choice('--obs-errors', options.obsErrors, OBS_ERRORS_MODES);
  if (options.unknownId !== undefined) {
    chosen.unknownId = Number(choice('--unknown-id', options.unknownId, ['404', '400'])) as UnknownIdStatus;
  }
  if (options.patchAddConflict !== undefined) chosen.patchAddConflict = options.patchAddConflict;
  if (options.maxConcurrentImports !== undefined) {
    chosen.maxConcurrentImports = integer('--max-concurrent-imports', options.maxConcurrentImports, 0, 0, 1_000_000);
  }
  if (options.minDiskBounds !== undefined) {
    chosen.minDiskBounds = choice('--min-disk-bounds', options.minDiskBounds, MIN_DISK_BOUNDS);
  }
  return chosen;
}

/** The banner's lines on realism: the preset, the switches that differ from it, and every setting in effect. */
function realismLines(preset: RealismPreset, realism: Realism): string[] {
  const overridden = overriddenSwitches(preset, realism).map((key) => REALISM_FLAGS[key]);
  const settings = describeRealism(realism);
  const about = preset === 'kind' ? "the emulator's own choices" : 'the harshest the IMS documentation allows';
  return [
    `  realism      ${preset} (${about})${overridden.length === 0 ? '' : `, changed by ${overridden.join(' ')}`}`,
    `               ${settings.slice(0, 4).join(', ')},`,
    `               ${settings.slice(4).join(', ')}`,
  ];
}

function choice<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`${flag} "${value}" must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

async function readObjects(path: string) {
  const text = await readFile(path, 'utf8').catch((error: Error) => {
    throw new UsageError(`--objects ${path}: cannot be read (${error.message})`);
  });
  return parse(() => parseObjectsFile(text, path), '--objects');
}

function parse<T>(run: () => T, flag: string): T {
  try {
    return run();
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
}

function integer(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < min || parsed > max) {
    throw new UsageError(`${flag} "${value}" must be a whole number from ${min} to ${max}`);
  }
  return parsed;
}

function number(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0) {
    throw new UsageError(`${flag} "${value}" must be a number of seconds, zero or more`);
  }
  return parsed;
}
