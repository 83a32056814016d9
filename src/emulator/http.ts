// The HTTP side: the gateway's behaviour in front of the routes (body size cap, unknown APIs,
// authentication, throttling and injected faults), request ids, the request log, and error bodies.
// A request goes: read body (413) -> route (404) -> rate limit (429) -> injected faults -> auth
// (401) -> project (403) -> handler -> answer, or a lost answer. The steps that need no socket are
// exported, so that tests serving the routes in-process answer exactly as the server does.
// A request whose Host is an OBS name (obs-routes.ts) is an OBS call instead, on the same port:
// route (405) -> rate limit (503 SlowDown) -> injected faults -> OBS signature (403) -> handler,
// with faults, request ids and a rate limit of its own, so that OBS traffic never shifts IMS's.
import {
  createServer,
  STATUS_CODES,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyObsSignature } from '../obs/signer.js';
import { authenticate, type AuthConfig } from './auth.js';
import { gatewayBody, ImsFailure, type GatewayCode } from './errors.js';
import { DRIP_MS, type FaultInjector } from './faults.js';
import type { FaultName, LoggedRequest, RequestLog } from './log.js';
import type { Obs } from './obs.js';
import { answerObs, obsError, obsHost, obsOperation, pathStyleAnswer, type ObsHost } from './obs-routes.js';
import type { IdSource } from './random.js';
import { matchRoute, type ApiAnswer, type Route } from './routes.js';

/** AK/SK-signed bodies are limited to 12 MB by the gateway (research/ims-api.md §13.3). */
export const MAX_BODY_BYTES = 12 * 1024 * 1024;

export interface ServerParts {
  readonly routes: readonly Route[];
  readonly faults: FaultInjector;
  readonly auth: AuthConfig;
  readonly requestIds: IdSource;
  readonly log: RequestLog;
  readonly clock: () => number;
  /** The /__emulator/ routes: no auth, no faults, not logged. */
  readonly inspect: (method: string, path: string, headers: IncomingHttpHeaders, body: Buffer) => ApiAnswer;
  /** The simulated OBS, its faults (the same spec as IMS's, drawn apart) and its request ids. */
  readonly obs: { readonly world: Obs; readonly faults: FaultInjector; readonly requestIds: IdSource };
}

/** An answer as it goes on the wire. */
export interface WireAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly text: string;
}

const JSON_TYPE = 'application/json;charset=UTF-8';
/** The limit an injected 429 names when no rate is set: the gateway's documented default per API. */
const DEFAULT_RATE_LIMIT = 200;

export function createEmulatorServer(parts: ServerParts): Server {
  const reported = new Set<string>();
  return createServer((req, res) => {
    const obs = obsHost(req.headers.host);
    // OBS's request ids are upper-case, as in its documented samples.
    const requestId = obs === undefined ? parts.requestIds.hex32() : parts.obs.requestIds.hex32().toUpperCase();
    const handled = obs === undefined ? handle(req, res, requestId, parts) : handleObs(req, res, obs, requestId, parts);
    handled.catch((error: unknown) => {
      // A bug, not the client's doing: say so once on stderr, answer 500 if the socket still can.
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      if (!reported.has(text)) {
        reported.add(text);
        process.stderr.write(`imsync emulator: internal error on ${req.method} ${req.url}: ${text}\n`);
      }
      if (!res.headersSent && !res.destroyed) {
        const detail = 'internal emulator error';
        write(
          res,
          obs === undefined
            ? encodeAnswer(requestId, { status: 500, body: new ImsFailure('IMG.0061', detail, 500).body })
            : obsError(req.method ?? 'GET', requestId, 'InternalError', detail),
        );
      } else {
        res.destroy();
      }
    });
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, requestId: string, parts: ServerParts) {
  const method = req.method ?? 'GET';
  const rawUrl = req.url ?? '/';
  const { path, queryText } = splitUrl(rawUrl);

  if (path === '/__emulator' || path.startsWith('/__emulator/')) {
    const body = await readBody(req);
    if (body === 'aborted') return;
    send(
      res,
      requestId,
      body === 'too large'
        ? { status: 413, body: { error: `the body is over ${MAX_BODY_BYTES} bytes` } }
        : parts.inspect(method, path, req.headers, body),
    );
    return;
  }

  const entry = parts.log.add({
    time: new Date(parts.clock()).toISOString(),
    method,
    path,
    query: queryText,
    request_id: requestId,
    status: null,
  });
  const encode = (result: ApiAnswer): WireAnswer => encodeAnswer(requestId, result);
  const gateway = (status: number, code: GatewayCode, message: string): WireAnswer =>
    encode({ status, body: gatewayBody(code, message, requestId) });

  const body = await readBody(req);
  if (body === 'aborted') return;
  if (body === 'too large') {
    reply(res, entry, gateway(413, 'APIGW.0201', `Request entity too large: the body is over ${MAX_BODY_BYTES} bytes`));
    return;
  }
  const segments = decodeSegments(path);
  const match = segments && matchRoute(parts.routes, method, segments);
  if (match === undefined) {
    reply(res, entry, encode(unknownApi(requestId)));
    return;
  }
  if (match.route.logBody) entry.body = bodyForLog(body);

  await serve(req, res, entry, parts.faults, {
    throttled: () =>
      gateway(
        429,
        'APIGW.0308',
        `The throttling threshold has been reached: policy user over ratelimit,limit:${parts.faults.spec.rate ?? DEFAULT_RATE_LIMIT},time:1 second`,
      ),
    injected: (status) => encode({ status, body: new ImsFailure('IMG.0061', 'injected fault', status).body }),
    refuse: () => {
      const auth = authenticate({ method, rawUrl, headers: req.headers, body }, parts.auth);
      if (!auth.ok) return gateway(401, 'APIGW.0301', `Incorrect IAM authentication information: ${auth.reason}`);
      // The docs' only 403 code: the project named is not one these credentials may use.
      const project = [auth.projectId, match.params.project_id].find(
        (id) => id !== undefined && id !== parts.auth.projectId,
      );
      if (project === undefined) return undefined;
      const detail = `project ${project} is not the caller's project`;
      return encode({ status: 403, body: new ImsFailure('IMG.0026', detail, 403).body });
    },
    work: () => encode(runRoute(match, queryText, body)),
  });
}

/** An OBS call: on the bare domain refused (path style), on a bucket's host served (obs-routes.ts). */
async function handleObs(
  req: IncomingMessage,
  res: ServerResponse,
  host: ObsHost,
  requestId: string,
  parts: ServerParts,
) {
  const method = req.method ?? 'GET';
  const rawUrl = req.url ?? '/';
  const { path, queryText } = splitUrl(rawUrl);
  // No OBS call served takes a body.
  req.resume();
  const bucket = host.style === 'virtual' ? host.bucket : decodeSegments(path)?.[0];
  const entry = parts.log.add({
    time: new Date(parts.clock()).toISOString(),
    service: 'obs',
    ...(bucket === undefined || bucket === '' ? {} : { bucket }),
    method,
    path,
    query: queryText,
    request_id: requestId,
    status: null,
  });
  if (host.style === 'path') {
    reply(res, entry, pathStyleAnswer(method, path, requestId));
    return;
  }
  const route = obsOperation(method, path, new URLSearchParams(queryText), requestId);
  if ('refusal' in route) {
    reply(res, entry, route.refusal);
    return;
  }
  await serve(req, res, entry, parts.obs.faults, {
    throttled: () => obsError(method, requestId, 'SlowDown'),
    injected: (status) =>
      obsError(method, requestId, status === 500 ? 'InternalError' : 'ServiceUnavailable', 'injected fault'),
    refuse: () => {
      const verification = verifyObsSignature(
        { method, bucket: host.bucket, rawUrl, headers: req.headers },
        (accessKey) => parts.auth.secrets.get(accessKey),
        new Date(parts.clock()),
      );
      return verification.ok ? undefined : obsError(method, requestId, verification.code, verification.reason);
    },
    work: () =>
      answerObs(parts.obs.world, route.operation, { method, bucket: host.bucket, key: route.key, rawUrl, requestId }),
  });
}

/** What a service answers at the steps that IMS and OBS requests share. */
interface ServiceSteps {
  /** Over the rate limit, or an injected 429. */
  readonly throttled: () => WireAnswer;
  readonly injected: (status: 500 | 503) => WireAnswer;
  /** Who is calling, and whether they may: the refusal, answered at once, or undefined to go on. */
  readonly refuse: () => WireAnswer | undefined;
  /** The work, whose answer the faults may lose, hold back or trickle. */
  readonly work: () => WireAnswer;
}

/**
 * A routed request from the faults on: rate limit, reset, latency, injected errors, who is
 * calling, the work, and what happens to its answer.
 */
async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  entry: LoggedRequest,
  faults: FaultInjector,
  steps: ServiceSteps,
): Promise<void> {
  const decision = faults.decide();
  if (decision.throttled) {
    entry.fault = 'rate';
    reply(res, entry, steps.throttled());
    return;
  }
  if (decision.reset) {
    entry.fault = 'reset';
    req.socket.destroy();
    return;
  }
  if (decision.latencyMs > 0) {
    entry.latency_ms = decision.latencyMs;
    await sleep(decision.latencyMs);
  }
  if (decision.status !== undefined) {
    entry.fault = String(decision.status) as FaultName;
    reply(res, entry, decision.status === 429 ? steps.throttled() : steps.injected(decision.status));
    return;
  }
  const refusal = steps.refuse();
  if (refusal !== undefined) {
    reply(res, entry, refusal);
    return;
  }
  const result = steps.work();
  if (decision.lost) {
    entry.status = result.status;
    entry.fault = 'lost';
    req.socket.destroy();
    return;
  }
  if (decision.hang) {
    // Done, and never answered: the connection stays open until the client gives up on it.
    entry.status = result.status;
    entry.fault = 'hang';
    return;
  }
  if (decision.drip) {
    entry.status = result.status;
    entry.fault = 'drip';
    if (req.method === 'HEAD') dripHead(req, result);
    else drip(res, result);
    return;
  }
  reply(res, entry, result);
}

function reply(res: ServerResponse, entry: LoggedRequest, answer: WireAnswer): void {
  entry.status = answer.status;
  write(res, answer);
}

/** The answer a byte every DRIP_MS, then spaces, until the client goes away. */
function drip(res: ServerResponse, { status, headers, text }: WireAnswer): void {
  // No length: the answer never ends.
  res.writeHead(status, Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'content-length')));
  const bytes = Buffer.from(text);
  let sent = 0;
  const timer = setInterval(() => {
    res.write(sent < bytes.length ? bytes.subarray(sent, sent + 1) : ' ');
    sent++;
  }, DRIP_MS);
  res.on('close', () => clearInterval(timer));
}

/**
 * A HEAD answer has no body to trickle: its head goes out a byte every DRIP_MS instead, straight
 * on the socket, and never ends (its last header's value is spaces that keep coming).
 */
function dripHead(req: IncomingMessage, { status, headers }: WireAnswer): void {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  const bytes = Buffer.from(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${lines.join('')}x-emulator-drip: `);
  let sent = 0;
  const timer = setInterval(() => {
    req.socket.write(sent < bytes.length ? bytes.subarray(sent, sent + 1) : ' ');
    sent++;
  }, DRIP_MS);
  req.socket.on('close', () => clearInterval(timer));
}

/** The path and the raw query string (without '?') of a request target. */
export function splitUrl(rawUrl: string): { path: string; queryText: string } {
  const queryStart = rawUrl.indexOf('?');
  return queryStart < 0
    ? { path: rawUrl, queryText: '' }
    : { path: rawUrl.slice(0, queryStart), queryText: rawUrl.slice(queryStart + 1) };
}

/** The gateway's answer to a path and method that no route serves. */
export function unknownApi(requestId: string): ApiAnswer {
  return {
    status: 404,
    body: gatewayBody('APIGW.0101', 'The API does not exist or has not been published in the environment', requestId),
  };
}

/** The route's answer, or the IMS error it refused with; anything else is a bug and propagates. */
export function runRoute(
  { route, params }: { route: Route; params: Record<string, string> },
  queryText: string,
  body: Buffer,
): ApiAnswer {
  try {
    return route.handle({ params, query: new URLSearchParams(queryText), body });
  } catch (error) {
    if (error instanceof ImsFailure) return { status: error.status, body: error.body };
    throw error;
  }
}

/**
 * The whole body; 'too large' over the cap (read to its end all the same, so that the client gets
 * the answer); 'aborted' when the client went away, which is no error of ours.
 */
async function readBody(req: IncomingMessage): Promise<Buffer | 'too large' | 'aborted'> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    }
  } catch {
    return 'aborted';
  }
  return size > MAX_BODY_BYTES ? 'too large' : Buffer.concat(chunks, size);
}

/** Path segments after the leading '/', percent-decoded; undefined for a malformed escape. */
export function decodeSegments(path: string): string[] | undefined {
  try {
    return path.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

/** A body as the request log keeps it: its JSON, or its text (cut at 1 KiB) when it is not JSON. */
export function bodyForLog(body: Buffer): unknown {
  const text = body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text.length > 1024 ? `${text.slice(0, 1024)}...` : text;
  }
}

/** An answer as it goes on the wire: JSON with its length, or no body at all (204). */
export function encodeAnswer(requestId: string, { status, body }: ApiAnswer): WireAnswer {
  if (body === undefined) return { status, headers: { 'x-request-id': requestId }, text: '' };
  const text = JSON.stringify(body);
  return {
    status,
    headers: {
      'content-type': JSON_TYPE,
      'content-length': String(Buffer.byteLength(text)),
      'x-request-id': requestId,
    },
    text,
  };
}

function send(res: ServerResponse, requestId: string, answer: ApiAnswer): void {
  write(res, encodeAnswer(requestId, answer));
}

function write(res: ServerResponse, { status, headers, text }: WireAnswer): void {
  res.writeHead(status, headers).end(text === '' ? undefined : text);
}
