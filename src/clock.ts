import { setTimeout as delay } from 'node:timers/promises';

/** Time as the engine sees it: passed in, so that tests run on a fake clock without sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The longest wait one Node timer holds (2^31 - 1 ms, about 24.8 days): a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    // A longer wait (a long interval with its jitter) is made of several timers.
    for (let left = ms; ; left -= MAX_TIMER_MS) {
      await delay(Math.min(left, MAX_TIMER_MS), undefined, signal ? { signal } : {});
      if (left <= MAX_TIMER_MS) return;
    }
  },
};
