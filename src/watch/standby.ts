// A replica of `imsync watch --standby`: it waits for the state's lock while another daemon holds
// it, and leads once that lock is free. The lock is the leadership: it is what every writer of the
// state takes, so a standby that leads can never write beside the leader it replaced.
import type { Clock } from '../clock.js';
import { StateError, type LockHolder, type StateLock, type StateStore } from '../state/store.js';

/** How often a standby tries the lock: a leader gone is followed within about this. */
export const STANDBY_POLL_MS = 1000;

export class Standby {
  /** The lock's holder as last seen: the daemon that leads. */
  leader: LockHolder | undefined;
}

/**
 * Takes the lock as soon as it is free, trying every `pollMs`; undefined when `signal` ends the
 * wait first. `onLeader` is told each new holder seen.
 */
export async function waitToLead(
  store: StateStore,
  command: string,
  standby: Standby,
  clock: Clock,
  signal: AbortSignal,
  onLeader: (holder: LockHolder | undefined) => void,
  pollMs = STANDBY_POLL_MS,
): Promise<StateLock | undefined> {
  let seen: string | undefined;
  for (;;) {
    try {
      return await store.lock(command);
    } catch (error) {
      if (!(error instanceof StateError) || error.code !== 'LOCK_HELD') throw error;
      standby.leader = error.holder;
      // A lock that names no holder (unreadable) is said once too.
      const id = error.holder?.id ?? '';
      if (id !== seen) onLeader(error.holder);
      seen = id;
    }
    try {
      await clock.sleep(pollMs, signal);
    } catch {
      return undefined;
    }
  }
}
