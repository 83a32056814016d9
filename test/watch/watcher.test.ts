// The debounce between file events and reconciles, on vitest's fake timers: a burst of changes is
// one report, and changes that never stop are still reported every so often.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { debounceChanges } from '../../src/watch/watcher.js';

const DEBOUNCE = { quietMs: 300, maxWaitMs: 2_000 };

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** How many changes a report stands for. */
const counted = (what: string) => Number(/^(\d+) changes/.exec(what)?.[1] ?? 1);

describe('debounceChanges', () => {
  it('turns a burst into one report after a quiet spell, and reports edits that never stop at least every 2 s', () => {
    const start = Date.now();
    const reports: { at: number; what: string; paths: readonly string[] }[] = [];
    const changes = debounceChanges(DEBOUNCE, (what, paths) => reports.push({ at: Date.now() - start, what, paths }));
    for (let i = 0; i < 5; i++) {
      changes.add(`add web-${i % 3}.yaml`, `web-${i % 3}.yaml`);
      vi.advanceTimersByTime(50);
    }
    vi.advanceTimersByTime(1_000);
    // The paths touched, each once: the daemon reads again just those files.
    expect(reports).toEqual([
      { at: 200 + 300, what: '5 changes (add web-0.yaml, ...)', paths: ['web-0.yaml', 'web-1.yaml', 'web-2.yaml'] },
    ]);

    // An edit every 100 ms for 10 s (a generator rewriting a file): the wait has a maximum.
    reports.length = 0;
    const from = Date.now() - start;
    for (let at = 0; at < 10_000; at += 100) {
      changes.add(`change web-${at}.yaml`, `web-${at}.yaml`);
      vi.advanceTimersByTime(100);
    }
    vi.advanceTimersByTime(1_000);
    expect(reports.map((report) => report.at - from)).toEqual([2_000, 4_000, 6_000, 8_000, 10_000]);
    expect(reports[0]!.what).toBe('20 changes (change web-0.yaml, ...)');
    // Every change is in exactly one report.
    expect(reports.reduce((sum, report) => sum + counted(report.what), 0)).toBe(100);
  });
});
