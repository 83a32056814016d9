// The IMS to talk to: an emulator started in-process (--emulator), or the configured endpoint.
import { startEmulator } from '../emulator/index.js';
import type { RegionAccount } from '../state/model.js';
import { resolveConnection, type Connection, type ConnectionOptions } from './config.js';
import { parseDuration } from './flags.js';

/** The embedded emulator's jobs are short, so that a demo finishes in seconds. */
const EMULATOR_JOB_SECONDS = 2;

export interface Target {
  readonly connection: Connection;
  /** Who the state is talking to: the embedded emulator's port changes every run, its identity does not. */
  readonly account: RegionAccount;
  close(): Promise<void>;
}

/** Checks the settings at once; an embedded emulator starts only when `start` is called. */
export function resolveTarget(
  options: ConnectionOptions & { emulator?: boolean },
  env: NodeJS.ProcessEnv,
  region: string | undefined,
): () => Promise<Target> {
  const timeout = env.IMSYNC_REQUEST_TIMEOUT;
  const requestTimeout =
    timeout === undefined ? {} : { requestTimeoutMs: parseDuration(timeout, 'IMSYNC_REQUEST_TIMEOUT') };
  if (!options.emulator) {
    const connection = { ...resolveConnection(options, env), ...requestTimeout };
    const account = { endpoint: connection.endpoint, projectId: connection.projectId };
    return () => Promise.resolve({ connection, account, close: () => Promise.resolve() });
  }
  return async () => {
    const emulator = await startEmulator({ jobSeconds: EMULATOR_JOB_SECONDS, ...(region ? { region } : {}) });
    const [credentials] = emulator.credentials;
    return {
      connection: {
        endpoint: emulator.url,
        projectId: emulator.projectId,
        auth: { kind: 'aksk', credentials: credentials! },
        region: emulator.region,
        obsEndpoint: new URL(emulator.obsEndpoint),
        ...requestTimeout,
      },
      account: { endpoint: 'embedded-emulator', projectId: emulator.projectId },
      close: () => emulator.close(),
    };
  };
}
