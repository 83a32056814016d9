// Talking to a real emulator over loopback: token or AK/SK-signed requests, a clock the test moves.
import { request } from 'undici';
import { afterEach } from 'vitest';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/emulator/index.js';
import { signRequest } from '../../src/ims/signer.js';
import { DOC_EXAMPLES } from '../support/ims-doc-examples.js';
import { loopback } from '../support/loopback.js';

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The JSON object answered ({} for an empty body); arrays are read through `text`. */
  readonly json: Record<string, unknown>;
  readonly text: string;
  /** The error code of either error body: IMS `error.code` or the gateway's `error_code`. */
  readonly code: string | undefined;
  /** The error message of either error body. */
  readonly message: string | undefined;
}

export interface CallOptions {
  /** An object is sent as JSON; a string or Buffer as it is. */
  readonly body?: unknown;
  /** token (default), aksk, or none. */
  readonly auth?: 'token' | 'aksk' | 'none';
  /** The token sent; default the emulator's (the default region's). */
  readonly token?: string;
  /** Where to send it, such as a region's endpoint; default the emulator's url. */
  readonly origin?: string;
  readonly headers?: Record<string, string>;
  /** The time put in X-Sdk-Date; default the emulator's clock. */
  readonly signedAt?: Date;
}

export interface TestEmulator {
  readonly emulator: RunningEmulator;
  /** Milliseconds since the epoch as the emulator sees them. */
  now: number;
  /** Moves the emulator's clock. */
  advance(ms: number): void;
  call(method: string, path: string, options?: CallOptions): Promise<Answer>;
  /** A quick import that must be accepted; returns the job id. */
  submit(body: Record<string, unknown>): Promise<string>;
}

const running: RunningEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((emulator) => emulator.close()));
});

export const START = Date.parse('2026-11-26T10:00:00Z');

/** An emulator on an ephemeral port with a clock the test moves (it starts at START); closed after the test. */
export async function testEmulator(options: EmulatorOptions = {}): Promise<TestEmulator> {
  const state = { now: START };
  const emulator = await startEmulator({ seed: 1, jobSeconds: 10, clock: () => state.now, ...options });
  running.push(emulator);
  const test: TestEmulator = {
    emulator,
    get now() {
      return state.now;
    },
    set now(value: number) {
      state.now = value;
    },
    advance(ms) {
      state.now += ms;
    },
    call: (method, path, callOptions = {}) => call(emulator, method, path, callOptions, new Date(state.now)),
    async submit(body) {
      const answer = await test.call('POST', '/v2/cloudimages/quickimport/action', { body });
      if (answer.status !== 200) throw new Error(`import refused: ${answer.text}`);
      return (answer.json as { job_id: string }).job_id;
    },
  };
  return test;
}

export async function call(
  emulator: RunningEmulator,
  method: string,
  path: string,
  options: CallOptions = {},
  now = new Date(),
): Promise<Answer> {
  const body =
    options.body === undefined
      ? ''
      : typeof options.body === 'string' || Buffer.isBuffer(options.body)
        ? options.body
        : JSON.stringify(options.body);
  const url = new URL(path, options.origin ?? emulator.url);
  let headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  const auth = options.auth ?? 'token';
  if (auth === 'token') headers['x-auth-token'] = options.token ?? emulator.token;
  if (auth === 'aksk') {
    const [credentials] = emulator.credentials;
    if (credentials === undefined) throw new Error('the emulator has no credentials');
    headers = signRequest(
      { method, url, headers: { 'x-project-id': emulator.projectId, ...headers }, body: body.toString() },
      credentials,
      options.signedAt ?? now,
    );
  }
  const response = await request(url, {
    method: method as 'GET',
    headers,
    body: body === '' ? null : body,
    dispatcher: loopback,
  });
  const text = await response.body.text();
  const json = (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
  const error = json.error as { code?: string; message?: string } | undefined;
  return {
    status: response.statusCode,
    headers: response.headers,
    json,
    text,
    code: error?.code ?? (json.error_code as string | undefined),
    message: error?.message ?? (json.error_msg as string | undefined),
  };
}

/** What GET /__emulator/{what} holds: requests, images or jobs. */
export async function inspect(
  t: TestEmulator,
  what: 'requests' | 'images' | 'jobs',
): Promise<Record<string, unknown>[]> {
  const answer = await t.call('GET', `/__emulator/${what}`, { auth: 'none' });
  return answer.json[what] as Record<string, unknown>[];
}

/** A valid system image body with `name`, overridable field by field. */
export function systemImage(name: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...DOC_EXAMPLES.minimal, name, ...fields };
}
