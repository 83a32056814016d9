// DESIGN.md §8: 2,000 imports against the emulator in its own process, limited to 100 requests a
// second, with 5-second jobs (and 10,000 at 250 a second, the state in a file and on PostgreSQL).
// imsync is not told the limit: it finds it from the throttling answers, and every throttled
// request counts. Floor = imports / rate + job time.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { request } from 'undici';
import { spawnEmulator } from '../support/emulator-process.js';
import { ratioAgainst, ROOT, type BenchSection } from './bench.js';
import { SERVER } from './state-postgres.js';

const JOB_SECONDS = 5;
const FILES = 20;
const TARGETS = { wall: 1.25, requestsPerImage: 1.3, stateBytes: 20 };

interface Run {
  readonly name: string;
  readonly imports: number;
  /** The emulator's requests a second. */
  readonly rate: number;
  /** The emulator's realism: its kind default, or strict (research/ims-fidelity.md §2). */
  readonly realism: readonly string[];
  /** Seconds from an accepted import to its image being listed. */
  readonly lagSeconds: number;
  readonly store: 'file' | 'postgres';
}

const RUNS: readonly Run[] = [
  { name: 'default', imports: 2000, rate: 100, realism: [], lagSeconds: 0, store: 'file' },
  // The cap is lifted (jobcap) as in the default run: the bench measures pacing, not the cap. An
  // image is listed 40 s after its import was accepted: the floor waits for the last one.
  { name: 'strict realism', imports: 2000, rate: 100, realism: ['--realism', 'strict'], lagSeconds: 40, store: 'file' },
  // The default run with the state in a schema of its own on PostgreSQL; then both at 10,000.
  { name: 'default, state on PostgreSQL', imports: 2000, rate: 100, realism: [], lagSeconds: 0, store: 'postgres' },
  { name: 'default', imports: 10_000, rate: 250, realism: [], lagSeconds: 0, store: 'file' },
  { name: 'default, state on PostgreSQL', imports: 10_000, rate: 250, realism: [], lagSeconds: 0, store: 'postgres' },
];

export const apply: BenchSection = {
  name: 'apply',
  async run() {
    const lines: string[] = [];
    for (const run of RUNS) lines.push(...(await applyOnce(run)));
    return lines;
  },
};

async function applyOnce({ name, imports, rate, realism, lagSeconds, store }: Run): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'imsync-bench-apply-'));
  const emulator = await spawnEmulator([
    '--job-seconds',
    String(JOB_SECONDS),
    '--faults',
    `rate=${rate},jobcap=${imports}`,
    '--quota',
    String(imports),
    '--seed',
    '1',
    ...realism,
  ]);
  try {
    await writeManifests(dir, imports);
    const statePath = join(dir, 'imsync.state.json');
    const postgres = new URL(SERVER);
    postgres.searchParams.set('schema', `imsync_bench_${randomBytes(6).toString('hex')}`);
    const run = await runApply(dir, store === 'file' ? statePath : postgres.href, {
      IMSYNC_ENDPOINT: emulator.url,
      HW_PROJECT_ID: emulator.projectId,
      HW_REGION_NAME: 'ap-southeast-1',
      HW_ACCESS_KEY: emulator.accessKey,
      HW_SECRET_KEY: emulator.secretKey,
    });
    const summary = run.summary;
    if (run.code !== 0 || summary?.imported !== imports) {
      throw new Error(
        `apply (${name}) exited ${run.code} having imported ${summary?.imported ?? 'nothing'}: ${run.stderr.slice(-500)}`,
      );
    }
    const log = (await (await request(`${emulator.url}/__emulator/requests`)).body.json()) as {
      requests: { status: number | null }[];
    };
    const requests = log.requests.length;
    const throttled = log.requests.filter((r) => r.status === 429).length;
    // A file: the journal, plus folding it into the file once at the end (the lock's release).
    // PostgreSQL: the rows each commit wrote, against the records' size as stored.
    const finalBytes = store === 'file' ? (await stat(statePath)).size : await postgresBytes(postgres);
    const written = summary.state_bytes + (store === 'file' ? finalBytes : 0);
    const floor = imports / rate + Math.max(JOB_SECONDS, lagSeconds);
    return [
      `apply ${imports / 1000}k (${name}): ${run.seconds.toFixed(1)} s for ${imports} imports at ${rate} req/s with ${JOB_SECONDS} s jobs${lagSeconds > 0 ? ` listed ${lagSeconds} s late` : ''}, floor ${floor} s, ${ratioAgainst(run.seconds / floor, TARGETS.wall)}`,
      `  API requests: ${requests} (${throttled} throttled), ${(requests / imports).toFixed(2)} per image (target <= ${TARGETS.requestsPerImage})${requests / imports <= TARGETS.requestsPerImage ? '' : ' MISSED'}`,
      `  state: ${summary.state_writes + (store === 'file' ? 1 : 0)} writes, ${(written / 1e6).toFixed(1)} MB written for a ${(finalBytes / 1e6).toFixed(1)} MB state, ${ratioAgainst(written / finalBytes, TARGETS.stateBytes)}`,
      `  peak RSS of imsync apply: ${(run.maxRssKb / 1024).toFixed(0)} MB`,
    ];
  } finally {
    emulator.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

async function writeManifests(dir: string, imports: number): Promise<void> {
  const perFile = imports / FILES;
  for (let file = 0; file < FILES; file++) {
    const documents = Array.from({ length: perFile }, (_, i) => {
      const n = String(file * perFile + i).padStart(5, '0');
      return [
        'apiVersion: imsync/v1',
        'kind: Image',
        'metadata:',
        `  name: bench-${n}`,
        'spec:',
        `  name: bench-${n}`,
        `  image_url: golden-images:bench-${n}.zvhd2`,
        '  os_version: Ubuntu 22.04 server 64bit',
        '  min_disk: 40',
        '  image_tags:',
        `    - { key: team, value: team-${file} }`,
        '',
      ].join('\n');
    });
    await writeFile(join(dir, `images-${file}.yaml`), documents.join('---\n'));
  }
}

interface ApplyRun {
  readonly code: number | null;
  readonly seconds: number;
  readonly maxRssKb: number;
  readonly stderr: string;
  readonly summary?: { imported: number; state_writes: number; state_bytes: number };
}

/** Runs `imsync apply` under GNU time (for its peak RSS) and reads its JSON summary. */
async function runApply(dir: string, statePath: string, env: Record<string, string>): Promise<ApplyRun> {
  const args = [
    '-f',
    '%M',
    process.execPath,
    'dist/cli/main.js',
    'apply',
    dir,
    '--auto-approve',
    '--json',
    '--state',
    statePath,
  ];
  const child = spawn('/usr/bin/time', args, { cwd: ROOT, env: { PATH: process.env.PATH, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const start = process.hrtime.bigint();
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const finished = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { type: string; summary?: ApplyRun['summary'] })
    .find((event) => event.type === 'apply.finished');
  const maxRssKb = Number(/(\d+)\s*$/.exec(stderr)?.[1] ?? 0);
  return { code, seconds, maxRssKb, stderr, ...(finished?.summary ? { summary: finished.summary } : {}) };
}

/** The bytes of a PostgreSQL state's records as stored; its schema is dropped. */
async function postgresBytes(location: URL): Promise<number> {
  const schema = location.searchParams.get('schema')!;
  const admin = new pg.Client({ connectionString: SERVER });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ bytes: string }>(
      `SELECT sum(octet_length(key) + octet_length(record::text)) AS bytes FROM "${schema}".imsync_images`,
    );
    return Number(rows[0]!.bytes);
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}
