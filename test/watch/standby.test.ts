// A standby's wait for the state's lock, on a fake clock: it names the leader once, leads as soon
// as the lock is free, and ends its wait on shutdown without taking anything.
import { describe, expect, it } from 'vitest';
import type { LockHolder } from '../../src/state/store.js';
import { Standby, STANDBY_POLL_MS, waitToLead } from '../../src/watch/standby.js';
import { FakeClock } from '../support/fake-clock.js';
import { advanceBy, quiesce } from '../support/fake-time.js';
import { MemoryStateStore } from '../support/memory-store.js';

describe('waitToLead', () => {
  it('names the leader once, and takes the lock within one poll of its release', async () => {
    const clock = new FakeClock();
    const store = new MemoryStateStore(clock);
    const held = await store.reopen().lock('imsync watch');
    const standby = new Standby();
    const told: (LockHolder | undefined)[] = [];
    let leading = false;
    const waiting = waitToLead(store, 'imsync watch', standby, clock, new AbortController().signal, (holder) =>
      told.push(holder),
    ).then((lock) => {
      leading = true;
      return lock;
    });
    await advanceBy(clock, 10 * STANDBY_POLL_MS);
    expect(leading).toBe(false);
    expect(told).toEqual([held.holder]);
    expect(standby.leader).toEqual(held.holder);

    await held.release();
    const released = clock.now();
    await advanceBy(clock, STANDBY_POLL_MS);
    expect(leading).toBe(true);
    const lock = await waiting;
    expect(lock?.holder.command).toBe('imsync watch');
    expect(clock.now() - released).toBeLessThanOrEqual(STANDBY_POLL_MS);
    // The lock is the standby's now: another writer is refused.
    await expect(store.reopen().lock('imsync apply')).rejects.toMatchObject({ code: 'LOCK_HELD' });
  });

  it('ends its wait on shutdown, holding nothing', async () => {
    const clock = new FakeClock();
    const store = new MemoryStateStore(clock);
    await store.reopen().lock('imsync watch');
    const shutdown = new AbortController();
    const waiting = waitToLead(store, 'imsync watch', new Standby(), clock, shutdown.signal, () => undefined);
    await advanceBy(clock, 3 * STANDBY_POLL_MS);
    shutdown.abort('SIGTERM');
    await quiesce();
    expect(await waiting).toBeUndefined();
  });
});
