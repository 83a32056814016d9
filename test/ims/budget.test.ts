import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/ims/backoff.js';
import { RequestBudget } from '../../src/ims/budget.js';
import { FakeClock } from '../support/fake-clock.js';

/** How many of `callers` concurrent acquirers get through within `ms` of virtual time. */
async function admittedWithin(budget: RequestBudget, clock: FakeClock, callers: number, ms: number): Promise<number> {
  let admitted = 0;
  const controller = new AbortController();
  const all = Array.from({ length: callers }, () =>
    budget.acquire(controller.signal).then(
      () => admitted++,
      () => undefined,
    ),
  );
  await clock.advance(ms);
  controller.abort();
  await Promise.all(all);
  return admitted;
}

describe('RequestBudget', () => {
  it('admits the burst at once, then the rate', async () => {
    const clock = new FakeClock();
    const budget = new RequestBudget(clock, { initialRate: 20, burst: 5 });
    expect(await admittedWithin(budget, clock, 100, 0)).toBe(5);
    const admitted = await admittedWithin(budget, clock, 100, 1000);
    expect(admitted).toBeGreaterThanOrEqual(19);
    expect(admitted).toBeLessThanOrEqual(21);
  });

  it('grows exponentially until the first throttling answer (slow start)', () => {
    const budget = new RequestBudget(new FakeClock(), { initialRate: 50 });
    for (let i = 0; i < 100; i++) budget.succeeded();
    expect(budget.currentRate).toBe(100);
  });

  it('cuts to 0.7 of the rate once per burst of throttling answers, then grows back along a cubic curve', async () => {
    const clock = new FakeClock();
    const budget = new RequestBudget(clock, { initialRate: 100 });
    for (let i = 0; i < 20; i++) budget.throttled();
    expect(budget.currentRate).toBeCloseTo(70);
    // K = cbrt(100 * 0.3 / 0.4) ≈ 4.2 s: back to the throttled rate then, and past it after.
    await clock.advance(2000);
    expect(budget.currentRate).toBeGreaterThan(90);
    expect(budget.currentRate).toBeLessThan(100);
    await clock.advance(2217);
    expect(budget.currentRate).toBeCloseTo(100, 0);
    await clock.advance(3000);
    expect(budget.currentRate).toBeGreaterThan(110);
    for (let i = 0; i < 200; i++) budget.succeeded();
    expect(budget.currentRate).toBeLessThan(125);
  });

  it('cuts from the rate actually sent, not from an unused allowance', async () => {
    const clock = new FakeClock();
    const budget = new RequestBudget(clock, { initialRate: 1000, burst: 1000 });
    // Sends 20 a second for 2 seconds, well under the allowance.
    for (let i = 0; i < 40; i++) {
      await budget.acquire();
      await clock.advance(50);
    }
    budget.throttled();
    expect(budget.currentRate).toBeLessThan(20);
  });

  it('never goes below its minimum rate', async () => {
    const clock = new FakeClock();
    const budget = new RequestBudget(clock, { initialRate: 10, minRate: 1 });
    for (let i = 0; i < 50; i++) {
      budget.throttled();
      await clock.advance(1200);
    }
    expect(budget.currentRate).toBeGreaterThanOrEqual(1);
  });

  it('stops waiting when the signal aborts', async () => {
    const clock = new FakeClock();
    const budget = new RequestBudget(clock, { initialRate: 1, burst: 1 });
    await budget.acquire();
    const controller = new AbortController();
    const waiting = budget.acquire(controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
  });
});

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    const policy = { baseMs: 100, capMs: 1000 };
    expect([0, 1, 2, 3, 4, 10].map((attempt) => backoffDelay(attempt, 0.999, policy))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
    expect(backoffDelay(5, 0, policy)).toBe(0);
    expect(backoffDelay(3, 0.5, policy)).toBe(400);
  });
});
