import type { Clock } from '../../src/clock.js';

/** Virtual time: `sleep` waits until `advance` moves the clock past its deadline. */
export class FakeClock implements Clock {
  private time: number;
  private waiters: { at: number; resolve: () => void }[] = [];

  constructor(start = Date.parse('2026-11-26T10:00:00Z')) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(signal!.reason as Error);
      };
      // A woken sleeper stops listening: a long-lived signal (a daemon's) collects no listeners.
      const waiter = {
        at: this.time + ms,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The earliest deadline of a sleeper, if any is asleep. */
  nextDeadline(): number | undefined {
    return this.waiters.length === 0 ? undefined : Math.min(...this.waiters.map((w) => w.at));
  }

  /** Moves time on, waking every sleeper whose deadline has come, in deadline order. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      const next = this.waiters.filter((w) => w.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.time = Math.max(this.time, next.at);
      this.waiters = this.waiters.filter((w) => w !== next);
      next.resolve();
      // Let the woken code run (and perhaps sleep again) before looking at the next deadline.
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.time = until;
  }
}
