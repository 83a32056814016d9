// Follows a source: fetches it every interval, and at once when asked (a webhook). A failed fetch
// or a refused commit leaves the last good checkout the one reconciled.
import type { Clock } from '../clock.js';
import { CommitRefused, type Checkout, type Revision } from './git.js';

/** What the daemon reconciles: the manifest paths, and the commit they are at (a git source). */
export interface Snapshot {
  readonly paths: readonly string[];
  readonly revision?: Revision;
  /** The checkout's root, which diagnostics' paths are told relative to. */
  readonly root?: string;
}

/** Where the manifests come from. */
export interface ManifestSource {
  /** The tree to reconcile now, or why there is none yet. */
  snapshot(): Snapshot | { readonly missing: string };
}

/** A directory (or files) on this machine: always there, at no revision. */
export function directorySource(paths: readonly string[]): ManifestSource {
  const snapshot = { paths };
  return { snapshot: () => snapshot };
}

export interface Fetcher {
  readonly url: string;
  readonly ref: string;
  fetch(signal?: AbortSignal): Promise<Checkout>;
}

export interface FollowerDeps {
  readonly clock: Clock;
  readonly log: (level: 'info' | 'warn' | 'error', message: string, fields?: object) => void;
  /** A new commit is checked out: reconcile it. */
  readonly changed: (checkout: Checkout) => void;
  /** Told every fetch's outcome, for the metrics. */
  readonly fetched?: (result: 'changed' | 'unchanged' | 'failed') => void;
}

export interface FetchFailure {
  readonly at: string;
  readonly error: string;
}

export class SourceFollower implements ManifestSource {
  /** The last commit checked out, and its snapshot (the same one until the next commit). */
  current: Checkout | undefined;
  private tree: Snapshot | undefined;
  /** The last fetch's failure, until a fetch succeeds. */
  failure: FetchFailure | undefined;
  lastFetchAt: string | undefined;
  private wake: (() => void) | undefined;
  private again = false;

  constructor(
    private readonly fetcher: Fetcher,
    private readonly intervalMs: number,
    private readonly deps: FollowerDeps,
  ) {}

  snapshot(): Snapshot | { readonly missing: string } {
    if (this.tree) return this.tree;
    const why = this.failure ? `: ${this.failure.error}` : '';
    return { missing: `no commit of ${this.fetcher.url} (${this.fetcher.ref}) fetched yet${why}` };
  }

  /** Fetch as soon as the fetch under way (if any) has ended. */
  fetchNow(reason: string): void {
    this.deps.log('info', 'fetch requested', { reason });
    this.again = true;
    this.wake?.();
  }

  /** Fetches now and then every interval until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.again = false;
      await this.fetchOnce(signal);
      if (this.again || signal.aborted) continue;
      // Woken early by fetchNow or the end; the listener goes with the wait.
      const woken = new AbortController();
      const wake = () => woken.abort();
      signal.addEventListener('abort', wake, { once: true });
      this.wake = wake;
      await this.deps.clock.sleep(this.intervalMs, woken.signal).catch(() => undefined);
      signal.removeEventListener('abort', wake);
      this.wake = undefined;
    }
  }

  private async fetchOnce(signal: AbortSignal): Promise<void> {
    try {
      const checkout = await this.fetcher.fetch(signal);
      this.lastFetchAt = new Date(this.deps.clock.now()).toISOString();
      this.failure = undefined;
      const changed = checkout.commit !== this.current?.commit;
      this.deps.fetched?.(changed ? 'changed' : 'unchanged');
      if (!changed) return;
      this.deps.log('info', 'new commit', { url: checkout.url, ref: checkout.ref, revision: checkout.commit });
      this.current = checkout;
      this.tree = { paths: checkout.paths, revision: checkout, root: checkout.root };
      this.deps.changed(checkout);
    } catch (error) {
      if (signal.aborted) return;
      const message = error instanceof Error ? error.message : String(error);
      this.lastFetchAt = new Date(this.deps.clock.now()).toISOString();
      this.failure = { at: this.lastFetchAt, error: message };
      this.deps.fetched?.('failed');
      const refused = error instanceof CommitRefused;
      this.deps.log('warn', `${refused ? 'commit refused' : 'fetch failed'}: the last good commit stays applied`, {
        error: message,
        revision: this.current?.commit ?? null,
        ...(refused ? { refused: error.commit } : {}),
      });
    }
  }
}
