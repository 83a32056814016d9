// Global settings from flags and the environment, checked before anything is read or sent.
import type { Authentication } from '../ims/client.js';
import { FileStateStore } from '../state/file-store.js';
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
  region?: string;
  emulator?: boolean;
}

export interface Settings {
  readonly store: StateStore;
  readonly region?: string;
}

/** A setting that cannot be used; the message names the flag or variable it came from. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function resolveSettings(options: GlobalOptions, env: NodeJS.ProcessEnv): Settings {
  const state = options.state ?? env.IMSYNC_STATE ?? (options.emulator ? DEFAULT_EMULATOR_STATE : DEFAULT_STATE);
  const stateOrigin = options.state !== undefined ? '--state' : 'IMSYNC_STATE';
  if (state.trim() === '') throw new UsageError(`${stateOrigin} is empty; give a state file path`);
  if (/^postgres(ql)?:/.test(state)) {
    throw new UsageError(`${stateOrigin}: the Postgres state backend is not available yet; use a file path`);
  }
  const region = resolveRegion(options, env);
  return { store: new FileStateStore(state), ...(region === undefined ? {} : { region }) };
}

export function resolveRegion(options: { region?: string }, env: NodeJS.ProcessEnv): string | undefined {
  const region = options.region ?? env.HW_REGION_NAME;
  if (region !== undefined && !REGION.test(region)) {
    const origin = options.region !== undefined ? '--region' : 'HW_REGION_NAME';
    throw new UsageError(`${origin} "${region}" is not a region name such as ap-southeast-1`);
  }
  return region;
}

export interface ConnectionOptions {
  endpoint?: string;
  projectId?: string;
  region?: string;
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
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(projectId)) {
    throw new UsageError(`${options.projectId ? '--project-id' : 'HW_PROJECT_ID'} is not a project id`);
  }
  const region = resolveRegion(options, env);
  return { endpoint, projectId, auth: resolveAuth(env), ...(region === undefined ? {} : { region }) };
}

function resolveEndpoint(options: ConnectionOptions, env: NodeJS.ProcessEnv): string {
  const given = options.endpoint ?? env.IMSYNC_ENDPOINT;
  if (given === undefined) {
    const region = resolveRegion(options, env);
    if (!region) throw new UsageError('no endpoint: set --region or HW_REGION_NAME (or --endpoint / IMSYNC_ENDPOINT)');
    return `https://ims.${region}.myhuaweicloud.com`;
  }
  const origin = options.endpoint !== undefined ? '--endpoint' : 'IMSYNC_ENDPOINT';
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new UsageError(`${origin} "${given}" is not a URL such as https://ims.ap-southeast-1.myhuaweicloud.com`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`${origin} must be an http(s) URL`);
  if (url.username || url.password)
    throw new UsageError(`${origin} must not carry credentials; use HW_ACCESS_KEY and HW_SECRET_KEY`);
  return url.origin;
}

function resolveAuth(env: NodeJS.ProcessEnv): Authentication {
  const accessKey = env.HW_ACCESS_KEY;
  const secretKey = env.HW_SECRET_KEY;
  if (accessKey || secretKey) {
    if (!accessKey) throw new UsageError('HW_SECRET_KEY is set but HW_ACCESS_KEY is not');
    if (!secretKey) throw new UsageError('HW_ACCESS_KEY is set but HW_SECRET_KEY is not');
    const securityToken = env.HW_SECURITY_TOKEN;
    return { kind: 'aksk', credentials: { accessKey, secretKey, ...(securityToken ? { securityToken } : {}) } };
  }
  if (env.HW_AUTH_TOKEN) return { kind: 'token', token: env.HW_AUTH_TOKEN };
  throw new UsageError('no credentials: set HW_ACCESS_KEY and HW_SECRET_KEY (or HW_AUTH_TOKEN)');
}
