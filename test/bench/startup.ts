// Start-up cost: a small `imsync validate` against a process that does nothing at all.
import { spawnSync } from 'node:child_process';
import { elapsedMs, median, ms, ratioAgainst, ROOT, type BenchSection } from './bench.js';

const RUNS = 15;
const WARMUPS = 1;
const TARGET = 4;

const BASELINE = ['-e', '0'];
const VALIDATE = ['dist/cli/main.js', 'validate', 'manifests/'];

export const startup: BenchSection = {
  name: 'startup',
  // eslint-disable-next-line @typescript-eslint/require-await -- the section contract is async
  async run() {
    const baseline: number[] = [];
    const validate: number[] = [];
    for (let run = 0; run < WARMUPS + RUNS; run++) {
      // Interleaved, and the order swapped every run, as in interleave() in bench.ts.
      const order = run % 2 === 0 ? [BASELINE, VALIDATE] : [VALIDATE, BASELINE];
      for (const args of order) {
        const time = node(args);
        if (run >= WARMUPS) (args === BASELINE ? baseline : validate).push(time);
      }
    }
    const a = median(baseline);
    const b = median(validate);
    return [
      `startup: node -e 0 ${ms(a)}, imsync validate manifests/ ${ms(b)}, ${ratioAgainst(b / a, TARGET)}`,
      `  medians of ${RUNS} interleaved runs each after ${WARMUPS} warm-up, node ${process.version}`,
    ];
  },
};

/** Runs node with `args` in the project root and returns its wall time; a failed run is an error. */
function node(args: readonly string[]): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  const time = elapsedMs(start);
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(
      `node ${args.join(' ')} exited ${result.status ?? result.signal}: ${result.stderr || result.stdout}`,
    );
  }
  return time;
}
