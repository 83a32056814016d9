// One writer's view of the state during a run: changes apply in memory at once and become durable
// in group commits. Every `record` resolves once its change is on disk; changes made while a
// commit is in flight go together in the next one, so a burst of transitions costs one fsync.
import type { ImageRecord, State } from './model.js';
import type { StateStore, StoreStats } from './store.js';

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class StateRecorder {
  private readonly records: Map<string, ImageRecord>;
  private durable: State;
  private pending = new Map<string, ImageRecord | null>();
  private waiters: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly store: StateStore,
    initial: State,
  ) {
    this.durable = initial;
    this.records = new Map(Object.entries(initial.images));
  }

  /** The record as last recorded, durable or not. */
  get(key: string): ImageRecord | undefined {
    return this.records.get(key);
  }

  /** Every record as last recorded, by key. */
  entries(): IterableIterator<[string, ImageRecord]> {
    return this.records.entries();
  }

  /** The state as last made durable. */
  get state(): State {
    return this.durable;
  }

  /** Why a write failed, once one has: from then on every change is refused. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /**
   * A new recorder over what the store holds now, for a writer that goes on after a failed write:
   * this one's memory may claim changes the store lacks, and it refuses every change (so that
   * whatever of the failed run still runs can send nothing unrecorded).
   */
  async reopen(): Promise<StateRecorder> {
    return new StateRecorder(this.store, await this.store.read());
  }

  /** What the store has written so far. */
  stats(): StoreStats {
    return this.store.stats();
  }

  /** Records a change (null removes the record); resolves once it is durable. */
  record(key: string, record: ImageRecord | null): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (record) this.records.set(key, record);
    else this.records.delete(key);
    this.pending.set(key, record);
    const durable = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.flushing ??= this.commitPending();
    return durable;
  }

  /** Writes the whole state anew, as `change` makes it from the durable one (the account, say). */
  async rewrite(change: (state: State) => State): Promise<void> {
    await this.flush();
    this.durable = await this.store.write(change(this.durable));
  }

  /** Resolves once everything recorded so far is durable. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.failure) throw this.failure;
  }

  private async commitPending(): Promise<void> {
    // Let the changes made in this turn of the event loop join the first commit.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.pending.size > 0) {
      const [changes, waiters] = [this.pending, this.waiters];
      this.pending = new Map();
      this.waiters = [];
      try {
        this.durable = await this.store.commit(this.durable, changes);
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        // A state that cannot be written stops the run: nothing more may be sent unrecorded.
        this.failure = error instanceof Error ? error : new Error(String(error));
        for (const waiter of [...waiters, ...this.waiters]) waiter.reject(error);
        this.waiters = [];
        this.pending.clear();
      }
    }
    this.flushing = undefined;
  }
}
