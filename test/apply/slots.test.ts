// The import slots on a fake clock: the cap learned from IMG.0194, a freed slot handed on, a cap
// taken by others waited out with backoff, and a stop while waiting.
import { describe, expect, it } from 'vitest';
import { ImportSlots } from '../../src/apply/slots.js';
import { FakeClock } from '../support/fake-clock.js';
import { quiesce } from '../support/fake-time.js';

/** Whether `promise` has settled by now, and with what. */
async function settled<T>(promise: Promise<T>): Promise<{ done: boolean; value?: T }> {
  let state: { done: boolean; value?: T } = { done: false };
  void promise.then((value) => (state = { done: true, value }));
  await quiesce();
  return state;
}

describe('ImportSlots', () => {
  const never = new AbortController().signal;

  it('lets every import go until a refusal, then holds the limit at what runs', async () => {
    const slots = new ImportSlots(new FakeClock(), () => 0.5);
    for (let i = 0; i < 3; i++) {
      expect(await slots.acquire(never)).toBe(true);
      slots.accepted();
    }
    expect(await slots.acquire(never)).toBe(true);
    slots.refused(); // three run; the fourth was one too many
    const waiting = slots.acquire(never);
    expect((await settled(waiting)).done).toBe(false);
    slots.ended(); // one of the three ended: its slot goes to the waiting import
    expect(await settled(waiting)).toEqual({ done: true, value: true });
  });

  it('probes one more after as many acceptances in a row as the limit', async () => {
    const slots = new ImportSlots(new FakeClock(), () => 0.5);
    expect(await slots.acquire(never)).toBe(true);
    slots.accepted();
    expect(await slots.acquire(never)).toBe(true);
    slots.refused(); // limit 1
    slots.ended();
    expect(await slots.acquire(never)).toBe(true);
    slots.accepted(); // one accepted at limit 1: the limit grows to 2
    expect((await settled(slots.acquire(never))).done).toBe(true);
  });

  it('waits with backoff when the cap is taken by imports of others (none of ours runs)', async () => {
    const clock = new FakeClock();
    const slots = new ImportSlots(clock, () => 0.5);
    expect(await slots.acquire(never)).toBe(true);
    slots.refused(); // nothing of ours runs: 0.5 × 1 s of quiet
    const waiting = slots.acquire(never);
    await clock.advance(400);
    expect((await settled(waiting)).done).toBe(false);
    await clock.advance(200);
    expect(await settled(waiting)).toEqual({ done: true, value: true });
    slots.refused(); // again: 0.5 × 2 s
    const again = slots.acquire(never);
    await clock.advance(900);
    expect((await settled(again)).done).toBe(false);
    await clock.advance(200);
    expect((await settled(again)).done).toBe(true);
  });

  it('gives up waiting when stopped', async () => {
    const slots = new ImportSlots(new FakeClock(), () => 0.5);
    expect(await slots.acquire(never)).toBe(true);
    slots.accepted();
    expect(await slots.acquire(never)).toBe(true);
    slots.refused();
    const stop = new AbortController();
    const waiting = slots.acquire(stop.signal);
    stop.abort('SIGINT');
    expect(await settled(waiting)).toEqual({ done: true, value: false });
  });
});
