// DESIGN.md §8: planning 10,000 manifests against a 10,000-record state takes at most 1.5x the time
// to merely parse the same YAML.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { fromDist, interleave, mb, median, ms, peakRss, ratioAgainst, type BenchSection } from './bench.js';
import { writeFixtures, type Fixtures } from './fixtures.js';

type Load = typeof import('../../src/manifest/load.js');
type Plan = typeof import('../../src/plan/plan.js');
type FileStore = typeof import('../../src/state/file-store.js');

const FILES = 100;
const DOCUMENTS_PER_FILE = 100;
const ROUNDS = 7;
const WARMUPS = 1;
const TARGET = 1.5;

export const plan10k: BenchSection = {
  name: 'plan',
  async run() {
    const { loadManifests } = await fromDist<Load>('manifest/load.js');
    const { planChanges, summarize } = await fromDist<Plan>('plan/plan.js');
    const { FileStateStore } = await fromDist<FileStore>('state/file-store.js');

    const dir = await mkdtemp(join(tmpdir(), 'imsync-bench-plan-'));
    try {
      const fixtures = await writeFixtures(dir, {
        files: FILES,
        documentsPerFile: DOCUMENTS_PER_FILE,
        driftEvery: 100,
      });
      const files = await listFiles(fixtures);

      /** A: the cheapest way to get the data out of the same files. */
      const parseOnly = async () => {
        const texts = await Promise.all(files.map((file) => readFile(file, 'utf8')));
        let documents = 0;
        for (const text of texts) {
          for (const document of parseAllDocuments(text)) {
            document.toJS();
            documents++;
          }
        }
        if (documents !== fixtures.manifests) {
          throw new Error(`parse-only read ${documents} documents, expected ${fixtures.manifests}`);
        }
      };

      /** B: what `imsync plan` does before rendering. */
      const loadValidatePlan = async () => {
        const loaded = await loadManifests([fixtures.manifestDir]);
        const state = await new FileStateStore(fixtures.statePath).read();
        const plan = planChanges(loaded.manifests, state);
        checkPlan(fixtures, loaded, summarize(plan));
      };

      const times = await interleave(ROUNDS, WARMUPS, parseOnly, loadValidatePlan);
      const a = median(times.a);
      const b = median(times.b);
      return [
        `plan 10k: parse-only ${ms(a)}, load+validate+plan ${ms(b)}, ${ratioAgainst(b / a, TARGET)}, peak RSS ${peakRss()}`,
        `  ${fixtures.manifests} manifests in ${FILES} files (${mb(fixtures.yamlBytes)} YAML), state of ${fixtures.manifests} records ` +
          `(${mb(fixtures.stateBytes)}); medians of ${ROUNDS} interleaved rounds after ${WARMUPS} warm-up; ` +
          `first runs ${ms(times.firstA)} and ${ms(times.firstB)}`,
      ];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

async function listFiles(fixtures: Fixtures): Promise<string[]> {
  const entries = await readdir(fixtures.manifestDir, { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  if (files.length !== FILES) throw new Error(`wrote ${files.length} manifest files, expected ${FILES}`);
  return files.sort();
}

/** The bench measures nothing if the path is broken: the plan must be exactly the one the fixtures imply. */
function checkPlan(
  fixtures: Fixtures,
  loaded: Awaited<ReturnType<Load['loadManifests']>>,
  summary: ReturnType<Plan['summarize']>,
): void {
  if (loaded.diagnostics.length > 0) {
    const [first] = loaded.diagnostics;
    throw new Error(
      `the generated manifests are not valid (${loaded.diagnostics.length} diagnostics; first: ${first!.message})`,
    );
  }
  const { expected } = fixtures;
  const wanted = {
    import: 0,
    update: expected.update,
    'replace-blocked': expected.replace,
    'keep-orphan': 0,
    follow: 0,
    none: expected.unchanged,
  };
  if (Object.entries(wanted).some(([action, count]) => summary[action as keyof typeof wanted] !== count)) {
    throw new Error(`unexpected plan: got ${JSON.stringify(summary)}, expected ${JSON.stringify(wanted)}`);
  }
}
