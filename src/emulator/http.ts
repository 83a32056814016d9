// The HTTP side: the gateway's behaviour in front of the routes (body size cap, unknown APIs,
// authentication, throttling and injected faults), request ids, the request log, and error bodies.
// A request goes: read body (413) -> route (404) -> rate limit (429) -> injected faults -> auth
// (401) -> project (403) -> handler -> answer, or a lost answer. The steps that need no socket are
// exported, so that tests serving the routes in-process answer exactly as the server does.
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { authenticate, type AuthConfig } from './auth.js';
import { gatewayBody, ImsFailure, type GatewayCode } from './errors.js';
import { DRIP_MS, type FaultInjector } from './faults.js';
import type { RequestLog } from './log.js';
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
  readonly inspect: (method: string, path: string, headers: IncomingHttpHeaders) => ApiAnswer;
}

const JSON_TYPE = 'application/json;charset=UTF-8';
/** The limit an injected 429 names when no rate is set: the gateway's documented default per API. */
const DEFAULT_RATE_LIMIT = 200;

export function createEmulatorServer(parts: ServerParts): Server {
  const reported = new Set<string>();
  return createServer((req, res) => {
    const requestId = parts.requestIds.hex32();
    handle(req, res, requestId, parts).catch((error: unknown) => {
      // A bug, not the client's doing: say so once on stderr, answer 500 if the socket still can.
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      if (!reported.has(text)) {
        reported.add(text);
        process.stderr.write(`imsync emulator: internal error on ${req.method} ${req.url}: ${text}\n`);
      }
      if (!res.headersSent && !res.destroyed) {
        send(res, requestId, { status: 500, body: new ImsFailure('IMG.0061', 'internal emulator error', 500).body });
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
    req.resume();
    send(res, requestId, parts.inspect(method, path, req.headers));
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
  const answer = (result: ApiAnswer): void => {
    entry.status = result.status;
    send(res, requestId, result);
  };
  const gateway = (status: number, code: GatewayCode, message: string): void =>
    answer({ status, body: gatewayBody(code, message, requestId) });

  const body = await readBody(req);
  if (body === 'aborted') return;
  if (body === 'too large') {
    gateway(413, 'APIGW.0201', `Request entity too large: the body is over ${MAX_BODY_BYTES} bytes`);
    return;
  }
  const segments = decodeSegments(path);
  const match = segments && matchRoute(parts.routes, method, segments);
  if (match === undefined) {
    answer(unknownApi(requestId));
    return;
  }
  if (match.route.logBody) entry.body = bodyForLog(body);

  const decision = parts.faults.decide();
  const throttle = (): void =>
    gateway(
      429,
      'APIGW.0308',
      `The throttling threshold has been reached: policy user over ratelimit,limit:${parts.faults.spec.rate ?? DEFAULT_RATE_LIMIT},time:1 second`,
    );
  if (decision.throttled) {
    entry.fault = 'rate';
    throttle();
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
    entry.fault = String(decision.status) as '429' | '500' | '503';
    if (decision.status === 429) throttle();
    else answer({ status: decision.status, body: new ImsFailure('IMG.0061', 'injected fault', decision.status).body });
    return;
  }

  const auth = authenticate({ method, rawUrl, headers: req.headers, body }, parts.auth);
  if (!auth.ok) {
    gateway(401, 'APIGW.0301', `Incorrect IAM authentication information: ${auth.reason}`);
    return;
  }
  // The docs' only 403 code: the project named is not one these credentials may use.
  const project = [auth.projectId, match.params.project_id].find(
    (id) => id !== undefined && id !== parts.auth.projectId,
  );
  if (project !== undefined) {
    const detail = `project ${project} is not the caller's project`;
    answer({ status: 403, body: new ImsFailure('IMG.0026', detail, 403).body });
    return;
  }

  const result = runRoute(match, queryText, body);
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
    drip(res, requestId, result);
    return;
  }
  answer(result);
}

/** The answer a byte every DRIP_MS, then spaces, until the client goes away. */
function drip(res: ServerResponse, requestId: string, answer: ApiAnswer): void {
  const { status, headers, text } = encodeAnswer(requestId, answer);
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
export function encodeAnswer(
  requestId: string,
  { status, body }: ApiAnswer,
): { status: number; headers: Record<string, string>; text: string } {
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
  const { status, headers, text } = encodeAnswer(requestId, answer);
  res.writeHead(status, headers).end(text === '' ? undefined : text);
}
