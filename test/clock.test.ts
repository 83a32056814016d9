// The system clock: what the engine and the daemon wait on outside tests.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';

describe('systemClock.sleep', () => {
  it('waits longer than the longest Node timer (2^31 - 1 ms) instead of waking at once', async () => {
    const stop = new AbortController();
    let woke = false;
    const sleeping = systemClock.sleep(2 ** 31 + 60_000, stop.signal).then(
      () => (woke = true),
      () => undefined,
    );
    await delay(50);
    expect(woke).toBe(false);
    stop.abort();
    await sleeping;
    expect(woke).toBe(false);
  });
});
