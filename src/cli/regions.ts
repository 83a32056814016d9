// The IMS of each region of a run: its endpoint (IMSYNC_ENDPOINTS, else the region's own), its
// project (HW_PROJECT_ID for the default region, IMSYNC_PROJECTS, the one the state recorded for
// that endpoint, else found through IAM as Huawei's SDKs find it), and its OBS for the pre-flight.
import { startEmulator } from '../emulator/index.js';
import { IamClient } from '../iam/projects.js';
import { imsEndpoint, parseIamEndpoint, parseProjectMap, SettingError } from '../ims/regions.js';
import { obsEndpoint } from '../obs/endpoints.js';
import { OriginError } from '../origin.js';
import type { State } from '../state/model.js';
import {
  endpointMap,
  resolveAuth,
  resolveEndpoint,
  resolveObsEndpoint,
  UsageError,
  type Connection,
  type ConnectionOptions,
} from './config.js';
import type { Target } from './connect.js';
import { openSession, type Session } from './session.js';
import type { ImsClientOptions } from '../ims/client.js';

/** The regions' own settings, from the environment, checked before anything is read or sent. */
export interface RegionSettings {
  readonly endpoints: ReadonlyMap<string, string>;
  readonly projects: ReadonlyMap<string, string>;
  readonly obsEndpoints: ReadonlyMap<string, URL>;
  readonly iamEndpoint?: string;
}

export function regionSettings(env: NodeJS.ProcessEnv): RegionSettings {
  const map = <T>(name: string, parse: (text: string, origin: string) => T, empty: T): T => {
    const text = env[name];
    try {
      return text === undefined ? empty : parse(text, name);
    } catch (error) {
      if (error instanceof SettingError || error instanceof OriginError) throw new UsageError(error.message);
      throw error;
    }
  };
  const obs = endpointMap(env, 'IMSYNC_OBS_ENDPOINTS');
  const iam = map('IMSYNC_IAM_ENDPOINT', parseIamEndpoint, undefined);
  return {
    endpoints: endpointMap(env),
    projects: map('IMSYNC_PROJECTS', parseProjectMap, new Map()),
    // Each is an origin already (parseEndpointMap checked it).
    obsEndpoints: new Map([...obs].map(([region, url]) => [region, new URL(url)])),
    ...(iam === undefined ? {} : { iamEndpoint: iam }),
  };
}

/**
 * Whether a run covers the regions of its manifests each at its own endpoint: not when one IMS
 * endpoint of the user's own is given alone (--endpoint, IMSYNC_ENDPOINT: one connection, as before).
 */
export function runsSeveralRegions(
  options: ConnectionOptions & { emulator?: boolean },
  env: NodeJS.ProcessEnv,
): boolean {
  const oneEndpoint = options.endpoint !== undefined || env.IMSYNC_ENDPOINT !== undefined;
  return Boolean(options.emulator) || env.IMSYNC_ENDPOINTS !== undefined || !oneEndpoint;
}

/** A region's target, or why it has none. */
export type RegionTarget =
  { readonly region: string; readonly target: Target } | { readonly region: string; readonly error: Error };

/** The embedded emulator's jobs are short, so that a demo finishes in seconds. */
const EMULATOR_JOB_SECONDS = 2;

/** Each region's target; those of the embedded emulator share one emulator serving them all. */
export async function regionTargets(
  regions: readonly string[],
  defaultRegion: string | undefined,
  options: ConnectionOptions & { emulator?: boolean },
  env: NodeJS.ProcessEnv,
  state: State,
): Promise<{ targets: RegionTarget[]; close(): Promise<void> }> {
  if (options.emulator) {
    const served =
      defaultRegion && regions.includes(defaultRegion)
        ? [defaultRegion, ...regions.filter((r) => r !== defaultRegion)]
        : [...regions];
    const emulator = await startEmulator({ jobSeconds: EMULATOR_JOB_SECONDS, regions: served });
    const [credentials] = emulator.credentials;
    const targets = regions.map((region): RegionTarget => {
      const projectId = emulator.projectIds.get(region)!;
      const connection = {
        endpoint: emulator.endpoints.get(region)!,
        projectId,
        auth: { kind: 'aksk' as const, credentials: credentials! },
        region,
        obsEndpoint: new URL(emulator.obsEndpoints.get(region)!),
      };
      return {
        region,
        target: { connection, account: { endpoint: 'embedded-emulator', projectId }, close: () => Promise.resolve() },
      };
    });
    return { targets, close: () => emulator.close() };
  }
  const settings = regionSettings(env);
  const auth = resolveAuth(env);
  const ownIms = options.endpoint ?? env.IMSYNC_ENDPOINT;
  const defaultOptions = { ...options, ...(defaultRegion ? { region: [defaultRegion] } : {}) };
  const iam = new IamClient({ auth, ...(settings.iamEndpoint ? { endpoint: settings.iamEndpoint } : {}) });
  try {
    const targets = await Promise.all(
      regions.map(async (region): Promise<RegionTarget> => {
        const isDefault = region === defaultRegion;
        const endpoint =
          settings.endpoints.get(region) ??
          (isDefault && ownIms !== undefined ? resolveEndpoint(defaultOptions, env) : imsEndpoint(region));
        const given =
          (isDefault ? (options.projectId ?? env.HW_PROJECT_ID) : undefined) ?? settings.projects.get(region);
        const recorded = state.account?.regions[region];
        let projectId = given ?? (recorded?.endpoint === endpoint ? recorded.projectId : undefined);
        if (projectId === undefined) {
          const found = await iam.findProject(region).catch((error: unknown) => error as Error);
          if (found instanceof Error) return { region, error: found };
          if (found.kind === 'none') return { region, error: new Error(found.message) };
          projectId = found.projectId;
        }
        const obs =
          settings.obsEndpoints.get(region) ??
          (isDefault
            ? resolveObsEndpoint(defaultOptions, env, region)
            : settings.endpoints.has(region)
              ? undefined
              : obsEndpoint(region));
        const connection: Connection = {
          endpoint,
          projectId,
          auth,
          region,
          ...(obs === undefined ? {} : { obsEndpoint: obs }),
        };
        return { region, target: { connection, account: { endpoint, projectId }, close: () => Promise.resolve() } };
      }),
    );
    return { targets, close: () => iam.close() };
  } catch (error) {
    await iam.close();
    throw error;
  }
}

/** A region's session on its own IMS, or why it has none. */
export type RegionSession =
  { readonly region: string; readonly session: Session } | { readonly region: string; readonly error: Error };

/**
 * A session for each region that has a target. A region bound in the state to another project
 * refuses the whole run (a StateError): nothing is sent anywhere.
 */
export async function openRegionSessions(
  targets: readonly RegionTarget[],
  state: State,
  location: string,
  clientOptions: Partial<ImsClientOptions> = {},
): Promise<RegionSession[]> {
  const opened: RegionSession[] = [];
  try {
    for (const found of targets) {
      if ('error' in found) opened.push(found);
      else
        opened.push({
          region: found.region,
          session: await openSession(() => Promise.resolve(found.target), found.region, state, location, clientOptions),
        });
    }
    return opened;
  } catch (error) {
    for (const each of opened) if ('session' in each) await each.session.close();
    throw error;
  }
}
