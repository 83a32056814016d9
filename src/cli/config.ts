// Global settings from flags and the environment, checked before anything is read or sent.
import { obsEndpoint } from '../obs/endpoints.js';
import { OriginError, parseOrigin } from '../origin.js';
import { imsEndpoint, parseEndpointMap, SettingError } from '../ims/regions.js';
import type { Authentication } from '../ims/client.js';
import { LocationError, openStore } from '../state/open.js';
import type { StateStore } from '../state/store.js';

export const DEFAULT_STATE = 'imsync.state.json';
/** --emulator's own default: a state of the emulator never passes for one of a real account. */
export const DEFAULT_EMULATOR_STATE = 'imsync.emulator.state.json';
export const DEFAULT_MANIFESTS = 'manifests/';
export const DEFAULT_LISTEN = '127.0.0.1:9464';
export const DEFAULT_EMULATOR_PORT = 8787;
const REGION = /^[a-z]+(-[a-z]+)*-[0-9]+$/;

export interface GlobalOptions {
  state?: string;
  /** --region, repeatable: the first is also the region of manifests that name none. */
  region?: string[];
  emulator?: boolean;
}

export interface Settings {
  readonly store: StateStore;
  /** The region of manifests that name none: the first --region, or HW_REGION_NAME. */
  readonly region?: string;
  /** The regions a run is narrowed to (--region); empty: every region of the manifests and state. */
  readonly only: readonly string[];
}

/** A setting that cannot be used; the message names the flag or variable it came from. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function resolveSettings(options: GlobalOptions, env: NodeJS.ProcessEnv): Settings {
  const state = options.state ?? env.IMSYNC_STATE ?? (options.emulator ? DEFAULT_EMULATOR_STATE : DEFAULT_STATE);
  const stateOrigin = options.state !== undefined ? '--state' : 'IMSYNC_STATE';
  if (state.trim() === '') throw new UsageError(`${stateOrigin} is empty; give a state file path or a postgres:// URL`);
  const store = openLocation(state, stateOrigin, env);
  const region = resolveRegion(options, env);
  return { store, ...(region === undefined ? {} : { region }), only: [...new Set(options.region ?? [])] };
}

/** The store at `location`; `origin` (a flag or variable) names it when the location cannot be used. */
export function openLocation(location: string, origin: string, env: NodeJS.ProcessEnv): StateStore {
  try {
    return openStore(location, env);
  } catch (error) {
    if (error instanceof LocationError) throw new UsageError(`${origin} ${error.message}`);
    throw error;
  }
}

export function resolveRegion(options: { region?: readonly string[] }, env: NodeJS.ProcessEnv): string | undefined {
  for (const given of options.region ?? []) {
    if (!REGION.test(given)) throw new UsageError(`--region "${given}" is not a region name such as ap-southeast-1`);
  }
  const region = options.region?.[0] ?? env.HW_REGION_NAME;
  if (region !== undefined && !REGION.test(region)) {
    throw new UsageError(`HW_REGION_NAME "${region}" is not a region name such as ap-southeast-1`);
  }
  return region;
}

export interface ConnectionOptions {
  endpoint?: string;
  projectId?: string;
  region?: string[];
}

/** Where and as whom to call IMS; secrets stay inside `auth` and never reach a message. */
export interface Connection {
  readonly endpoint: string;
  readonly projectId: string;
  readonly auth: Authentication;
  /** The region of the endpoint, when known: manifests of other regions are left alone. */
  readonly region?: string;
  /** How long an answer may take before the request counts as unanswered (IMSYNC_REQUEST_TIMEOUT). */
  readonly requestTimeoutMs?: number;
  /**
   * OBS's endpoint, for the pre-flight: IMSYNC_OBS_ENDPOINT, or the region's when IMS's is the
   * region's too; unknown beside an IMS endpoint of the user's own (a private deployment, an emulator).
   */
  readonly obsEndpoint?: URL;
}

/**
 * Reads the connection as the Huawei Cloud tools name it: HW_ACCESS_KEY, HW_SECRET_KEY and
 * HW_SECURITY_TOKEN (temporary credentials), or HW_AUTH_TOKEN (an IAM token); HW_PROJECT_ID;
 * the endpoint from --endpoint, IMSYNC_ENDPOINT, or the region.
 */
export function resolveConnection(options: ConnectionOptions, env: NodeJS.ProcessEnv): Connection {
  const endpoint = resolveEndpoint(options, env);
  const projectId = options.projectId ?? env.HW_PROJECT_ID;
  if (!projectId) throw new UsageError('no project: set --project-id or HW_PROJECT_ID');
  const projectOrigin = options.projectId ? '--project-id' : 'HW_PROJECT_ID';
  checkSendable(projectOrigin, projectId);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(projectId)) throw new UsageError(`${projectOrigin} is not a project id`);
  const region = resolveRegion(options, env);
  const obs = resolveObsEndpoint(options, env, region);
  return {
    endpoint,
    projectId,
    auth: resolveAuth(env),
    ...(region === undefined ? {} : { region }),
    ...(obs === undefined ? {} : { obsEndpoint: obs }),
  };
}

export function resolveObsEndpoint(
  options: ConnectionOptions,
  env: NodeJS.ProcessEnv,
  region: string | undefined,
): URL | undefined {
  const perRegion = region === undefined || env.IMSYNC_OBS_ENDPOINTS === undefined ? undefined : region;
  const given = env.IMSYNC_OBS_ENDPOINT ?? (perRegion && endpointMap(env, 'IMSYNC_OBS_ENDPOINTS').get(perRegion));
  try {
    if (given !== undefined) return obsEndpoint(region ?? '', given);
    const ownIms = options.endpoint ?? env.IMSYNC_ENDPOINT ?? (region && endpointMap(env).get(region));
    return ownIms === undefined && region !== undefined ? obsEndpoint(region) : undefined;
  } catch (error) {
    if (error instanceof OriginError) throw new UsageError(`IMSYNC_OBS_ENDPOINT ${error.message}`);
    throw error;
  }
}

export function resolveEndpoint(options: ConnectionOptions, env: NodeJS.ProcessEnv): string {
  const given = options.endpoint ?? env.IMSYNC_ENDPOINT;
  if (given === undefined) {
    const region = resolveRegion(options, env);
    if (!region) throw new UsageError('no endpoint: set --region or HW_REGION_NAME (or --endpoint / IMSYNC_ENDPOINT)');
    return imsEndpoint(region, endpointMap(env));
  }
  const origin = options.endpoint !== undefined ? '--endpoint' : 'IMSYNC_ENDPOINT';
  try {
    return parseOrigin(given, 'IMS', 'https://ims.ap-southeast-1.myhuaweicloud.com').origin;
  } catch (error) {
    if (error instanceof OriginError) throw new UsageError(`${origin} ${error.message}`);
    throw error;
  }
}

/** IMSYNC_ENDPOINTS (or IMSYNC_OBS_ENDPOINTS): an endpoint for any region. */
export function endpointMap(
  env: NodeJS.ProcessEnv,
  name: 'IMSYNC_ENDPOINTS' | 'IMSYNC_OBS_ENDPOINTS' = 'IMSYNC_ENDPOINTS',
): ReadonlyMap<string, string> {
  try {
    const text = env[name];
    return text === undefined ? new Map() : parseEndpointMap(text, name);
  } catch (error) {
    if (error instanceof SettingError || error instanceof OriginError) throw new UsageError(error.message);
    throw error;
  }
}

export function resolveAuth(env: NodeJS.ProcessEnv): Authentication {
  const accessKey = env.HW_ACCESS_KEY;
  const secretKey = env.HW_SECRET_KEY;
  if (accessKey || secretKey) {
    if (!accessKey) throw new UsageError('HW_SECRET_KEY is set but HW_ACCESS_KEY is not');
    if (!secretKey) throw new UsageError('HW_ACCESS_KEY is set but HW_SECRET_KEY is not');
    const securityToken = env.HW_SECURITY_TOKEN;
    checkSendable('HW_ACCESS_KEY', accessKey);
    checkSendable('HW_SECRET_KEY', secretKey);
    if (securityToken) checkSendable('HW_SECURITY_TOKEN', securityToken);
    return { kind: 'aksk', credentials: { accessKey, secretKey, ...(securityToken ? { securityToken } : {}) } };
  }
  if (env.HW_AUTH_TOKEN) {
    checkSendable('HW_AUTH_TOKEN', env.HW_AUTH_TOKEN);
    return { kind: 'token', token: env.HW_AUTH_TOKEN };
  }
  throw new UsageError('no credentials: set HW_ACCESS_KEY and HW_SECRET_KEY (or HW_AUTH_TOKEN)');
}

/**
 * Credentials and the project id are printable ASCII (they go in headers, or sign what does).
 * One that is not is refused, not trimmed: a stray newline is usually a secret file mounted with
 * its last line, and trimming would hide that the mount is not what was meant; the Huawei Cloud
 * SDKs and Terraform provider take the value as it is too. The message never shows the value.
 */
function checkSendable(name: string, value: string): void {
  const problem = UNSENDABLE.find(([pattern]) => pattern.test(value))?.[1];
  if (problem !== undefined) throw new UsageError(`${name} ${problem}`);
}

/** What may be wrong with a credential, the first match said. */
const UNSENDABLE: readonly (readonly [RegExp, string])[] = [
  [/\r?\n$/, 'ends with a newline (the last line of a mounted file?); remove it'],
  [/^\s/, 'begins with white space'],
  [/\s$/, 'ends with white space'],
  // eslint-disable-next-line no-control-regex -- control characters are what it finds
  [/[\u0000-\u001f\u007f]/, 'contains a control character'],
  [/[^\u0020-\u007e]/, 'contains a character that cannot be sent in an HTTP header (only printable ASCII can)'],
];
