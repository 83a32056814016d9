// A StateStore in memory, for unit tests without files: the same serial, lineage and
// STATE_CONFLICT rules as the file store, a lock with ids and force-unlock, and reads through the
// state's codec (so that what a test reads back is what a file would have held). Stores opened on
// one shelf (`reopen`) see one stored state and one lock, as processes sharing a file would.
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { systemClock, type Clock } from '../../src/clock.js';
import { checkSeedable, decodeState, encodeState } from '../../src/state/codec.js';
import { emptyState, withChanges, type RecordChanges, type State } from '../../src/state/model.js';
import {
  forceUnlockRefusal,
  lockHeldMessage,
  StateError,
  type LockHolder,
  type StateLock,
  type StateStore,
  type StoreStats,
} from '../../src/state/store.js';

/** What every store opened on one in-memory location shares. */
interface Shelf {
  readonly location: string;
  /** The stored state; undefined until the first write. */
  state: State | undefined;
  lock: { readonly holder: LockHolder; readonly token: string } | undefined;
  /** Lockers waiting for a release. */
  readonly waiting: Set<() => void>;
  /** States a rebuild put aside, by where they went. */
  readonly aside: Map<string, State>;
}

let shelves = 0;

export class MemoryStateStore implements StateStore {
  readonly location: string;
  private written: StoreStats = { writes: 0, bytes: 0 };

  /** `clock` times lock waits (the system clock unless given: a fake one never moves by itself). */
  constructor(
    private readonly clock: Clock = systemClock,
    private readonly shelf: Shelf = {
      location: `memory:imsync-${++shelves}.state.json`,
      state: undefined,
      lock: undefined,
      waiting: new Set(),
      aside: new Map(),
    },
  ) {
    this.location = shelf.location;
  }

  /** A second handle on the same stored state and lock, with its own stats. */
  reopen(): MemoryStateStore {
    return new MemoryStateStore(this.clock, this.shelf);
  }

  /** The stored state as it is now, synchronously: for a test looking between two awaits. */
  get stored(): State {
    return this.shelf.state ?? emptyState();
  }

  /** The lock's holder, if it is taken. */
  get holder(): LockHolder | undefined {
    return this.shelf.lock?.holder;
  }

  stats(): StoreStats {
    return this.written;
  }

  read(): Promise<State> {
    return later(() => {
      const { state } = this.shelf;
      return state === undefined ? emptyState() : decodeState(encodeState(state), this.location);
    });
  }

  write(state: State): Promise<State> {
    return later(() => {
      const current = this.stored;
      this.checkBase(current, state);
      return this.put({ ...state, lineage: current.lineage || randomUUID(), serial: state.serial + 1 });
    });
  }

  commit(base: State, changes: RecordChanges): Promise<State> {
    const next = withChanges(base, changes);
    if (base.lineage === '') return this.write(next);
    return later(() => {
      this.checkBase(this.stored, base);
      // Counted as the file store's journal line would be: the changes, not the whole state.
      const entry = { lineage: base.lineage, serial: base.serial + 1, changes: Object.fromEntries(changes) };
      return this.put({ ...next, serial: base.serial + 1 }, Buffer.byteLength(`${JSON.stringify(entry)}\n`));
    });
  }

  seed(state: State): Promise<State> {
    return later(() => {
      const current = this.stored;
      checkSeedable(this.location, { ...current, records: Object.keys(current.images).length });
      return this.put(state);
    });
  }

  rebuild(state: State): Promise<{ state: State; aside?: string }> {
    return later(() => {
      const previous = this.shelf.state;
      const time = new Date(this.clock.now()).toISOString().replace(/[:.]/g, '-');
      const aside = `${this.location}.before-rebuild-${time}`;
      if (previous !== undefined) this.shelf.aside.set(aside, previous);
      const rebuilt = this.put({ ...state, lineage: randomUUID(), serial: 1 });
      return { state: rebuilt, ...(previous === undefined ? {} : { aside }) };
    });
  }

  /** A state a rebuild put aside. */
  asideState(aside: string): State | undefined {
    return this.shelf.aside.get(aside);
  }

  async lock(command: string, waitMs = 0): Promise<StateLock> {
    const token = randomUUID();
    const holder: LockHolder = {
      host: hostname(),
      pid: process.pid,
      command,
      since: new Date(this.clock.now()).toISOString(),
      id: randomBytes(6).toString('hex'),
    };
    const deadline = this.clock.now() + waitMs;
    for (;;) {
      const current = this.shelf.lock;
      if (current === undefined) {
        this.shelf.lock = { holder, token };
        return { holder, release: () => later(() => this.unlock(token)) };
      }
      const left = deadline - this.clock.now();
      if (left <= 0) throw new StateError('LOCK_HELD', lockHeldMessage(this.location, current.holder), current.holder);
      await this.released(left);
    }
  }

  forceUnlock(lockId: string): Promise<LockHolder> {
    return later(() => {
      const current = this.shelf.lock;
      if (current === undefined) {
        throw forceUnlockRefusal(this.location, undefined, lockId);
      }
      const { holder } = current;
      if (holder.id !== lockId) throw forceUnlockRefusal(this.location, holder, lockId);
      this.unlock(current.token);
      return holder;
    });
  }

  private put(state: State, bytes = Buffer.byteLength(encodeState(state))): State {
    this.shelf.state = state;
    this.written = { writes: this.written.writes + 1, bytes: this.written.bytes + bytes };
    return state;
  }

  private checkBase(current: State, base: State): void {
    if (current.serial !== base.serial || (current.lineage !== '' && current.lineage !== base.lineage)) {
      throw new StateError(
        'STATE_CONFLICT',
        `${this.location} has moved on (serial ${current.serial}) since it was read (serial ${base.serial}); nothing was written`,
      );
    }
  }

  /** Removes the lock if it is still the taking `token` names (a forced-out holder's release is a no-op). */
  private unlock(token: string): void {
    if (this.shelf.lock?.token !== token) return;
    this.shelf.lock = undefined;
    for (const wake of [...this.shelf.waiting]) wake();
  }

  /** Resolves at the next release, or after `ms` on the store's clock. */
  private released(ms: number): Promise<void> {
    const timer = new AbortController();
    return new Promise((resolve) => {
      const wake = () => {
        this.shelf.waiting.delete(wake);
        timer.abort();
        resolve();
      };
      this.shelf.waiting.add(wake);
      this.clock.sleep(ms, timer.signal).then(wake, () => undefined);
    });
  }
}

/** `f`'s outcome a microtask later, as an answer from storage would come: never a synchronous throw. */
function later<T>(f: () => T): Promise<T> {
  return Promise.resolve().then(f);
}
