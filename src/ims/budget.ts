// One request budget per endpoint, shared by every caller: a token bucket whose rate adapts to
// the answers, like the AWS SDKs' adaptive retry mode. The endpoint's limit is not configured;
// it is found: each throttling answer cuts the rate, and every success raises it a little.
import type { Clock } from '../clock.js';

export interface BudgetOptions {
  /** Requests per second before anything is known. */
  readonly initialRate?: number;
  readonly minRate?: number;
  readonly maxRate?: number;
  /** How many requests may go at once after a quiet spell. */
  readonly burst?: number;
}

const DECREASE = 0.7;
/** Additive increase: about this many requests per second more, each second without throttling. */
const INCREASE_PER_SECOND = 2;

export class RequestBudget {
  private rate: number;
  private tokens: number;
  private refilledAt: number;
  private lastDecreaseAt = -Infinity;
  private readonly minRate: number;
  private readonly maxRate: number;
  private readonly burst: number;

  constructor(
    private readonly clock: Clock,
    options: BudgetOptions = {},
  ) {
    this.rate = options.initialRate ?? 50;
    this.minRate = options.minRate ?? 0.5;
    this.maxRate = options.maxRate ?? 1000;
    this.burst = options.burst ?? 10;
    this.tokens = this.burst;
    this.refilledAt = clock.now();
  }

  /** The current rate in requests per second. */
  get currentRate(): number {
    return this.rate;
  }

  /** Waits for a request's turn. */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.clock.sleep(Math.ceil(((1 - this.tokens) / this.rate) * 1000), signal);
    }
  }

  /** A request was throttled: slow down, once per burst of throttling answers. */
  throttled(): void {
    const now = this.clock.now();
    this.refill();
    this.tokens = Math.min(this.tokens, 0);
    // Answers to requests sent before the last cut say nothing about the new rate.
    if (now - this.lastDecreaseAt < 1000 / this.rate + 100) return;
    this.lastDecreaseAt = now;
    this.rate = Math.max(this.minRate, this.rate * DECREASE);
  }

  /** A request went through: probe a little higher. */
  succeeded(): void {
    this.rate = Math.min(this.maxRate, this.rate + INCREASE_PER_SECOND / this.rate);
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
  }
}
