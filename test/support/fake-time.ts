// Driving code that waits on a FakeClock: time moves only between turns in which everything else
// had its chance to run (promise jobs, immediates, the in-memory IMS's answers, file reads), and
// never past the next sleeper's deadline, so that each sleeper wakes at its exact virtual time and
// nothing in a test ever sleeps.
import type { FakeClock } from './fake-clock.js';

/**
 * Turns in a row with nothing seen in flight before the clock may move. The in-memory IMS answers a
 * request within a turn without showing it, so this bounds the longest chain of requests made one
 * after another without anything visible (an immediate, a file request) between them.
 */
const QUIET_TURNS = 20;
/** A bound for a file request that never ends; a slow disk takes a few hundred turns. */
const MAX_TURNS = 100_000;

export interface DriveOptions {
  /** Virtual time per step. */
  readonly stepMs?: number;
  /** Virtual time after which the wait fails. */
  readonly maxMs?: number;
}

/** Lets everything that is not waiting for the clock run to its next wait. */
export async function quiesce(): Promise<void> {
  for (let turn = 0, quiet = 0; quiet < QUIET_TURNS && turn < MAX_TURNS; turn++) {
    await new Promise((resolve) => setImmediate(resolve));
    quiet = busy() ? 0 : quiet + 1;
  }
}

/** Moves `clock` on, `stepMs` at a time, until `promise` settles; resolves or rejects as it does. */
export async function runOnFakeClock<T>(promise: Promise<T>, clock: FakeClock, options: DriveOptions = {}): Promise<T> {
  let settled = false;
  const done = promise.finally(() => (settled = true));
  // Handled here so that a rejection while time moves is not reported as unhandled; `done` rethrows it.
  done.catch(() => undefined);
  await advanceUntil(clock, () => settled, 'the promise to settle', options);
  return done;
}

/** Moves `clock` on, `stepMs` at a time, until `condition` holds; fails after `maxMs` of virtual time. */
export async function advanceUntil(
  clock: FakeClock,
  condition: () => boolean,
  what: string,
  { stepMs = 100, maxMs = 3_600_000 }: DriveOptions = {},
): Promise<void> {
  const deadline = clock.now() + maxMs;
  for (;;) {
    await quiesce();
    if (condition()) return;
    if (clock.now() >= deadline) throw new Error(`${what}: not after ${maxMs} ms of virtual time`);
    await clock.advance(stepTo(clock, stepMs));
  }
}

/** Moves `clock` on by `ms`, `stepMs` at a time, letting work run between steps. */
export async function advanceBy(clock: FakeClock, ms: number, stepMs = 100): Promise<void> {
  const until = clock.now() + ms;
  while (clock.now() < until) {
    await quiesce();
    await clock.advance(Math.min(stepTo(clock, stepMs), until - clock.now()));
  }
  await quiesce();
}

/** At most `stepMs`, and no further than the next sleeper's deadline: each wakes at its exact time. */
function stepTo(clock: FakeClock, stepMs: number): number {
  const next = clock.nextDeadline();
  return next === undefined ? stepMs : Math.min(stepMs, Math.max(0, next - clock.now()));
}

/** Immediates queued by others (the state recorder's group commit), or file requests in flight. */
function busy(): boolean {
  return process.getActiveResourcesInfo().some((resource) => /^(Immediate|FSReq|CloseReq|FileHandle)/.test(resource));
}
