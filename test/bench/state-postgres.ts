// The PostgreSQL state beside the file state: `plan` of 2,000 and of 10,000 manifests (reading the
// state and planning, the manifests loaded once), and the bytes each store writes for a commit of a
// few records and for a whole state. Against IMSYNC_TEST_POSTGRES (default: the server CI starts), in
// a schema of its own, dropped at the end.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { fromDist, interleave, median, ms, type BenchSection } from './bench.js';
import { writeFixtures } from './fixtures.js';

type Load = typeof import('../../src/manifest/load.js');
type Plan = typeof import('../../src/plan/plan.js');
type Open = typeof import('../../src/state/open.js');

export const SERVER = process.env.IMSYNC_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const FILES = 20;
/** 2,000 and 10,000 images. */
const SIZES = [100, 500].map((documentsPerFile) => ({ files: FILES, documentsPerFile }));
/** Records one commit changes: an apply's progress of a few jobs. */
const CHANGED = 20;
const ROUNDS = 7;
const WARMUPS = 1;

export const statePostgres: BenchSection = {
  name: 'state-postgres',
  async run() {
    const lines: string[] = [];
    for (const size of SIZES) lines.push(...(await compare(size)));
    return lines;
  },
};

async function compare(size: { files: number; documentsPerFile: number }): Promise<string[]> {
  const { loadManifests } = await fromDist<Load>('manifest/load.js');
  const { planChanges } = await fromDist<Plan>('plan/plan.js');
  const { openStore } = await fromDist<Open>('state/open.js');

  const dir = await mkdtemp(join(tmpdir(), 'imsync-bench-pg-'));
  const schema = `imsync_bench_${randomBytes(6).toString('hex')}`;
  const url = new URL(SERVER);
  url.searchParams.set('schema', schema);
  const admin = new pg.Client({ connectionString: SERVER });
  try {
    await admin.connect();
    const fixtures = await writeFixtures(dir, { ...size, driftEvery: 100 });
    const { manifests } = await loadManifests([fixtures.manifestDir]);
    const state = await openStore(fixtures.statePath, {}).read();
    await openStore(url.href, {}).seed(state);

    /** What `imsync plan` does with the state: open the store, read it, plan against it. */
    const planWith = (location: string) => async () => {
      const read = await openStore(location, {}).read();
      if (Object.keys(read.images).length !== fixtures.manifests) throw new Error(`${location} lost records`);
      planChanges(manifests, read);
    };
    const times = await interleave(ROUNDS, WARMUPS, planWith(fixtures.statePath), planWith(url.href));

    // The same changes committed to each (CHANGED records touched), then the state written whole.
    const now = new Date().toISOString();
    const keys = Object.keys(state.images).slice(0, CHANGED);
    const changes = new Map(keys.map((key) => [key, { ...state.images[key]!, updatedAt: now }]));
    const written = async (location: string) => {
      const store = openStore(location, {});
      const base = await store.read();
      const committed = await store.commit(base, changes);
      const commitBytes = store.stats().bytes;
      await store.write(committed);
      return { commit: commitBytes, whole: store.stats().bytes - commitBytes };
    };
    const file = await written(fixtures.statePath);
    const postgres = await written(url.href);
    const a = median(times.a);
    const b = median(times.b);
    return [
      `state-postgres: plan of ${fixtures.manifests} images, file ${ms(a)}, postgres ${ms(b)} (ratio ${(b / a).toFixed(2)})`,
      `  a commit of ${CHANGED} records writes file ${file.commit} B (its journal), postgres ${postgres.commit} B (the rows); ` +
        `the whole state: file ${kb(file.whole)}, postgres ${kb(postgres.whole)}`,
      `  read+plan medians of ${ROUNDS} interleaved rounds after ${WARMUPS} warm-up; first runs ${ms(times.firstA)} and ${ms(times.firstB)}; ${redacted(url)}`,
    ];
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await admin.end().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

function redacted(url: URL): string {
  const shown = new URL(url.href);
  shown.password = '';
  return shown.href;
}
