// Every failure of an IMS call as one error type, classified once for every caller: may it be
// sent again, and could the failed attempt have had an effect?

/**
 * `safe`: provably not processed (throttled, connection refused): send again after a pause.
 * `ambiguous`: the request may have been processed (timeout after sending, reset, 5xx, an
 *   unreadable answer): only idempotent requests may be sent again blindly.
 * `never`: the API refused it (other 4xx), or it could not be sent at all (a header HTTP cannot
 *   carry, an untrusted TLS certificate); sending it again gives the same answer.
 */
export type Retry = 'safe' | 'ambiguous' | 'never';

export class ImsError extends Error {
  override readonly name = 'ImsError';
  constructor(
    message: string,
    /** The API's code (IMG.0057, APIGW.0308, ...), or a transport code (ECONNREFUSED, TIMEOUT, BAD_RESPONSE). */
    readonly code: string,
    readonly retry: Retry,
    readonly status?: number,
    readonly requestId?: string,
    /** Milliseconds the server asked us to wait (Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Gateway throttling (either prefix), IMS flow control, and the import concurrency cap. */
const THROTTLING_CODES = new Set(['APIG.0308', 'APIGW.0308', 'IMG.0060', 'IMG.0194']);

/** Both documented error bodies: IMS `{"error":{code,message}}` and the gateway's `{error_code,error_msg}`. */
export function parseErrorBody(text: string): { code?: string; message?: string } {
  try {
    const body = JSON.parse(text) as {
      error?: { code?: unknown; message?: unknown };
      error_code?: unknown;
      error_msg?: unknown;
    };
    const code = body.error?.code ?? body.error_code;
    const message = body.error?.message ?? body.error_msg;
    return {
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof message === 'string' ? { message } : {}),
    };
  } catch {
    return {};
  }
}

export function classifyStatus(status: number, code: string | undefined): Retry {
  if (status === 429 || (code !== undefined && THROTTLING_CODES.has(code))) return 'safe';
  if (status >= 500) return 'ambiguous';
  return 'never';
}

/** Refused before a byte of the request left: the same request meets the same refusal. */
const REFUSED_BEFORE_SENDING = new Set([
  // undici's and node's checks of the request itself (a header value HTTP cannot carry, ...).
  'UND_ERR_INVALID_ARG',
  'ERR_INVALID_CHAR',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_HTTP_INVALID_HEADER_VALUE',
  // The endpoint's TLS certificate is not one to trust: the handshake ended before the request.
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Transport failures: was the request possibly sent? */
export function classifyTransportError(error: unknown): { code: string; retry: Retry; detail: string } {
  const err = error as { name?: string; code?: unknown; cause?: { code?: unknown }; message?: string };
  const detail = err.message ?? String(error);
  // The request's deadline (AbortSignal.timeout), whatever it interrupted: it may have been processed.
  if (err.name === 'TimeoutError') return { code: 'TIMEOUT', retry: 'ambiguous', detail };
  const given = typeof err.code === 'string' ? err.code : err.cause?.code;
  const code = typeof given === 'string' ? given : 'NETWORK';
  // The connection never opened, so nothing was sent.
  if (code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return { code, retry: 'safe', detail };
  }
  if (REFUSED_BEFORE_SENDING.has(code)) return { code, retry: 'never', detail };
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
    return { code: 'TIMEOUT', retry: 'ambiguous', detail };
  return { code, retry: 'ambiguous', detail };
}
