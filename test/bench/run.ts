// `npm run bench`: the performance report of DESIGN.md §8. Each section measures one thing and
// returns its lines; a missed target is reported (MISSED), not failed, so the exit code is 0
// unless a section could not measure at all. `npm run bench -- startup` runs the named sections only.
import type { BenchSection } from './bench.js';
import { apply } from './apply.js';
import { ims } from './ims.js';
import { plan10k } from './plan-10k.js';
import { preflightBench } from './preflight.js';
import { refreshBench } from './refresh.js';
import { startup } from './startup.js';
import { statePostgres } from './state-postgres.js';
import { watch } from './watch.js';

/** In report order. Later benches (IMS client, apply, watch) join this list. */
const SECTIONS: readonly BenchSection[] = [
  plan10k,
  statePostgres,
  refreshBench,
  startup,
  ims,
  apply,
  preflightBench,
  watch,
];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !SECTIONS.some((section) => section.name === name));
if (unknown.length > 0) {
  console.error(`unknown bench section(s): ${unknown.join(', ')}; known: ${SECTIONS.map((s) => s.name).join(', ')}`);
  process.exit(2);
}

for (const section of SECTIONS) {
  if (wanted.length > 0 && !wanted.includes(section.name)) continue;
  try {
    for (const line of await section.run()) console.log(line);
  } catch (error) {
    console.log(`${section.name}: FAILED, nothing measured: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
