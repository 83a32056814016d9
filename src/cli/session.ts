// A command's connection to IMS: the target (configured endpoint or embedded emulator), a client,
// and the state's account checked against it. Every command that talks to IMS opens one.
import { systemClock } from '../clock.js';
import { ImsClient, type ImsClientOptions } from '../ims/client.js';
import { ImsError } from '../ims/errors.js';
import { ObsClient } from '../obs/client.js';
import type { PreflightStage } from '../reconcile/reconcile.js';
import { claimAccount } from '../state/account.js';
import type { Account, State } from '../state/model.js';
import type { Target } from './connect.js';

export interface Session {
  readonly client: ImsClient;
  readonly target: Target;
  /** The connection's region, or the configured one. */
  readonly region?: string;
  /** The state's account with this connection's region in it (refused when the state names another). */
  readonly account: Account;
  /** The checks of the image files through OBS, as the flags ask, or why there are none. */
  preflight(flags: PreflightFlags): PreflightStage;
  close(): Promise<void>;
}

export interface PreflightFlags {
  /** --no-preflight turns it off. */
  readonly preflight: boolean;
  readonly onReupload: 'replace' | 'warn';
  /** How long a file that passed is trusted without asking OBS again (--preflight-max-age). */
  readonly maxAgeMs: number;
}

/** HEADs in flight at once, within the OBS endpoint's own request budget. */
const PREFLIGHT_CONCURRENCY = 16;

export async function openSession(
  startTarget: () => Promise<Target>,
  configuredRegion: string | undefined,
  state: State,
  stateLocation: string,
  clientOptions: Partial<ImsClientOptions> = {},
  /** Check the credentials and the endpoint with one cheap signed call (when nothing else does first). */
  verify = false,
): Promise<Session> {
  const target = await startTarget();
  try {
    const { connection } = target;
    const region = connection.region ?? configuredRegion;
    const account = claimAccount(state, region, target.account, stateLocation);
    const client = new ImsClient({
      ...clientOptions,
      endpoint: connection.endpoint,
      projectId: connection.projectId,
      auth: connection.auth,
      ...(connection.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: connection.requestTimeoutMs }),
    });
    if (verify) {
      await client.listImages({ __imagetype: 'private', limit: 1 }).catch(async (error: unknown) => {
        // Refused (credentials, project) or unreachable: said once, before anything is sent. An
        // outage answering 5xx is no verdict on either: the imports handle what it does to them.
        if (error instanceof ImsError && error.retry === 'ambiguous') return;
        await client.close();
        throw error;
      });
    }
    let obs: ObsClient | undefined;
    return {
      client,
      target,
      ...(region === undefined ? {} : { region }),
      account,
      preflight: (flags) => {
        if (!flags.preflight) return { skipped: 'not checked (--no-preflight)' };
        if (connection.auth.kind !== 'aksk') {
          return { skipped: 'not checked: OBS takes AK/SK signatures only, not an IAM token' };
        }
        if (connection.obsEndpoint === undefined) {
          return {
            skipped: "not checked: beside IMSYNC_ENDPOINT, OBS's endpoint is not known (set IMSYNC_OBS_ENDPOINT)",
          };
        }
        obs ??= new ObsClient({ endpoint: connection.obsEndpoint, credentials: connection.auth.credentials });
        return {
          obs,
          quota: async (signal) => {
            const images = (await client.getQuota(signal)).find((quota) => quota.type === 'image');
            if (images === undefined) throw new Error('IMS listed no quota of type image');
            return images;
          },
          clock: systemClock,
          maxAgeMs: flags.maxAgeMs,
          concurrency: PREFLIGHT_CONCURRENCY,
          onReupload: flags.onReupload,
        };
      },
      close: async () => {
        await obs?.close();
        await client.close();
        await target.close();
      },
    };
  } catch (error) {
    await target.close();
    throw error;
  }
}
