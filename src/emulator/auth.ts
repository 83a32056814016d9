// Who is calling: AK/SK signatures checked as the API gateway checks them, or an X-Auth-Token.
// Every API route needs one; the caller's project comes from X-Project-Id (AK/SK; the region's
// project when absent) or from the token's scope.
import type { IncomingHttpHeaders } from 'node:http';
import { verifySignature } from '../ims/signer.js';

export interface AuthConfig {
  /** Access key to secret key. */
  readonly secrets: ReadonlyMap<string, string>;
  /** Each accepted token, and the project it is scoped to. */
  readonly tokens: ReadonlyMap<string, string>;
  /** The project of the endpoint: that of an AK/SK request without X-Project-Id. */
  readonly projectId: string;
  readonly clock: () => number;
}

export interface AuthRequest {
  readonly method: string;
  readonly rawUrl: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** The caller's project, or the reason for the gateway's 401 APIGW.0301. */
export type Authentication =
  { readonly ok: true; readonly projectId: string } | { readonly ok: false; readonly reason: string };

const MAX_SKEW_MS = 15 * 60 * 1000;
// Header values that are credentials: never echoed in an error message.
const SECRET_HEADERS = /^(authorization|x-auth-token|x-security-token):.*$/;

/**
 * A token names the project it is scoped to. An AK/SK request may carry X-Security-Token (temporary
 * credentials): the emulator cannot check it against IAM and accepts the signature alone.
 */
export function authenticate(request: AuthRequest, config: AuthConfig): Authentication {
  const token = request.headers['x-auth-token'];
  if (token !== undefined) {
    const scope = typeof token === 'string' ? config.tokens.get(token) : undefined;
    return scope === undefined ? { ok: false, reason: 'decrypt token fail' } : { ok: true, projectId: scope };
  }
  if (request.headers.authorization === undefined) {
    return { ok: false, reason: 'no X-Auth-Token header and no AK/SK Authorization header' };
  }
  const verification = verifySignature(
    request,
    (accessKey) => config.secrets.get(accessKey),
    new Date(config.clock()),
    MAX_SKEW_MS,
  );
  if (!verification.ok) {
    // As the gateway does, the canonical request it computed, with '|' for newlines, to compare with the client's.
    const canonical = verification.canonicalRequest
      ?.split('\n')
      .map((line) => line.replace(SECRET_HEADERS, (_, name: string) => `${name}:***`))
      .join('|');
    const reason = `verify aksk signature fail, ${verification.reason}`;
    return { ok: false, reason: canonical === undefined ? reason : `${reason},canonicalRequest:${canonical}` };
  }
  const projectHeader = request.headers['x-project-id'];
  return { ok: true, projectId: typeof projectHeader === 'string' ? projectHeader : config.projectId };
}
