// The StateStore contract every backend honours; test/support/state-store-contract.ts checks it.
import type { RecordChanges, State } from './model.js';

/** Who holds a state lock, shown to anyone who finds it taken. */
export interface LockHolder {
  readonly host: string;
  readonly pid: number;
  readonly command: string;
  /** ISO time the lock was taken. */
  readonly since: string;
  /** Names this taking of the lock, for `imsync force-unlock ID`; a new one every time. */
  readonly id: string;
}

export interface StateLock {
  readonly holder: LockHolder;
  /**
   * Aborted once the lock can no longer be relied on (a database session lost, or cut off), with
   * the reason: its holder writes nothing more, and a daemon steps down. Absent: never lost.
   */
  readonly lost?: AbortSignal;
  release(): Promise<void>;
}

/**
 * Runs `work` under `lock`, then releases it. A release that fails after the work failed is told in
 * that failure's message, never thrown in its place: the first is what went wrong, and the one to fix.
 */
export async function whileLocked<T>(lock: StateLock, work: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await work();
  } catch (error) {
    await lock.release().catch((released: unknown) => {
      if (error instanceof Error) error.message += `; then, releasing the lock: ${(released as Error).message}`;
    });
    throw error;
  }
  await lock.release();
  return result;
}

export interface StateStore {
  /** Where the state lives, for messages: a path or a URL without credentials. */
  readonly location: string;
  /** The recorded state; an empty state (serial 0, no lineage) when none was ever written. */
  read(): Promise<State>;
  /**
   * Writes `state` as the successor of the state it was read as (`state.serial`), and returns what
   * was written: serial incremented, lineage fixed on the first write. Refused with
   * `STATE_CONFLICT` when the stored state has moved on.
   */
  write(state: State): Promise<State>;
  /**
   * Records `changes` to some records durably, as the successor of `base`, and returns the new
   * state. Cheaper than `write` for a few records of a large state (the file store appends them to
   * a journal). Refused with `STATE_CONFLICT` like `write`.
   */
  commit(base: State, changes: RecordChanges): Promise<State>;
  /**
   * Starts a new lineage holding `state`'s records, whatever is stored now (even a state that
   * cannot be read), which is kept aside; returns the new state and where the old one went.
   */
  rebuild(state: State): Promise<{ state: State; aside?: string }>;
  /**
   * Stores `state` as it is, lineage and serial kept, where no record is stored yet: a state moved
   * from another location. Refused with `STATE_CONFLICT` when records are stored.
   */
  seed(state: State): Promise<State>;
  /** What this store has written since it was opened. */
  stats(): StoreStats;
  /** Takes the writers' lock, waiting up to `waitMs`; refused with `LOCK_HELD` naming the holder. */
  lock(command: string, waitMs?: number): Promise<StateLock>;
  /**
   * Removes the lock whose id is `lockId`, whoever holds it, and returns its holder: for a holder
   * that is gone without releasing it. Refused with `LOCK_NOT_HELD` when there is no lock, and with
   * `LOCK_ID_MISMATCH` when the lock has another id; nothing changes then.
   */
  forceUnlock(lockId: string): Promise<LockHolder>;
}

export interface StoreStats {
  readonly writes: number;
  readonly bytes: number;
}

export type StateErrorCode =
  | 'STATE_CORRUPT'
  | 'STATE_MISSING'
  | 'STATE_VERSION'
  | 'STATE_INVALID'
  | 'STATE_UNREADABLE'
  | 'STATE_UNWRITABLE'
  | 'STATE_CONFLICT'
  | 'STATE_ACCOUNT'
  | 'LOCK_HELD'
  | 'LOCK_NOT_HELD'
  | 'LOCK_ID_MISMATCH';

/** A state that cannot be used as it is. Nothing has been written when one is thrown. */
export class StateError extends Error {
  override readonly name = 'StateError';
  constructor(
    readonly code: StateErrorCode,
    message: string,
    readonly holder?: LockHolder,
  ) {
    super(message);
  }
}

export function describeHolder(holder: LockHolder): string {
  return `${holder.command} (pid ${holder.pid} on ${holder.host}, since ${holder.since})`;
}

/** The LOCK_HELD message: who holds the lock, its id, and the way out. */
export function lockHeldMessage(location: string, holder: LockHolder): string {
  return (
    `${location} is locked by ${describeHolder(holder)}, lock id ${holder.id}; ` +
    `if that process is gone, run \`imsync force-unlock ${holder.id}\``
  );
}

/**
 * Why `forceUnlock(lockId)` removes nothing: no lock at all, or one with another id. Every store
 * says it the same way.
 */
export function forceUnlockRefusal(location: string, holder: LockHolder | undefined, lockId: string): StateError {
  if (holder === undefined) return new StateError('LOCK_NOT_HELD', `${location} is not locked; nothing to unlock`);
  return new StateError(
    'LOCK_ID_MISMATCH',
    `${location} is locked by ${describeHolder(holder)}, lock id ${holder.id}; ${lockId} is not its lock id, so nothing was unlocked`,
    holder,
  );
}
