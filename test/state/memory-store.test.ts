// The in-memory StateStore of the unit tests (test/support/memory-store.ts) honours the contract
// every backend does, so that tests run on it prove what they would on a file.
import { describe, expect, it } from 'vitest';
import { emptyState, type State } from '../../src/state/model.js';
import { FakeClock } from '../support/fake-clock.js';
import { advanceBy } from '../support/fake-time.js';
import { MemoryStateStore } from '../support/memory-store.js';
import { systemSpec } from '../support/specs.js';
import { submitted } from '../support/states.js';
import { describeStateStore } from '../support/state-store-contract.js';

describeStateStore('memory', () => {
  const store = new MemoryStateStore();
  return Promise.resolve({ store, reopen: () => store.reopen() });
});

describe('in-memory state store', () => {
  it('reads back through the codec: a state the schema refuses is STATE_INVALID, as from a file', async () => {
    const store = new MemoryStateStore();
    const state = submitted(emptyState(), 'web', systemSpec('web'));
    const invalid = { ...state, images: { web: { ...state.images.web!, phase: 'unknown' } } } as unknown as State;
    await store.write(invalid);
    await expect(store.read()).rejects.toMatchObject({ code: 'STATE_INVALID' });
  });

  it('waits for a lock on its clock, and gives LOCK_HELD once the wait is over', async () => {
    const clock = new FakeClock();
    const store = new MemoryStateStore(clock);
    const lock = await store.lock('imsync watch');
    let outcome: unknown;
    const waiting = store
      .reopen()
      .lock('imsync apply', 5_000)
      .then(
        () => (outcome = 'locked'),
        (error: unknown) => (outcome = error),
      );
    await advanceBy(clock, 4_900);
    expect(outcome).toBeUndefined();
    await advanceBy(clock, 100);
    await waiting;
    expect(outcome).toMatchObject({ code: 'LOCK_HELD', holder: { id: lock.holder.id } });
    await lock.release();
    expect(store.holder).toBeUndefined();
  });

  it('rebuilds a new lineage at serial 1, keeping the old state aside', async () => {
    const store = new MemoryStateStore();
    const old = await store.write(submitted(emptyState(), 'web', systemSpec('web')));
    const { state, aside } = await store.rebuild(emptyState());
    expect(state).toMatchObject({ serial: 1, images: {} });
    expect(state.lineage).not.toBe(old.lineage);
    expect(store.asideState(aside!)).toEqual(old);
    expect(await store.reopen().read()).toEqual(state);
  });
});
