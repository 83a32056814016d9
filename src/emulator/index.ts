// The IMS emulator: a local stand-in for https://ims.{region}.myhuaweicloud.com that follows the
// documented API (DESIGN.md §6), for trying manifests without an account and for every end-to-end
// test, and on the same port for the OBS calls that check an import's file beforehand
// (http://{bucket}.obs.localhost:{port}) and for IAM's project list (http://iam.localhost:{port}).
// It serves one region or several, each a world of its own at http://ims.{region}.localhost:{port}
// (regions.ts); http://127.0.0.1:{port} is the default (first) region's. createEmulatorCore wires
// the parts that need no socket (so that unit tests can call the routes in-process); startEmulator
// puts the HTTP server in front of them. Each part lives in its own file.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createEmulatorServer, type ServerParts } from './http.js';
import { FaultInjector, type FaultSpec } from './faults.js';
import { accountProjects, iamRoutes } from './iam.js';
import { ImageStore } from './images.js';
import { inspection } from './inspect.js';
import { RequestLog } from './log.js';
import { Obs, type ObsEntry } from './obs.js';
import { OBS_DOMAIN, obsDomain } from './obs-routes.js';
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
import { checkRegions, derivedId, IAM_DOMAIN, imsDomain, Regions, regionSeed, type RegionWorld } from './regions.js';
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
export { checkRegions } from './regions.js';

export interface EmulatorCredentials {
  readonly accessKey: string;
  readonly secretKey: string;
}

export interface EmulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  /** The default region; default ap-southeast-1, or the first of `regions`. */
  region?: string;
  /**
   * The regions served, the default first; default [region]. Each is a world of its own (images,
   * jobs, quota, the concurrent-import cap, faults, project) at http://ims.{region}.localhost:{port},
   * its OBS at http://obs.{region}.localhost:{port}; a host that names no region is the default's.
   */
  regions?: string[];
  /** Regions down from the start: every connection to their hosts is dropped (POST /__emulator/regions/{region}/up ends it). */
  down?: string[];
  /** The default region's project; default EMULATOR_DEFAULTS.projectId. Every other region's is derived from it. */
  projectId?: string;
  /** Accepted AK/SK pairs, in every region; default EMULATOR_DEFAULTS.credentials. */
  credentials?: EmulatorCredentials[];
  /**
   * Accepted X-Auth-Token values, scoped to the default region's project; default
   * [EMULATOR_DEFAULTS.token]. Each has a twin `{token}-{region}` scoped to each other region's.
   */
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
  | 'projectId'
  | 'region'
  | 'regions'
  | 'projectIds'
  | 'regionTokens'
  | 'credentials'
  | 'token'
  | 'seed'
  | 'realismPreset'
  | 'realism'
> {
  /** `http://host:port`, no trailing slash: the default region's IMS. */
  readonly url: string;
  /**
   * `http://obs.localhost:port`: the default region's OBS endpoint, each bucket at
   * `http://{bucket}.obs.localhost:port` (`.localhost` names are loopback: reachable when the
   * emulator listens on 127.0.0.1 or on every address).
   */
  readonly obsEndpoint: string;
  /** Each region's IMS endpoint, `http://ims.{region}.localhost:port`, the default region first. */
  readonly endpoints: ReadonlyMap<string, string>;
  /** Each region's OBS endpoint, `http://obs.{region}.localhost:port`, the default region first. */
  readonly obsEndpoints: ReadonlyMap<string, string>;
  /** `http://iam.localhost:port`: IAM's project list (GET /v3/projects?name={region}). */
  readonly iamEndpoint: string;
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

/** Everything but the socket: the routes over the stores, and what the server puts in front of them. */
export interface EmulatorCore extends ServerParts {
  /** The default region's images, routes and request ids. */
  readonly store: ImageStore;
  readonly routes: readonly Route[];
  readonly requestIds: IdSource;
  /** The default region's project. */
  readonly projectId: string;
  /** The default region. */
  readonly region: string;
  /** The regions served, the default first. */
  readonly regions: readonly string[];
  /** Each region's project. */
  readonly projectIds: ReadonlyMap<string, string>;
  readonly credentials: readonly EmulatorCredentials[];
  /** The first accepted token, scoped to the default region's project. */
  readonly token: string;
  /** Each region's token: the first accepted token scoped to its project. */
  readonly regionTokens: ReadonlyMap<string, string>;
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
  const regionNames = options.regions ?? [options.region ?? EMULATOR_DEFAULTS.region];
  const down = options.down ?? [];
  checkRegions(regionNames, down);
  const [region = EMULATOR_DEFAULTS.region] = regionNames;
  if (options.region !== undefined && options.region !== region) {
    throw new Error(
      `region ${options.region} is not the first of regions (${regionNames.join(', ')}), the default region`,
    );
  }
  const accountProjectId = options.projectId ?? EMULATOR_DEFAULTS.projectId;
  const credentials = options.credentials ?? EMULATOR_DEFAULTS.credentials;
  const tokens = options.tokens ?? [EMULATOR_DEFAULTS.token];
  const clock = options.clock ?? Date.now;
  const seed = options.seed ?? randomSeed();
  const faultSpec = options.faults ?? {};
  const jobSeconds = options.jobSeconds ?? EMULATOR_DEFAULTS.jobSeconds;
  if (!(jobSeconds >= 0)) throw new Error(`jobSeconds must be zero or more, not ${jobSeconds}`);
  if (tokens.length === 0 && credentials.length === 0) throw new Error('the emulator needs credentials or tokens');
  const { preset: realismPreset, realism } = emulatorRealism(options);

  const projectIds = new Map(
    regionNames.map((name, index) => [name, index === 0 ? accountProjectId : derivedId(accountProjectId, name)]),
  );
  const scoped = (token: string, name: string) => (name === region ? token : `${token}-${name}`);
  const tokenScopes = new Map(
    [...projectIds].flatMap(([name, projectId]) => tokens.map((token) => [scoped(token, name), projectId] as const)),
  );
  const secrets = new Map(credentials.map(({ accessKey, secretKey }) => [accessKey, secretKey]));
  const obs = new Obs(options.objects, region, clock);
  // Separate streams, so that a fault decision never shifts an id and the reverse, OBS calls never
  // shift what IMS requests get, and no region's traffic shifts another's.
  const worlds = [...projectIds].map(([name, projectId]): RegionWorld => {
    const own = regionSeed(seed, name, name === region);
    const store = new ImageStore({
      projectId,
      region: name,
      obs,
      ids: new IdSource((own ^ 0x9e3779b9) >>> 0),
      clock,
      jobMs: jobSeconds * 1000,
      imageQuota: options.imageQuota ?? EMULATOR_DEFAULTS.imageQuota,
      realism,
    });
    return {
      region: name,
      projectId,
      store,
      routes: apiRoutes(store, realism),
      faults: new FaultInjector(faultSpec, own, clock),
      auth: { secrets, tokens: tokenScopes, projectId, clock },
      requestIds: new IdSource((own ^ 0x85ebca6b) >>> 0),
      obs: {
        faults: new FaultInjector(faultSpec, (own ^ 0xc2b2ae35) >>> 0, clock),
        requestIds: new IdSource((own ^ 0x27d4eb2f) >>> 0),
      },
    };
  });
  const regions = new Regions(worlds, down);
  const iam = {
    routes: iamRoutes(accountProjects(worlds, accountProjectId)),
    faults: new FaultInjector(faultSpec, (seed ^ 0x165667b1) >>> 0, clock),
    auth: { secrets, tokens: tokenScopes, projectId: accountProjectId, clock },
    requestIds: new IdSource((seed ^ 0xd3a2646c) >>> 0),
  };
  const log = new RequestLog();
  const injectors = [...worlds.flatMap((world) => [world.faults, world.obs.faults]), iam.faults];
  return {
    worlds: regions,
    iam,
    store: regions.default.store,
    routes: regions.default.routes,
    requestIds: regions.default.requestIds,
    log,
    clock,
    inspect: inspection(regions, log, injectors, obs, { preset: realismPreset, settings: realism }),
    obs,
    projectId: accountProjectId,
    region,
    regions: regionNames,
    projectIds,
    credentials,
    token: tokens[0] ?? '',
    regionTokens: new Map(tokens.length === 0 ? [] : regionNames.map((name) => [name, scoped(tokens[0] ?? '', name)])),
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
  const each = (domain: (region: string) => string) =>
    new Map(core.regions.map((region) => [region, `http://${domain(region)}:${port}`]));
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    obsEndpoint: `http://${OBS_DOMAIN}:${port}`,
    endpoints: each(imsDomain),
    obsEndpoints: each(obsDomain),
    iamEndpoint: `http://${IAM_DOMAIN}:${port}`,
    projectId: core.projectId,
    region: core.region,
    regions: core.regions,
    projectIds: core.projectIds,
    regionTokens: core.regionTokens,
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
