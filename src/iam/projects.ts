// IAM: finding a region's project, as Huawei Cloud's SDKs do when no project id is given. AK/SK
// ask GET /v3/projects?name={region} (KeystoneListProjects, which the IAM user needs the
// iam:projects:listProjects permission for); a token asks GET /v3/auth/projects
// (KeystoneListAuthProjects: the projects its user may access, no permission needed). The
// region's project is the one named exactly as the region: sub-projects are named
// {region}_{name}. Unlike the Node SDK, a missing project is reported, never created.
import { randomInt } from 'node:crypto';
import type { Agent, Dispatcher } from 'undici';
import { systemClock, type Clock } from '../clock.js';
import { backoffDelay } from '../ims/backoff.js';
import { RequestBudget } from '../ims/budget.js';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  HEADER_VALUE,
  headerValue,
  ownTransport,
  parseRetryAfter,
  readAnswer,
  type Authentication,
  type TransportOptions,
} from '../ims/client.js';
import { classifyStatus, classifyTransportError, parseErrorBody, type Retry } from '../ims/errors.js';
import { iamEndpoint, isProjectId } from '../ims/regions.js';
import { signRequest } from '../ims/signer.js';
import { excerpt } from '../text.js';

/** A failed IAM call: refused (401, 403), an unusable answer, or a transport failure after the retries. */
export class IamError extends Error {
  override readonly name = 'IamError';
  constructor(
    message: string,
    /** IAM's code (IAM.0001, APIGW.0301, ...), HTTP_{status}, or a transport code (ECONNREFUSED, TIMEOUT, BAD_RESPONSE). */
    readonly code: string,
    readonly retry: Retry,
    readonly status?: number,
    /** X-IAM-Trace-Id (or X-Request-Id) of the answer, for Huawei's support. */
    readonly traceId?: string,
    /** Milliseconds the server asked us to wait (Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The region's project, or none: `message` says so, naming the region and the IAM call. */
export type ProjectLookup =
  { readonly kind: 'found'; readonly projectId: string } | { readonly kind: 'none'; readonly message: string };

export interface IamClientOptions extends TransportOptions {
  readonly auth: Authentication;
  /** One IAM endpoint for every region (IMSYNC_IAM_ENDPOINT, an origin); else each region's own. */
  readonly endpoint?: string;
}

/** An account's projects, sub-projects included, are a few hundred at most: some 100 KiB. */
export const MAX_IAM_ANSWER_BYTES = 1024 * 1024;
const TOKEN = /^[A-Za-z0-9._-]{1,64}$/;
const REDACTED = '[redacted]';

export class IamClient {
  readonly budget: RequestBudget;
  private readonly dispatcher: Dispatcher;
  /** The connections made here, closed by close(); none when a dispatcher was given. */
  private readonly ownAgent: Agent | undefined;
  private readonly clock: Clock;

  constructor(private readonly options: IamClientOptions) {
    this.clock = options.clock ?? systemClock;
    this.budget = options.budget ?? new RequestBudget(this.clock);
    // Regions may have IAM endpoints of their own: connections to several origins.
    const transport = ownTransport(options, 4);
    this.dispatcher = transport.dispatcher;
    this.ownAgent = transport.own;
  }

  async close(): Promise<void> {
    await this.ownAgent?.close();
  }

  /** The project of `region`. Throws IamError when IAM refuses, answers nonsense, or cannot be reached. */
  async findProject(region: string, signal?: AbortSignal): Promise<ProjectLookup> {
    const endpoint = iamEndpoint(region, this.options.endpoint);
    const byToken = this.options.auth.kind === 'token';
    const url = new URL(byToken ? '/v3/auth/projects' : `/v3/projects?name=${encodeURIComponent(region)}`, endpoint);
    const what = `IAM GET ${url.href}`;
    const text = await this.send(url, byToken ? 'list_auth_projects' : 'list_projects', what, signal);
    const own = decodeProjects(this.redact(text), what).filter((project) => project.name === region);
    const [project, ...others] = own;
    const giveIt = `IMSYNC_PROJECTS=${region}=<project id>`;
    if (project === undefined) {
      return {
        kind: 'none',
        message: byToken
          ? `none of the projects the token's user may access is named ${region} (${what}); give the project with ${giveIt}`
          : `no project is named ${region} (${what} listed none); confirm the account has that region, or give the project with HW_PROJECT_ID or ${giveIt}`,
      };
    }
    if (others.length > 0) {
      throw new IamError(
        `${what}: ${own.length} projects are named ${region} (${own.map((p) => p.id).join(', ')}); give the one to use with HW_PROJECT_ID or ${giveIt}`,
        'SEVERAL_PROJECTS',
        'never',
      );
    }
    return { kind: 'found', projectId: project.id };
  }

  /** Sends within the budget; throttling, 5xx and transport failures are tried again (a GET changes nothing). */
  private async send(url: URL, route: string, what: string, signal: AbortSignal | undefined): Promise<string> {
    const maxAttempts = this.options.maxAttempts ?? 6;
    for (let attempt = 0; ; attempt++) {
      await this.budget.acquire(signal);
      let error: IamError;
      try {
        const text = await this.sendOnce(url, what, signal);
        this.budget.succeeded();
        this.options.onResponse?.({ route, status: '200' });
        return text;
      } catch (caught) {
        if (!(caught instanceof IamError)) throw caught;
        error = caught;
      }
      this.options.onResponse?.({ route, status: error.status === undefined ? error.code : String(error.status) });
      if (error.status === 429) this.budget.throttled();
      if (error.retry === 'never' || attempt + 1 >= maxAttempts) throw error;
      await this.clock.sleep(error.retryAfterMs ?? backoffDelay(attempt, randomInt(1_000_000) / 1_000_000), signal);
    }
  }

  /** The body of a 2xx answer. */
  private async sendOnce(url: URL, what: string, signal: AbortSignal | undefined): Promise<string> {
    const headers = this.authenticate(url);
    const unsendable = Object.keys(headers).find((name) => !HEADER_VALUE.test(headers[name]!));
    if (unsendable !== undefined) {
      throw new IamError(
        `${what}: the ${unsendable} header holds a character HTTP cannot carry; nothing was sent`,
        'INVALID_HEADER',
        'never',
      );
    }
    const timeoutMs = this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const deadline = AbortSignal.timeout(timeoutMs);
    let response: Dispatcher.ResponseData;
    let text: string | undefined;
    try {
      response = await this.dispatcher.request({
        origin: url.origin,
        method: 'GET',
        path: url.pathname + url.search,
        headers,
        signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
      });
      text = await readAnswer(response.body, MAX_IAM_ANSWER_BYTES);
    } catch (error) {
      if (signal?.aborted) throw error;
      const transport = classifyTransportError(error);
      const detail = deadline.aborted ? `no complete answer within ${timeoutMs / 1000}s` : transport.detail;
      throw new IamError(`${what}: ${this.redact(detail)}`, transport.code, transport.retry);
    }
    const status = response.statusCode;
    if (text === undefined) {
      // The same question gets the same answer: not asked again.
      throw new IamError(
        `${what}: the answer (${status}) is over ${MAX_IAM_ANSWER_BYTES} bytes; it was not read`,
        'ANSWER_TOO_LARGE',
        'never',
        status,
      );
    }
    if (status >= 200 && status < 300) return text;

    const traceId = headerValue(response.headers['x-iam-trace-id']) ?? headerValue(response.headers['x-request-id']);
    const parsed = parseErrorBody(text);
    const code = parsed.code !== undefined && TOKEN.test(parsed.code) ? parsed.code : undefined;
    const message = excerpt(this.redact(parsed.message ?? text), 500) || 'no message';
    const trace = traceId === undefined ? '' : ` (X-IAM-Trace-Id ${excerpt(traceId, 64)})`;
    const hint = this.refusalHint(status);
    throw new IamError(
      `${what}: ${status} ${code ?? 'error'}: ${message}${trace}${hint === undefined ? '' : `; ${hint}`}`,
      code ?? `HTTP_${status}`,
      classifyStatus(status, code),
      status,
      traceId,
      parseRetryAfter(headerValue(response.headers['retry-after']), this.clock.now()),
    );
  }

  /** What a person does about a refusal. */
  private refusalHint(status: number): string | undefined {
    const byToken = this.options.auth.kind === 'token';
    if (status === 401) {
      return byToken
        ? 'the token was not accepted (tokens last 24 hours): give a new HW_AUTH_TOKEN'
        : 'the access key was not accepted: check HW_ACCESS_KEY and HW_SECRET_KEY (temporary ones also need their current HW_SECURITY_TOKEN)';
    }
    if (status === 403 && !byToken) {
      return 'the IAM user may not list projects: grant it the iam:projects:listProjects permission, or give the project with HW_PROJECT_ID or IMSYNC_PROJECTS=region=project-id';
    }
    return undefined;
  }

  private authenticate(url: URL): Record<string, string> {
    const headers = { 'content-type': 'application/json' };
    const { auth } = this.options;
    if (auth.kind === 'token') return { ...headers, 'x-auth-token': auth.token };
    return signRequest({ method: 'GET', url, headers, body: '' }, auth.credentials, new Date(this.clock.now()));
  }

  /**
   * Text from an answer without our secrets: a gateway refusing a signature may quote the
   * canonical request it computed, and with it the signed X-Security-Token.
   */
  private redact(text: string): string {
    const { auth } = this.options;
    const secrets = auth.kind === 'token' ? [auth.token] : [auth.credentials.secretKey, auth.credentials.securityToken];
    return secrets.reduce<string>((out, secret) => (secret ? out.split(secret).join(REDACTED) : out), text);
  }
}

interface Project {
  readonly id: string;
  readonly name: string;
}

/** The `projects` of an answer; an answer with any project of no usable id or name is refused whole. */
function decodeProjects(text: string, what: string): Project[] {
  const bad = (detail: string) =>
    new IamError(
      `${what}: unexpected answer (${detail}): ${excerpt(text) || 'an empty body'}`,
      'BAD_RESPONSE',
      'never',
    );
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const projects = (json as { projects?: unknown } | null)?.projects;
  if (!Array.isArray(projects)) throw bad('no projects array');
  return projects.map((value: unknown) => {
    const { id, name } = (value ?? {}) as { id?: unknown; name?: unknown };
    if (typeof id !== 'string' || !isProjectId(id) || typeof name !== 'string') {
      throw bad('a project without a usable id or name');
    }
    return { id, name };
  });
}
