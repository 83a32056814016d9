// The conformance suite every StateStore backend must pass: the file, memory and PostgreSQL stores.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { emptyState, type State } from '../../src/state/model.js';
import { StateError, type StateStore } from '../../src/state/store.js';
import { stateFailure } from './failure.js';
import { systemSpec } from './specs.js';
import { preflightCache, sourced, submitted } from './states.js';

export interface StoreFixture {
  /** A fresh, empty store. */
  readonly store: StateStore;
  /** A second handle on the same stored state, as another process would open it. */
  readonly reopen: () => StateStore;
}

function withImport(state: State, key: string): State {
  return submitted(state, key, systemSpec(key));
}

export function describeStateStore(name: string, open: () => Promise<StoreFixture>): void {
  describe(`StateStore contract: ${name}`, () => {
    it('reads an empty state (serial 0, no lineage) when nothing was ever written', async () => {
      const { store } = await open();
      expect(await store.read()).toEqual(emptyState());
    });

    it('reads an empty state under its own lock before the first write: that lock is no sign of a lost state', async () => {
      const { store } = await open();
      const lock = await store.lock('imsync apply');
      expect(await store.read()).toEqual(emptyState());
      const first = await store.write(withImport(await store.read(), 'a'));
      await lock.release();
      expect(first.serial).toBe(1);
    });

    it('fixes the lineage on the first write and increments the serial on every write', async () => {
      const { store, reopen } = await open();
      const first = await store.write(withImport(await store.read(), 'a'));
      expect(first.serial).toBe(1);
      expect(first.lineage).not.toBe('');
      const second = await store.write(withImport(first, 'b'));
      expect(second).toMatchObject({ serial: 2, lineage: first.lineage });
      expect(await reopen().read()).toEqual(second);
    });

    it('round-trips every record field', async () => {
      const { store, reopen } = await open();
      const written = await store.write(withImport(await store.read(), 'web-base'));
      const read = await reopen().read();
      expect(read.images['web-base']).toEqual(written.images['web-base']);
      expect(read.images['web-base']).toMatchObject({ phase: 'submitted', jobId: 'job-web-base' });
    });

    it("round-trips the pre-flight's cache and a record's source through write, commit and seed", async () => {
      const { store, reopen } = await open();
      const cache = preflightCache();
      const written = await store.write({
        ...sourced(await store.read(), 'web-base', systemSpec('web-base')),
        preflight: cache,
      });
      expect(written.images['web-base']!.source).toEqual({
        etag: '"9b2cf535f27731c974343645a3985328"',
        size: 8 * 2 ** 30,
      });
      expect(await reopen().read()).toEqual(written);
      // A commit writes records only: the cache stays as the last whole write left it.
      const committed = await store.commit(written, new Map([['db', withImport(written, 'db').images.db!]]));
      const read = await reopen().read();
      expect(read).toEqual(committed);
      expect(read.preflight).toEqual(cache);
      const moved: State = { ...read, lineage: randomUUID(), serial: 9 };
      const { store: other, reopen: reopenOther } = await open();
      await other.seed(moved);
      expect(await reopenOther().read()).toEqual(moved);
    });

    it("replaces the pre-flight's cache with every whole write, and drops it when the state has none", async () => {
      const { store, reopen } = await open();
      const first = await store.write({ ...withImport(await store.read(), 'a'), preflight: preflightCache() });
      const { 'golden-images:db.raw': _dropped, ...objects } = preflightCache().objects;
      const second = await store.write({ ...first, preflight: { ...preflightCache(), objects } });
      expect((await reopen().read()).preflight?.objects).toEqual(objects);
      const { preflight: _cache, ...withoutCache } = second;
      const third = await store.write(withoutCache);
      const read = await reopen().read();
      expect(read).toEqual(third);
      expect('preflight' in read).toBe(false);
    });

    it('refuses a write based on a state that has moved on, and keeps the newer one', async () => {
      const { store, reopen } = await open();
      const base = await store.write(withImport(await store.read(), 'a'));
      const newer = await reopen().write(withImport(base, 'b'));
      await expect(store.write(withImport(base, 'c'))).rejects.toMatchObject({ code: 'STATE_CONFLICT' });
      expect(await reopen().read()).toEqual(newer);
    });

    it('refuses a write from another lineage', async () => {
      const { store } = await open();
      const base = await store.write(withImport(await store.read(), 'a'));
      await expect(store.write({ ...base, lineage: 'another-lineage' })).rejects.toBeInstanceOf(StateError);
    });

    it('commits changed records on top of a state, and reads them back', async () => {
      const { store, reopen } = await open();
      const base = await store.write(withImport(await store.read(), 'a'));
      const record = withImport(base, 'b').images.b!;
      const added = await store.commit(base, new Map([['b', record]]));
      expect(added).toMatchObject({ serial: base.serial + 1, lineage: base.lineage });
      const removed = await store.commit(added, new Map([['a', null]]));
      expect(Object.keys(removed.images)).toEqual(['b']);
      expect(await reopen().read()).toEqual(removed);
    });

    it('commits the very first state too', async () => {
      const { store, reopen } = await open();
      const first = await store.commit(await store.read(), new Map([['a', withImport(emptyState(), 'a').images.a!]]));
      expect(first.serial).toBe(1);
      expect(first.lineage).not.toBe('');
      expect(await reopen().read()).toEqual(first);
    });

    it('refuses a commit based on a state that has moved on', async () => {
      const { store, reopen } = await open();
      const base = await store.write(withImport(await store.read(), 'a'));
      const other = reopen();
      await other.commit(await other.read(), new Map([['b', withImport(base, 'b').images.b!]]));
      await expect(store.commit(base, new Map([['c', withImport(base, 'c').images.c!]]))).rejects.toMatchObject({
        code: 'STATE_CONFLICT',
      });
      expect(Object.keys((await reopen().read()).images).sort()).toEqual(['a', 'b']);
    });

    it('seeds a store that holds no record with a state as it is, lineage and serial kept', async () => {
      const { store, reopen } = await open();
      const moved: State = { ...withImport(emptyState(), 'a'), lineage: randomUUID(), serial: 41 };
      expect(await store.seed(moved)).toEqual(moved);
      expect(await reopen().read()).toEqual(moved);
      const next = await reopen().commit(moved, new Map([['b', withImport(moved, 'b').images.b!]]));
      expect(next).toMatchObject({ lineage: moved.lineage, serial: 42 });
      expect(await reopen().read()).toEqual(next);
    });

    it('refuses to seed a store that holds records (STATE_CONFLICT), and keeps them', async () => {
      const { store, reopen } = await open();
      const held = await store.write(withImport(await store.read(), 'a'));
      const error = await stateFailure(
        reopen().seed({ ...withImport(emptyState(), 'b'), lineage: randomUUID(), serial: 7 }),
      );
      expect(error.code).toBe('STATE_CONFLICT');
      expect(error.message).toBe(
        `${store.location} already holds a state (1 record, lineage ${held.lineage}, serial 1); nothing was written`,
      );
      expect(await reopen().read()).toEqual(held);
    });

    it('counts what it writes', async () => {
      const { store } = await open();
      const base = await store.write(withImport(await store.read(), 'a'));
      await store.commit(base, new Map([['b', withImport(base, 'b').images.b!]]));
      expect(store.stats().writes).toBe(2);
      expect(store.stats().bytes).toBeGreaterThan(0);
    });

    it('gives a second locker LOCK_HELD naming the holder, and the lock back after release', async () => {
      const { store, reopen } = await open();
      const lock = await store.lock('imsync apply');
      const error = await stateFailure(reopen().lock('imsync watch'));
      expect(error).toMatchObject({ code: 'LOCK_HELD', holder: { command: 'imsync apply', pid: process.pid } });
      expect(error.message).toContain('imsync apply');
      await lock.release();
      const again = await reopen().lock('imsync watch');
      await again.release();
    });

    it('names every lock with an id of its own, given in LOCK_HELD with the way out', async () => {
      const { store, reopen } = await open();
      const lock = await store.lock('imsync apply');
      const { id } = lock.holder;
      expect(id).toMatch(/^[0-9a-z]{8,16}$/);
      const error = await stateFailure(reopen().lock('imsync watch'));
      expect(error).toMatchObject({ code: 'LOCK_HELD', holder: { id } });
      expect(error.message).toContain(`lock id ${id}`);
      expect(error.message).toMatch(new RegExp(`run \`imsync force-unlock ${id}\`$`));
      await lock.release();
      const again = await reopen().lock('imsync apply');
      expect(again.holder.id).not.toBe(id);
      await again.release();
    });

    it('force-unlocks a lock by its id, and the forced-out holder cannot release the next one', async () => {
      const { store, reopen } = await open();
      const lock = await store.lock('imsync apply');
      const removed = await reopen().forceUnlock(lock.holder.id);
      expect(removed).toEqual(lock.holder);
      const next = await reopen().lock('imsync watch');
      await lock.release();
      await expect(reopen().lock('imsync apply')).rejects.toMatchObject({
        code: 'LOCK_HELD',
        holder: { id: next.holder.id },
      });
      await next.release();
    });

    it('refuses to force-unlock with another id (LOCK_ID_MISMATCH), and the lock still holds', async () => {
      const { store, reopen } = await open();
      const lock = await store.lock('imsync apply');
      const error = await stateFailure(reopen().forceUnlock('0123456789ab'));
      expect(error).toMatchObject({ code: 'LOCK_ID_MISMATCH', holder: { id: lock.holder.id } });
      expect(error.message).toContain('imsync apply');
      expect(error.message).toContain(lock.holder.id);
      expect(error.message).toContain('0123456789ab');
      await expect(reopen().lock('imsync watch')).rejects.toMatchObject({ code: 'LOCK_HELD' });
      await lock.release();
    });

    it('refuses to force-unlock a state that is not locked (LOCK_NOT_HELD)', async () => {
      const { store, reopen } = await open();
      const error = await stateFailure(store.forceUnlock('0123456789ab'));
      expect(error.code).toBe('LOCK_NOT_HELD');
      expect(error.message).toBe(`${store.location} is not locked; nothing to unlock`);
      const lock = await store.lock('imsync apply');
      await lock.release();
      await expect(reopen().forceUnlock(lock.holder.id)).rejects.toMatchObject({ code: 'LOCK_NOT_HELD' });
    });

    it('waits for a lock up to the given time', async () => {
      const { store, reopen } = await open();
      const lock = await store.lock('imsync apply');
      setTimeout(() => void lock.release(), 150);
      const second = await reopen().lock('imsync apply', 5_000);
      expect(second.holder.command).toBe('imsync apply');
      await second.release();
    });
  });
}
