// Every failure of an IMS call as one error type, classified once for every caller: may it be
// sent again, and could the failed attempt have had an effect?

/**
 * `safe`: provably not processed (throttled, connection refused): send again after a pause.
 * `ambiguous`: the request may have been processed (timeout after sending, reset, 5xx, an
 *   unreadable answer): only idempotent requests may be sent again blindly.
 * `never`: the API refused it (other 4xx); sending it again gives the same answer.
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

/** Transport failures: was the request possibly sent? */
export function classifyTransportError(error: unknown): { code: string; retry: Retry; detail: string } {
  const err = error as { code?: string; cause?: { code?: string }; message?: string };
  const code = err.code ?? err.cause?.code ?? 'NETWORK';
  const detail = err.message ?? String(error);
  // The connection never opened, so nothing was sent.
  if (code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return { code, retry: 'safe', detail };
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
    return { code: 'TIMEOUT', retry: 'ambiguous', detail };
  return { code, retry: 'ambiguous', detail };
}
