// The HTTP side: the gateway's behaviour in front of the routes (body size cap, unknown APIs,
// authentication, throttling and injected faults), request ids, the request log, and error bodies.
// The Host header says which service and region a request is for (regions.ts): a region's IMS,
// its OBS, or IAM; a host that names no region is the default region's IMS, as when the emulator
// served one region only. An API request goes: read body (413) -> route (404) -> rate limit (429)
// -> injected faults -> auth (401) -> project (403, IMS only) -> handler -> answer, or a lost
// answer. The steps that need no socket are exported, so that tests serving the routes in-process
// answer exactly as the server does.
// A request whose Host is an OBS name (obs-routes.ts) is an OBS call instead, on the same port:
// route (405) -> rate limit (503 SlowDown) -> injected faults -> OBS signature (403) -> handler,
// with faults, request ids and a rate limit of its own, so that OBS traffic never shifts IMS's.
// A region that is down drops every connection to its hosts, IMS and OBS, as soon as the request
// arrives: what a client sees of a region out of reach (a reset, nothing answered, nothing done).
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyObsSignature } from '../obs/signer.js';
import { authenticate } from './auth.js';
import { gatewayBody, ImsFailure, type GatewayCode } from './errors.js';
import { DRIP_MS, type FaultInjector } from './faults.js';
import { keystoneError } from './iam.js';
import type { InspectCall } from './inspect.js';
import type { FaultName, LoggedRequest, RequestLog } from './log.js';
import type { Obs } from './obs.js';
import { answerObs, obsError, obsOperation, pathStyleAnswer, type ObsHost } from './obs-routes.js';
import { addressOf, IAM_DOMAIN, imsDomain, type GatewayParts, type Regions, type RegionWorld } from './regions.js';
import { matchRoute, type ApiAnswer, type Route } from './routes.js';

/** AK/SK-signed bodies are limited to 12 MB by the gateway (research/ims-api.md §13.3). */
export const MAX_BODY_BYTES = 12 * 1024 * 1024;

export interface ServerParts {
  /** The regions served, the default first, and which of them are down. */
  readonly worlds: Regions;
  /** IAM's gateway on iam.localhost: global, so no region and no project of the caller's to check. */
  readonly iam: GatewayParts;
  readonly log: RequestLog;
  readonly clock: () => number;
  /** The /__emulator/ routes, on any host but OBS's: no auth, no faults, not logged, never down. */
  readonly inspect: (call: InspectCall) => ApiAnswer;
  /** The simulated OBS: one for every region, each region's endpoint seeing the buckets of its own. */
  readonly obs: Obs;
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

/** Where a request goes, from its Host and path. */
type Target =
  /** `region`: the one the host names, if any. */
  | { readonly kind: 'inspect'; readonly region: string | undefined }
  | { readonly kind: 'iam' }
  | { readonly kind: 'ims'; readonly world: RegionWorld }
  | { readonly kind: 'obs'; readonly world: RegionWorld; readonly host: ObsHost }
  | { readonly kind: 'down'; readonly world: RegionWorld; readonly service: 'ims' | 'obs' }
  | { readonly kind: 'unserved'; readonly region: string };

function targetOf(req: IncomingMessage, parts: ServerParts): Target {
  const addressed = addressOf(req.headers.host);
  const { path } = splitUrl(req.url ?? '/');
  if (addressed.service !== 'obs' && (path === '/__emulator' || path.startsWith('/__emulator/'))) {
    return { kind: 'inspect', region: addressed.service === 'ims' ? addressed.region : undefined };
  }
  if (addressed.service === 'iam') return { kind: 'iam' };
  const world = addressed.region === undefined ? parts.worlds.default : parts.worlds.get(addressed.region);
  if (world === undefined) return { kind: 'unserved', region: addressed.region ?? '' };
  if (parts.worlds.isDown(world.region)) return { kind: 'down', world, service: addressed.service };
  return addressed.service === 'obs' ? { kind: 'obs', world, host: addressed.host } : { kind: 'ims', world };
}

function requestIdOf(target: Target, parts: ServerParts): string {
  switch (target.kind) {
    case 'iam':
      return parts.iam.requestIds.hex32();
    case 'ims':
      return target.world.requestIds.hex32();
    // OBS's request ids are upper-case, as in its documented samples.
    case 'obs':
      return target.world.obs.requestIds.hex32().toUpperCase();
    case 'down':
      return target.service === 'obs'
        ? target.world.obs.requestIds.hex32().toUpperCase()
        : target.world.requestIds.hex32();
    case 'inspect':
    case 'unserved':
      return parts.worlds.default.requestIds.hex32();
  }
}

export function createEmulatorServer(parts: ServerParts): Server {
  const reported = new Set<string>();
  return createServer((req, res) => {
    const target = targetOf(req, parts);
    const requestId = requestIdOf(target, parts);
    const handled = serveTarget(req, res, target, requestId, parts);
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
          target.kind === 'obs'
            ? obsError(req.method ?? 'GET', requestId, 'InternalError', detail)
            : encodeAnswer(requestId, { status: 500, body: new ImsFailure('IMG.0061', detail, 500).body }),
        );
      } else {
        res.destroy();
      }
    });
  });
}

async function serveTarget(
  req: IncomingMessage,
  res: ServerResponse,
  target: Target,
  requestId: string,
  parts: ServerParts,
): Promise<void> {
  switch (target.kind) {
    case 'inspect':
      return inspectRequest(req, res, target.region, requestId, parts);
    case 'iam':
      return handleApi(req, res, requestId, parts, {
        gateway: parts.iam,
        logged: { service: 'iam' },
        failure: (status) => keystoneError(status, 'injected fault'),
      });
    case 'ims':
      return handleApi(req, res, requestId, parts, {
        gateway: target.world,
        logged: regionField(parts, target.world),
        world: target.world,
        failure: (status) => new ImsFailure('IMG.0061', 'injected fault', status).body,
      });
    case 'obs':
      return handleObs(req, res, target.host, target.world, requestId, parts);
    case 'down': {
      logEntry(req, requestId, parts, {
        ...(target.service === 'obs' ? { service: 'obs' } : {}),
        ...regionField(parts, target.world),
      }).fault = 'down';
      req.socket.destroy();
      return;
    }
    case 'unserved': {
      req.resume();
      const entry = logEntry(req, requestId, parts, { region: target.region });
      const served = parts.worlds.names().join(', ');
      const detail = `the emulator serves no region ${target.region} (it serves ${served})`;
      reply(res, entry, encodeAnswer(requestId, unknownApi(requestId, detail)));
      return;
    }
  }
}

/** A log entry says which region a request went to when the emulator serves several. */
function regionField(parts: ServerParts, world: RegionWorld): Pick<LoggedRequest, 'region'> {
  return parts.worlds.several ? { region: world.region } : {};
}

function logEntry(
  req: IncomingMessage,
  requestId: string,
  parts: ServerParts,
  fields: Pick<LoggedRequest, 'service' | 'region' | 'bucket'>,
): LoggedRequest {
  const { path, queryText } = splitUrl(req.url ?? '/');
  return parts.log.add({
    time: new Date(parts.clock()).toISOString(),
    ...fields,
    method: req.method ?? 'GET',
    path,
    query: queryText,
    request_id: requestId,
    status: null,
  });
}

async function inspectRequest(
  req: IncomingMessage,
  res: ServerResponse,
  region: string | undefined,
  requestId: string,
  parts: ServerParts,
) {
  const { path, queryText } = splitUrl(req.url ?? '/');
  const body = await readBody(req);
  if (body === 'aborted') return;
  send(
    res,
    requestId,
    body === 'too large'
      ? { status: 413, body: { error: `the body is over ${MAX_BODY_BYTES} bytes` } }
      : parts.inspect({
          method: req.method ?? 'GET',
          path,
          query: new URLSearchParams(queryText),
          headers: req.headers,
          body,
          region,
        }),
  );
}

/** An API behind its gateway: a region's IMS, or IAM. */
interface ApiService {
  readonly gateway: GatewayParts;
  /** What the log says of the service: its name (none for IMS), its region. */
  readonly logged: Pick<LoggedRequest, 'service' | 'region'>;
  /** The region of an IMS request, whose project the caller's must be; none for IAM. */
  readonly world?: RegionWorld;
  /** The body of an injected 500 or 503, in the service's own error shape. */
  readonly failure: (status: 500 | 503) => unknown;
}

async function handleApi(
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  parts: ServerParts,
  { gateway: service, logged, world, failure }: ApiService,
) {
  const method = req.method ?? 'GET';
  const rawUrl = req.url ?? '/';
  const { path, queryText } = splitUrl(rawUrl);
  const entry = logEntry(req, requestId, parts, logged);
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
  const match = segments && matchRoute(service.routes, method, segments);
  if (match === undefined) {
    reply(res, entry, encode(unknownApi(requestId)));
    return;
  }
  if (match.route.logBody) entry.body = bodyForLog(body);

  await serve(req, res, entry, service.faults, {
    throttled: () =>
      gateway(
        429,
        'APIGW.0308',
        `The throttling threshold has been reached: policy user over ratelimit,limit:${service.faults.spec.rate ?? DEFAULT_RATE_LIMIT},time:1 second`,
      ),
    injected: (status) => encode({ status, body: failure(status) }),
    refuse: () => {
      const auth = authenticate({ method, rawUrl, headers: req.headers, body }, service.auth);
      if (!auth.ok) return gateway(401, 'APIGW.0301', `Incorrect IAM authentication information: ${auth.reason}`);
      if (world === undefined) return undefined;
      // The docs' only 403 code: the project named is not one these credentials may use here.
      const project = [auth.projectId, match.params.project_id].find(
        (id) => id !== undefined && id !== world.projectId,
      );
      if (project === undefined) return undefined;
      return encode({ status: 403, body: new ImsFailure('IMG.0026', foreignProject(project, world, parts), 403).body });
    },
    work: () => encode(runRoute(match, queryText, body, `http://${req.headers.host ?? IAM_DOMAIN}`)),
  });
}

/** Why a project is refused at a region's IMS; a project of another region served says where it belongs. */
function foreignProject(project: string, world: RegionWorld, parts: ServerParts): string {
  const refused = `project ${project} is not the caller's project`;
  const owner = parts.worlds.ofProject(project);
  if (owner === undefined) return refused;
  return `${refused} in region ${world.region}: it is region ${owner.region}'s, whose IMS is ${imsDomain(owner.region)}`;
}

/** An OBS call: on the bare domain refused (path style), on a bucket's host served (obs-routes.ts). */
async function handleObs(
  req: IncomingMessage,
  res: ServerResponse,
  host: ObsHost,
  world: RegionWorld,
  requestId: string,
  parts: ServerParts,
) {
  const method = req.method ?? 'GET';
  const rawUrl = req.url ?? '/';
  const { path, queryText } = splitUrl(rawUrl);
  // No OBS call served takes a body.
  req.resume();
  const bucket = host.style === 'virtual' ? host.bucket : decodeSegments(path)?.[0];
  const entry = logEntry(req, requestId, parts, {
    service: 'obs',
    ...regionField(parts, world),
    ...(bucket === undefined || bucket === '' ? {} : { bucket }),
  });
  if (host.style === 'path') {
    reply(res, entry, pathStyleAnswer(method, path, requestId, host));
    return;
  }
  const route = obsOperation(method, path, new URLSearchParams(queryText), requestId);
  if ('refusal' in route) {
    reply(res, entry, route.refusal);
    return;
  }
  await serve(req, res, entry, world.obs.faults, {
    throttled: () => obsError(method, requestId, 'SlowDown'),
    injected: (status) =>
      obsError(method, requestId, status === 500 ? 'InternalError' : 'ServiceUnavailable', 'injected fault'),
    refuse: () => {
      const verification = verifyObsSignature(
        { method, bucket: host.bucket, rawUrl, headers: req.headers },
        (accessKey) => world.auth.secrets.get(accessKey),
        new Date(parts.clock()),
      );
      return verification.ok ? undefined : obsError(method, requestId, verification.code, verification.reason);
    },
    work: () =>
      answerObs(parts.obs, route.operation, {
        method,
        region: world.region,
        bucket: host.bucket,
        key: route.key,
        rawUrl,
        requestId,
      }),
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

/** The gateway's answer to a path and method that no route serves; `detail` says more. */
export function unknownApi(requestId: string, detail?: string): ApiAnswer {
  const message = 'The API does not exist or has not been published in the environment';
  return {
    status: 404,
    body: gatewayBody('APIGW.0101', detail === undefined ? message : `${message}: ${detail}`, requestId),
  };
}

/** The route's answer, or the IMS error it refused with; anything else is a bug and propagates. */
export function runRoute(
  { route, params }: { route: Route; params: Record<string, string> },
  queryText: string,
  body: Buffer,
  origin: string,
): ApiAnswer {
  try {
    return route.handle({ params, query: new URLSearchParams(queryText), body, origin });
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
