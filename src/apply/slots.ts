// How many imports may run at once. An account runs at most so many import jobs at a time and
// refuses one more with IMG.0194 ("contact technical support": an undocumented, per-account cap).
// As the request budget adapts to 429, this adapts to IMG.0194: a refusal sets the limit to the
// imports this run has running, and an import waits for one of them to end; with none of ours
// running (the cap is taken by others), it waits with backoff. A run of acceptances probes one more.
import type { Clock } from '../clock.js';
import { backoffDelay } from '../ims/backoff.js';

export class ImportSlots {
  private limit = Number.POSITIVE_INFINITY;
  /** Imports with a job running (or perhaps running: followed, or awaiting settlement). */
  private running = 0;
  /** Slots taken by a submission whose answer has not come. */
  private sending = 0;
  private refusals = 0;
  private acceptedInARow = 0;
  private quietUntil = 0;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly clock: Clock,
    private readonly random: () => number,
  ) {}

  /** Waits for a slot; false when `signal` aborted first. */
  async acquire(signal: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal.aborted) return false;
      const wait = this.quietUntil - this.clock.now();
      if (wait <= 0 && this.running + this.sending < this.limit) {
        this.sending++;
        return true;
      }
      const pause = new AbortController();
      let wake = () => undefined as void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      this.waiters.add(wake);
      const abandon = () => pause.abort();
      signal.addEventListener('abort', abandon, { once: true });
      await Promise.race([
        woken,
        wait > 0 ? this.clock.sleep(wait, pause.signal).catch(() => undefined) : new Promise<never>(() => undefined),
        new Promise<void>((resolve) => pause.signal.addEventListener('abort', () => resolve(), { once: true })),
      ]);
      pause.abort();
      this.waiters.delete(wake);
      signal.removeEventListener('abort', abandon);
    }
  }

  /** The import was accepted: its job runs. */
  accepted(): void {
    this.sending--;
    this.running++;
    this.refusals = 0;
    if (++this.acceptedInARow >= this.limit) {
      this.acceptedInARow = 0;
      this.limit++;
    }
  }

  /** The import was refused for the cap (IMG.0194): the limit is what runs now. */
  refused(): void {
    this.sending--;
    this.acceptedInARow = 0;
    this.limit = Math.max(1, this.running);
    if (this.running === 0) {
      this.quietUntil =
        this.clock.now() + backoffDelay(this.refusals++, this.random(), { baseMs: 1000, capMs: 60_000 });
    }
    this.notify();
  }

  /** The answer never came: the import may run, and is counted as running until settled. */
  perhapsRunning(): void {
    this.sending--;
    this.running++;
  }

  /** The submission ended without a job (refused otherwise, never sent): its slot is free. */
  released(): void {
    this.sending--;
    this.notify();
  }

  /** An import this run did not submit is running (followed from an earlier run). */
  track(): void {
    this.running++;
  }

  /** A job ended, or an import was found not to run: a slot is free. */
  ended(): void {
    this.running = Math.max(0, this.running - 1);
    this.notify();
  }

  /** Every waiter looks again: whoever fits takes the slot. */
  private notify(): void {
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }
}
