// An IMS for unit tests without sockets or sleeps: a real ImsClient whose dispatcher is an undici
// MockAgent that calls the emulator's routes in-process (no gateway: no auth, no faults), with one
// fake clock driving the emulator's jobs and the client's retries.
import { MockAgent } from 'undici';
import { bodyForLog, decodeSegments, encodeAnswer, runRoute, splitUrl, unknownApi } from '../../src/emulator/http.js';
import type { ImageStore } from '../../src/emulator/images.js';
import { createEmulatorCore, type EmulatorOptions } from '../../src/emulator/index.js';
import { matchRoute } from '../../src/emulator/routes.js';
import { RequestBudget } from '../../src/ims/budget.js';
import { ImsClient } from '../../src/ims/client.js';
import type { FakeClock } from './fake-clock.js';

export interface InMemoryRequest {
  readonly method: string;
  readonly path: string;
  /** The raw query string, without '?'. */
  readonly query: string;
  /** The JSON sent (its text when not JSON); undefined without a body. */
  readonly body: unknown;
}

export interface InMemoryIms {
  readonly client: ImsClient;
  /** The emulator's images: change them out of band with its own methods (update, delete, removeTags). */
  readonly store: ImageStore;
  /** API requests served so far. */
  requests(): number;
  readonly requestLog: readonly InMemoryRequest[];
  close(): Promise<void>;
}

/** Never resolvable, so that nothing could reach a network even if the agent let it. */
const ORIGIN = 'http://in-memory-ims.invalid';

export function inMemoryIms(options: Omit<EmulatorOptions, 'clock'> & { clock: FakeClock }): InMemoryIms {
  const { clock, ...emulatorOptions } = options;
  const core = createEmulatorCore({ ...emulatorOptions, clock: () => clock.now() });
  const requestLog: InMemoryRequest[] = [];
  const agent = new MockAgent();
  agent.disableNetConnect();
  agent
    .get(ORIGIN)
    .intercept({ path: () => true, method: () => true })
    .reply(({ method, path: target, body }) => {
      const bytes = bodyBytes(body);
      const { path, queryText } = splitUrl(target);
      requestLog.push({ method, path, query: queryText, body: bytes.length === 0 ? undefined : bodyForLog(bytes) });
      const requestId = core.requestIds.hex32();
      const segments = decodeSegments(path);
      const match = segments && matchRoute(core.routes, method, segments);
      const { status, headers, text } = encodeAnswer(
        requestId,
        match === undefined ? unknownApi(requestId) : runRoute(match, queryText, bytes, ORIGIN),
      );
      return { statusCode: status, data: text, responseOptions: { headers } };
    })
    .persist();
  const client = new ImsClient({
    endpoint: ORIGIN,
    projectId: core.projectId,
    auth: { kind: 'token', token: core.token },
    clock,
    // Nothing here throttles, and a budget waiting for the fake clock would stall a test that does not move it.
    budget: new RequestBudget(clock, { burst: Number.POSITIVE_INFINITY }),
    dispatcher: agent,
  });
  return {
    client,
    store: core.store,
    requests: () => requestLog.length,
    requestLog,
    close: async () => {
      await client.close();
      await agent.close();
    },
  };
}

/** The client sends JSON text; anything else would be a change this support has to learn about. */
function bodyBytes(body: unknown): Buffer {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  throw new Error(`in-memory IMS: a request body of an unexpected kind (${typeof body})`);
}
