// A command's connection to IMS: the target (configured endpoint or embedded emulator), a client,
// and the state's account checked against it. Every command that talks to IMS opens one.
import { ImsClient, type ImsClientOptions } from '../ims/client.js';
import { ImsError } from '../ims/errors.js';
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
  close(): Promise<void>;
}

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
    return {
      client,
      target,
      ...(region === undefined ? {} : { region }),
      account,
      close: async () => {
        await client.close();
        await target.close();
      },
    };
  } catch (error) {
    await target.close();
    throw error;
  }
}
