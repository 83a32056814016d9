export interface BackoffPolicy {
  readonly baseMs: number;
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 200, capMs: 20_000 };

/** Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^attempt)). `random` in [0, 1). */
export function backoffDelay(attempt: number, random: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  return Math.floor(random * Math.min(policy.capMs, policy.baseMs * 2 ** attempt));
}
