// The follower on a fake clock: a fetch every interval and at once when asked, a reconcile only
// for a new commit, and a failed fetch that keeps the last good commit (and says why).
import { describe, expect, it } from 'vitest';
import { SourceFollower, type Fetcher } from '../../src/source/follow.js';
import type { Checkout } from '../../src/source/git.js';
import { FakeClock } from '../support/fake-clock.js';

const INTERVAL_MS = 60_000;

function checkout(commit: string): Checkout {
  return {
    url: 'https://git.example.com/images.git',
    ref: 'main',
    commit,
    paths: [`/cache/${commit}/images`],
    root: `/cache/${commit}`,
  };
}

/** A remote whose answers the test sets: the next fetch gives `next` (a commit, or an error). */
function rig(first: string | Error = 'a'.repeat(40)) {
  const clock = new FakeClock();
  let next = first;
  let fetches = 0;
  const fetcher: Fetcher = {
    url: 'https://git.example.com/images.git',
    ref: 'main',
    fetch: () => {
      fetches++;
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(checkout(next));
    },
  };
  const changed: string[] = [];
  const results: string[] = [];
  const logs: string[] = [];
  const follower = new SourceFollower(fetcher, INTERVAL_MS, {
    clock,
    log: (_level, message) => logs.push(message),
    changed: (c) => changed.push(c.commit),
    fetched: (result) => results.push(result),
  });
  const stop = new AbortController();
  const running = follower.run(stop.signal);
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return {
    clock,
    follower,
    changed,
    results,
    logs,
    settle,
    fetches: () => fetches,
    set: (value: string | Error) => (next = value),
    stop: async () => {
      stop.abort();
      await running;
    },
  };
}

describe('SourceFollower', () => {
  it('fetches at once and every interval; only a new commit is reconciled', async () => {
    const r = rig();
    await r.settle();
    expect(r.changed).toEqual(['a'.repeat(40)]);
    await r.clock.advance(INTERVAL_MS);
    expect(r.fetches()).toBe(2);
    expect(r.changed).toHaveLength(1);
    r.set('b'.repeat(40));
    await r.clock.advance(INTERVAL_MS);
    expect(r.changed).toEqual(['a'.repeat(40), 'b'.repeat(40)]);
    expect(r.results).toEqual(['changed', 'unchanged', 'changed']);
    await r.stop();
  });

  it('fetches at once when asked, without waiting for the interval', async () => {
    const r = rig();
    await r.settle();
    r.set('c'.repeat(40));
    r.follower.fetchNow('webhook');
    await r.settle();
    expect(r.changed).toEqual(['a'.repeat(40), 'c'.repeat(40)]);
    expect(r.clock.now() - new FakeClock().now()).toBe(0);
    await r.stop();
  });

  it('keeps the last good commit through failed fetches, says why, and clears the failure once one succeeds', async () => {
    const r = rig();
    await r.settle();
    r.set(new Error('cannot fetch main from https://git.example.com/images.git: Could not resolve host'));
    await r.clock.advance(INTERVAL_MS);
    expect(r.follower.snapshot()).toEqual({
      paths: [`/cache/${'a'.repeat(40)}/images`],
      revision: checkout('a'.repeat(40)),
      root: `/cache/${'a'.repeat(40)}`,
    });
    expect(r.follower.failure?.error).toContain('Could not resolve host');
    expect(r.logs).toContain('fetch failed: the last good commit stays applied');
    r.set('a'.repeat(40));
    await r.clock.advance(INTERVAL_MS);
    expect(r.follower.failure).toBeUndefined();
    expect(r.changed).toHaveLength(1);
    await r.stop();
  });

  it('has no tree until a first fetch succeeds, and says why', async () => {
    const r = rig(new Error('cannot fetch main: authentication failed'));
    await r.settle();
    expect(r.follower.snapshot()).toEqual({
      missing:
        'no commit of https://git.example.com/images.git (main) fetched yet: cannot fetch main: authentication failed',
    });
    await r.stop();
  });
});
