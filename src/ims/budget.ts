// One request budget per endpoint, shared by every caller: a token bucket whose rate adapts to
// the answers, as the AWS SDKs' adaptive retry mode does. The endpoint's limit is not configured;
// it is found. Until the first throttling answer the rate grows exponentially (slow start); a
// throttling answer cuts it to 0.7 of the rate actually sent, and it then grows back along a
// cubic curve (as TCP CUBIC does): quickly to just under the rate that was throttled, then
// slowly past it, probing for more.
import type { Clock } from '../clock.js';

export interface BudgetOptions {
  /** Requests per second before anything is known. */
  readonly initialRate?: number;
  readonly minRate?: number;
  readonly maxRate?: number;
  /** How many requests may go at once after a quiet spell. */
  readonly burst?: number;
}

/** The cut after throttling, and CUBIC's scaling constant (requests/s per s³). */
const BETA = 0.7;
const CUBIC_C = 0.4;
/** Slow start: each success raises the rate by this fraction of a request per second. */
const SLOW_START_GAIN = 0.5;
/** The sent rate is measured over windows this long, smoothed. */
const MEASURE_WINDOW_MS = 250;
const SMOOTHING = 0.8;

export class RequestBudget {
  private tokens: number;
  private refilledAt: number;
  private slowStartRate: number;
  /** After the first throttling: the rate that was throttled, and when the rate was cut. */
  private cut: { readonly lastMax: number; readonly at: number } | undefined;
  private measured = 0;
  private window = { start: 0, count: 0 };
  private readonly minRate: number;
  private readonly maxRate: number;
  private readonly burst: number;

  constructor(
    private readonly clock: Clock,
    options: BudgetOptions = {},
  ) {
    this.slowStartRate = options.initialRate ?? 50;
    this.minRate = options.minRate ?? 0.5;
    this.maxRate = options.maxRate ?? 1000;
    this.burst = options.burst ?? 10;
    this.tokens = this.burst;
    this.refilledAt = clock.now();
    this.window.start = this.refilledAt;
  }

  /** The current rate in requests per second. */
  get currentRate(): number {
    if (!this.cut) return this.slowStartRate;
    const t = (this.clock.now() - this.cut.at) / 1000;
    const k = Math.cbrt((this.cut.lastMax * (1 - BETA)) / CUBIC_C);
    return Math.min(this.maxRate, Math.max(this.minRate, CUBIC_C * (t - k) ** 3 + this.cut.lastMax));
  }

  /** Waits for a request's turn. */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const rate = this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        this.measure();
        return;
      }
      await this.clock.sleep(Math.ceil(((1 - this.tokens) / rate) * 1000), signal);
    }
  }

  /** The endpoint throttled a request: cut the rate, once per burst of throttling answers. */
  throttled(): void {
    const now = this.clock.now();
    this.refill();
    this.tokens = Math.min(this.tokens, 0);
    const rate = this.currentRate;
    // Answers to requests sent before the last cut say nothing about the new rate.
    if (this.cut && now - this.cut.at < 1000 / rate + 100) return;
    const sent = this.measured > 0 ? Math.min(rate, this.measured) : rate;
    this.cut = { lastMax: Math.max(this.minRate, sent), at: now };
  }

  /** A request went through. */
  succeeded(): void {
    if (!this.cut) this.slowStartRate = Math.min(this.maxRate, this.slowStartRate + SLOW_START_GAIN);
  }

  private refill(): number {
    const now = this.clock.now();
    const rate = this.currentRate;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * rate);
    this.refilledAt = now;
    return rate;
  }

  /** Smoothed requests per second actually sent. */
  private measure(): void {
    const now = this.clock.now();
    this.window.count++;
    if (now - this.window.start < MEASURE_WINDOW_MS) return;
    const instant = (this.window.count * 1000) / (now - this.window.start);
    this.measured = this.measured === 0 ? instant : SMOOTHING * this.measured + (1 - SMOOTHING) * instant;
    this.window = { start: now, count: 0 };
  }
}
