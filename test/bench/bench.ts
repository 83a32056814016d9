// What every bench section shares: the section contract, timing, medians and the report wording.
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** One named part of the report. It returns its lines; it throws only when what it measured is broken. */
export interface BenchSection {
  readonly name: string;
  run(): Promise<string[]>;
}

/** The project root: the working directory of the CLI runs and the parent of dist/. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A module of the build (`npm run bench` builds first), so the bench measures the JavaScript that
 * ships. `T` is the type of its source module, e.g. `typeof import('../../src/plan/plan.js')`.
 */
export async function fromDist<T>(relative: string): Promise<T> {
  return (await import(pathToFileURL(join(ROOT, 'dist', relative)).href)) as T;
}

export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export async function timeMs(run: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return elapsedMs(start);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('bug: median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface Interleaved {
  /** Timed runs after the warm-ups, in ms. */
  readonly a: readonly number[];
  readonly b: readonly number[];
  /** The very first run of each, which pays module compilation and JIT warm-up. */
  readonly firstA: number;
  readonly firstB: number;
}

/**
 * Runs `a` and `b` alternately, swapping which goes first every round (A B, B A, A B, ...) so that
 * neither always inherits the other's garbage. The first `warmups` rounds are not counted.
 */
export async function interleave(
  rounds: number,
  warmups: number,
  a: () => unknown,
  b: () => unknown,
): Promise<Interleaved> {
  const timesA: number[] = [];
  const timesB: number[] = [];
  for (let round = 0; round < warmups + rounds; round++) {
    const order = round % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const);
    for (const which of order) {
      const time = await timeMs(which === 'a' ? a : b);
      (which === 'a' ? timesA : timesB).push(time);
    }
  }
  return { a: timesA.slice(warmups), b: timesB.slice(warmups), firstA: timesA[0]!, firstB: timesB[0]! };
}

export function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** `ratio 1.28 (target <= 1.5)`, with `MISSED` when the ratio is over the target. */
export function ratioAgainst(ratio: number, target: number): string {
  return `ratio ${ratio.toFixed(2)} (target <= ${target})${ratio <= target ? '' : ' MISSED'}`;
}

/** The peak resident set size of this process so far, in MB (maxRSS is in KiB). */
export function peakRss(): string {
  return `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`;
}
