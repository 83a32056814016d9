// Global settings from flags and the environment, checked before anything is read or sent.
import { FileStateStore } from '../state/file-store.js';
import type { StateStore } from '../state/store.js';

export const DEFAULT_STATE = 'imsync.state.json';
export const DEFAULT_MANIFESTS = 'manifests/';
const REGION = /^[a-z]+(-[a-z]+)*-[0-9]+$/;

export interface GlobalOptions {
  state?: string;
  region?: string;
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
  const state = options.state ?? env.IMSYNC_STATE ?? DEFAULT_STATE;
  const stateOrigin = options.state !== undefined ? '--state' : 'IMSYNC_STATE';
  if (state.trim() === '') throw new UsageError(`${stateOrigin} is empty; give a state file path`);
  if (/^postgres(ql)?:/.test(state)) {
    throw new UsageError(`${stateOrigin}: the Postgres state backend is not available yet; use a file path`);
  }
  const region = options.region ?? env.HW_REGION_NAME;
  if (region !== undefined && !REGION.test(region)) {
    const origin = options.region !== undefined ? '--region' : 'HW_REGION_NAME';
    throw new UsageError(`${origin} "${region}" is not a region name such as ap-southeast-1`);
  }
  return { store: new FileStateStore(state), ...(region === undefined ? {} : { region }) };
}
