// Faults for tests: a request rate limit, injected error answers, latency, connections reset
// before the work, and answers lost, held back or trickled out after it. Every random choice comes from one seeded stream, so
// a seed replays the same faults for the same sequence of requests.
import { mulberry32 } from './random.js';

const GRAMMAR =
  'name=value items separated by commas, each name at most once: rate=N (API requests per second), ' +
  '429=P, 500=P, 503=P, reset=P, lost=P, hang=P, drip=P (probabilities from 0 to 1; 429+500+503 at most 1, lost+hang+drip at most 1), ' +
  'latency=MS or latency=MIN-MAX (milliseconds), jobcap=N (concurrent import jobs)';

/**
 * What --faults asks for. The grammar: `name=value` items separated by commas, each name at most once:
 * - `rate=N`: N requests per second over all API routes (a token bucket holding at most N);
 *   requests over it are answered 429 APIGW.0308 and count against nothing else.
 * - `429=P`, `500=P`, `503=P`: the probability that a request gets that answer instead of the work.
 * - `latency=MS` or `latency=MIN-MAX`: a delay before answering, uniform in the range.
 * - `reset=P`: the probability that the connection is destroyed before any work.
 * - `lost=P`: the probability that the work is done and the connection destroyed without an answer.
 * - `hang=P`: the probability that the work is done and no answer ever comes, the connection left
 *   open: the client's request timeout ends it.
 * - `drip=P`: the probability that the work is done and the answer trickles out a byte at a time,
 *   DRIP_MS apart, and never ends (spaces follow the answer): every byte restarts an idle
 *   timeout, so only a deadline on the whole request ends it.
 * - `jobcap=N`: import jobs allowed to run at once (overrides maxConcurrentImports).
 */
export interface FaultSpec {
  readonly rate?: number;
  readonly error429?: number;
  readonly error500?: number;
  readonly error503?: number;
  readonly latencyMs?: readonly [min: number, max: number];
  readonly reset?: number;
  readonly lost?: number;
  readonly hang?: number;
  readonly drip?: number;
  readonly jobcap?: number;
}

/** How far apart the bytes of a dripping answer come. */
export const DRIP_MS = 200;

const PROBABILITIES = {
  '429': 'error429',
  '500': 'error500',
  '503': 'error503',
  reset: 'reset',
  lost: 'lost',
  hang: 'hang',
  drip: 'drip',
} as const;

export function parseFaults(spec: string): FaultSpec {
  const faults: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const bad = (why: string): Error => new Error(`invalid fault "${item}" in "${spec}": ${why}. Expected ${GRAMMAR}`);
    const eq = item.indexOf('=');
    if (eq < 0) throw bad('missing "="');
    const name = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (seen.has(name)) throw bad(`${name} is given twice`);
    seen.add(name);
    if (Object.hasOwn(PROBABILITIES, name)) {
      const p = Number(value);
      if (value === '' || !Number.isFinite(p) || p < 0 || p > 1) throw bad(`${name} must be a probability from 0 to 1`);
      faults[PROBABILITIES[name as keyof typeof PROBABILITIES]] = p;
    } else if (name === 'rate') {
      const rate = Number(value);
      if (value === '' || !Number.isFinite(rate) || rate <= 0)
        throw bad('rate must be a positive number of requests per second');
      faults.rate = rate;
    } else if (name === 'latency') {
      const range = /^(\d+)(?:-(\d+))?$/.exec(value);
      const min = Number(range?.[1]);
      const max = Number(range?.[2] ?? range?.[1]);
      if (!range || min > max) throw bad('latency must be MS or MIN-MAX in whole milliseconds, MIN at most MAX');
      faults.latencyMs = [min, max];
    } else if (name === 'jobcap') {
      if (!/^\d+$/.test(value)) throw bad('jobcap must be a whole number');
      faults.jobcap = Number(value);
    } else {
      throw bad(`unknown fault ${JSON.stringify(name)}`);
    }
  }
  const result = faults as FaultSpec;
  if ((result.error429 ?? 0) + (result.error500 ?? 0) + (result.error503 ?? 0) > 1) {
    throw new Error(`invalid faults "${spec}": 429, 500 and 503 add up to more than 1. Expected ${GRAMMAR}`);
  }
  if ((result.lost ?? 0) + (result.hang ?? 0) + (result.drip ?? 0) > 1) {
    throw new Error(`invalid faults "${spec}": lost, hang and drip add up to more than 1. Expected ${GRAMMAR}`);
  }
  return result;
}

/** What happens to one API request. */
export interface FaultDecision {
  /** Over the rate limit: answered 429 at once, nothing else decided. */
  readonly throttled: boolean;
  readonly reset: boolean;
  readonly status: 429 | 500 | 503 | undefined;
  readonly lost: boolean;
  readonly hang: boolean;
  readonly drip: boolean;
  readonly latencyMs: number;
}

const NONE: FaultDecision = {
  throttled: false,
  reset: false,
  status: undefined,
  lost: false,
  hang: false,
  drip: false,
  latencyMs: 0,
};
const THROTTLED: FaultDecision = { ...NONE, throttled: true };

export class FaultInjector {
  private random: () => number;
  private tokens: number;
  private refilledAt: number;

  constructor(
    readonly spec: FaultSpec,
    private readonly seed: number,
    private readonly clock: () => number,
  ) {
    this.random = mulberry32(seed);
    this.tokens = burst(spec);
    this.refilledAt = clock();
  }

  /** Back to the start: a full bucket and the seed's first number. */
  reset(): void {
    this.random = mulberry32(this.seed);
    this.tokens = burst(this.spec);
    this.refilledAt = this.clock();
  }

  /** Called once per API request, in arrival order. */
  decide(): FaultDecision {
    if (this.spec.rate !== undefined && !this.take(this.spec.rate)) return THROTTLED;
    // Always four draws per request, so that which faults are switched on never shifts the others.
    const [resetDraw, statusDraw, lostDraw, latencyDraw] = [this.random(), this.random(), this.random(), this.random()];
    const { error429 = 0, error500 = 0, error503 = 0, lost = 0, hang = 0, drip = 0 } = this.spec;
    const [min, max] = this.spec.latencyMs ?? [0, 0];
    let status: FaultDecision['status'];
    if (statusDraw < error429) status = 429;
    else if (statusDraw < error429 + error500) status = 500;
    else if (statusDraw < error429 + error500 + error503) status = 503;
    return {
      throttled: false,
      reset: resetDraw < (this.spec.reset ?? 0),
      status,
      lost: lostDraw < lost,
      // The same draw as lost: switching hang or drip on shifts no other fault.
      hang: lostDraw >= lost && lostDraw < lost + hang,
      drip: lostDraw >= lost + hang && lostDraw < lost + hang + drip,
      latencyMs: min + Math.floor(latencyDraw * (max - min + 1)),
    };
  }

  private take(rate: number): boolean {
    const now = this.clock();
    this.tokens = Math.min(burst(this.spec), this.tokens + (Math.max(0, now - this.refilledAt) * rate) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** The bucket holds one second of requests, and at least one. */
function burst(spec: FaultSpec): number {
  return Math.max(1, spec.rate ?? 0);
}
