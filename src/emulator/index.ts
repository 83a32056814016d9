// The IMS emulator: a local stand-in for https://ims.{region}.myhuaweicloud.com that follows the
// documented API (DESIGN.md §6), for trying manifests without an account and for every end-to-end
// test, and on the same port for the OBS calls that check an import's file beforehand
// (http://{bucket}.obs.localhost:{port}). createEmulatorCore wires the parts that need no socket
// (so that unit tests can call the routes in-process); startEmulator puts the HTTP server in front
// of them. Each part lives in its own file.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createEmulatorServer, type ServerParts } from './http.js';
import { FaultInjector, type FaultSpec } from './faults.js';
import { ImageStore } from './images.js';
import { inspection } from './inspect.js';
import { RequestLog } from './log.js';
import { Obs, type ObsEntry } from './obs.js';
import { OBS_DOMAIN } from './obs-routes.js';
import { IdSource, randomSeed } from './random.js';
import {
  REALISM_PRESETS,
  resolveRealism,
  type ListTagsStyle,
  type MinDiskBounds,
  type ObsErrorsMode,
  type Realism,
  type RealismPreset,
  type UnknownIdStatus,
} from './realism.js';
import { apiRoutes, type Route } from './routes.js';

export { parseFaults, type FaultSpec } from './faults.js';
export {
  ENCRYPTIONS,
  parseObjectsFile,
  type Encryption,
  type ObsBucket,
  type ObsEntry,
  type ObsObject,
  type StorageClass,
} from './obs.js';
export {
  describeRealism,
  LIST_TAGS_STYLES,
  MIN_DISK_BOUNDS,
  OBS_ERRORS_MODES,
  overriddenSwitches,
  REALISM_PRESET_NAMES,
  REALISM_PRESETS,
  UNKNOWN_ID_STATUSES,
  type ListTagsStyle,
  type MinDiskBounds,
  type ObsErrorsMode,
  type Realism,
  type RealismPreset,
  type UnknownIdStatus,
} from './realism.js';

export interface EmulatorCredentials {
  readonly accessKey: string;
  readonly secretKey: string;
}

export interface EmulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  /** Default ap-southeast-1. */
  region?: string;
  /** Default EMULATOR_DEFAULTS.projectId. */
  projectId?: string;
  /** Accepted AK/SK pairs; default EMULATOR_DEFAULTS.credentials. */
  credentials?: EmulatorCredentials[];
  /** Accepted X-Auth-Token values; default [EMULATOR_DEFAULTS.token]. */
  tokens?: string[];
  /** The simulated OBS's objects and buckets; undefined is the default world (see Obs). */
  objects?: readonly ObsEntry[];
  /** How long an import job takes from INIT to its end; default 5. */
  jobSeconds?: number;
  faults?: FaultSpec;
  /** Makes every random choice (faults, ids) repeat; random when not given. */
  seed?: number;
  /** Private image quota; default 100. */
  imageQuota?: number;
  /**
   * The realism preset (research/ims-fidelity.md §2): `kind` (default) is the emulator's own
   * behaviour, `strict` the harshest variant of everything the documentation leaves open. Each
   * switch below, when given, replaces the preset's value (see realism.ts).
   */
  realism?: RealismPreset;
  /** Seconds from an accepted import until its image is listed and found by the tag query; kind 0. */
  listingLagSeconds?: number;
  /** How list results show key/value tags; kind `k=v`. */
  listTags?: ListTagsStyle;
  /** Seconds a deleted image stays listed and counts against the quota; kind 0. */
  deleteLagSeconds?: number;
  /** OBS problems fail the job (kind) or refuse the POST at once (`sync`). */
  obsErrors?: ObsErrorsMode;
  /** The status of IMG.0027 for an unknown job or image id; kind 404. */
  unknownId?: UnknownIdStatus;
  /** PATCH `add` of an attribute the image has is IMG.0035; kind false. */
  patchAddConflict?: boolean;
  /** Import jobs allowed to run at once (IMG.0194 beyond); kind 20; `faults.jobcap` overrides it. */
  maxConcurrentImports?: number;
  /** min_disk bounds of system images; kind `legacy` (1–1024). */
  minDiskBounds?: MinDiskBounds;
  /** Milliseconds since the epoch; default Date.now. Drives jobs, the rate limit and signature skew. */
  clock?: () => number;
}

/** A started emulator: its core's identity and settings, where it listens, and how to stop it. */
export interface RunningEmulator extends Pick<
  EmulatorCore,
  'projectId' | 'region' | 'credentials' | 'token' | 'seed' | 'realismPreset' | 'realism'
> {
  /** `http://host:port`, no trailing slash. */
  readonly url: string;
  /**
   * `http://obs.localhost:port`: the OBS endpoint, each bucket at `http://{bucket}.obs.localhost:port`
   * (`.localhost` names are loopback: reachable when the emulator listens on 127.0.0.1 or on every address).
   */
  readonly obsEndpoint: string;
  close(): Promise<void>;
}

/** What an emulator started without options accepts; fixed so that they can be printed and reused. */
export const EMULATOR_DEFAULTS = {
  host: '127.0.0.1',
  region: 'ap-southeast-1',
  projectId: '0e1d2c3b4a5968778695a4b3c2d1e0f0',
  credentials: [{ accessKey: 'EMULATORACCESSKEY000', secretKey: 'emulator-secret-key-not-a-real-secret-000' }],
  token: 'imsync-emulator-token',
  jobSeconds: 5,
  imageQuota: 100,
  maxConcurrentImports: REALISM_PRESETS.kind.maxConcurrentImports,
} as const;

/** Everything but the socket: the routes over the store, and what the server puts in front of them. */
export interface EmulatorCore extends ServerParts {
  readonly store: ImageStore;
  readonly routes: Route[];
  readonly projectId: string;
  readonly region: string;
  readonly credentials: readonly EmulatorCredentials[];
  /** The first accepted token. */
  readonly token: string;
  readonly seed: number;
  /** The preset and the settings in effect (`faults.jobcap` included). */
  readonly realismPreset: RealismPreset;
  readonly realism: Realism;
}

/** The preset and the settings in effect: each switch given replaces the preset's, and `faults.jobcap` the cap. */
export function emulatorRealism(options: EmulatorOptions = {}): { preset: RealismPreset; realism: Realism } {
  const preset = options.realism ?? 'kind';
  const realism = resolveRealism(preset, {
    listingLagSeconds: options.listingLagSeconds,
    listTags: options.listTags,
    deleteLagSeconds: options.deleteLagSeconds,
    obsErrors: options.obsErrors,
    unknownId: options.unknownId,
    patchAddConflict: options.patchAddConflict,
    maxConcurrentImports: options.faults?.jobcap ?? options.maxConcurrentImports,
    minDiskBounds: options.minDiskBounds,
  });
  return { preset, realism };
}

export function createEmulatorCore(options: EmulatorOptions = {}): EmulatorCore {
  const region = options.region ?? EMULATOR_DEFAULTS.region;
  const projectId = options.projectId ?? EMULATOR_DEFAULTS.projectId;
  const credentials = options.credentials ?? EMULATOR_DEFAULTS.credentials;
  const tokens = options.tokens ?? [EMULATOR_DEFAULTS.token];
  const clock = options.clock ?? Date.now;
  const seed = options.seed ?? randomSeed();
  const faultSpec = options.faults ?? {};
  const jobSeconds = options.jobSeconds ?? EMULATOR_DEFAULTS.jobSeconds;
  if (!(jobSeconds >= 0)) throw new Error(`jobSeconds must be zero or more, not ${jobSeconds}`);
  if (tokens.length === 0 && credentials.length === 0) throw new Error('the emulator needs credentials or tokens');
  const { preset: realismPreset, realism } = emulatorRealism(options);

  // Separate streams, so that a fault decision never shifts an id and the reverse, and OBS calls
  // never shift what IMS requests get.
  const faults = new FaultInjector(faultSpec, seed, clock);
  const obsFaults = new FaultInjector(faultSpec, (seed ^ 0xc2b2ae35) >>> 0, clock);
  const obs = new Obs(options.objects, region, clock);
  const store = new ImageStore({
    projectId,
    obs,
    ids: new IdSource((seed ^ 0x9e3779b9) >>> 0),
    clock,
    jobMs: jobSeconds * 1000,
    imageQuota: options.imageQuota ?? EMULATOR_DEFAULTS.imageQuota,
    realism,
  });
  const log = new RequestLog();
  return {
    store,
    routes: apiRoutes(store, realism),
    faults,
    auth: {
      secrets: new Map(credentials.map(({ accessKey, secretKey }) => [accessKey, secretKey])),
      tokens: new Set(tokens),
      projectId,
      clock,
    },
    requestIds: new IdSource((seed ^ 0x85ebca6b) >>> 0),
    log,
    clock,
    inspect: inspection(store, log, [faults, obsFaults], obs, { preset: realismPreset, settings: realism }),
    obs: { world: obs, faults: obsFaults, requestIds: new IdSource((seed ^ 0x27d4eb2f) >>> 0) },
    projectId,
    region,
    credentials,
    token: tokens[0] ?? '',
    seed,
    realismPreset,
    realism,
  };
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const host = options.host ?? EMULATOR_DEFAULTS.host;
  const core = createEmulatorCore(options);
  const server = createEmulatorServer(core);

  server.listen(options.port ?? 0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    obsEndpoint: `http://${OBS_DOMAIN}:${port}`,
    projectId: core.projectId,
    region: core.region,
    credentials: core.credentials,
    token: core.token,
    seed: core.seed,
    realismPreset: core.realismPreset,
    realism: core.realism,
    close: async () => {
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
