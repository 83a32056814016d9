// `imsync watch` (issue 5): how long from saving a manifest to its quick-import request reaching
// IMS, and what the daemon costs while nothing happens; then the same with 10,000 manifests
// already applied by `imsync apply` (issue 13: within 0.5 s at the median, at most 250 MB resident). The emulator
// and the daemon run in processes of their own, on one machine: the emulator's request log stamps
// each request with its arrival time by the same clock the bench reads, so a latency is that
// stamp minus the time the file's write returned. Each import is waited for before the next edit,
// so edits never queue.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnEmulator } from '../support/emulator-process.js';
import { manifestYaml } from '../support/specs.js';
import { ms, ROOT, type BenchSection } from './bench.js';

interface Run {
  /** Manifests applied before the first edit. */
  readonly manifests: number;
  readonly edits: number;
  /** Seconds of idle CPU measured after the edits (0: not measured). */
  readonly idleSeconds: number;
}

const RUNS: readonly Run[] = [
  { manifests: 1, edits: 50, idleSeconds: 60 },
  { manifests: 10_000, edits: 30, idleSeconds: 0 },
];
const TARGETS = { p50Ms: 500, rssMb: 250 };
/** The daemon's quiet spell (src/cli/watch-command.ts DEBOUNCE.quietMs), for the report. */
const DEBOUNCE_MS = 150;
const POLL_MS = 5;

interface LogLine {
  readonly msg: string;
  readonly time: number;
  readonly [field: string]: unknown;
}

interface LoggedRequest {
  readonly time: string;
  readonly method: string;
  readonly path: string;
  readonly status: number | null;
  readonly body?: { image_tags?: { key: string; value: string }[] };
}

export const watch: BenchSection = {
  name: 'watch',
  async run() {
    const lines: string[] = [];
    for (const run of RUNS) lines.push(...(await watchOnce(run)));
    return lines;
  },
};

async function watchOnce({ manifests: count, edits, idleSeconds }: Run): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'imsync-bench-watch-'));
  const manifests = join(dir, 'manifests');
  await mkdir(manifests);
  // The account holds every image the run makes (jobcap and quota lifted: neither is under test).
  const emulator = await spawnEmulator([
    '--job-seconds',
    '1',
    '--faults',
    `jobcap=${count + edits}`,
    '--quota',
    String(count + edits),
    '--seed',
    '1',
  ]);
  const env = {
    PATH: process.env.PATH,
    NO_COLOR: '1',
    IMSYNC_ENDPOINT: emulator.url,
    HW_PROJECT_ID: emulator.projectId,
    HW_REGION_NAME: 'ap-southeast-1',
    HW_ACCESS_KEY: emulator.accessKey,
    HW_SECRET_KEY: emulator.secretKey,
  };
  // The manifests are there at start, so the daemon begins with a valid set (and warm).
  for (let i = 0; i < count; i++) {
    const key = i === 0 ? 'warmup' : `applied-${String(i).padStart(5, '0')}`;
    await writeFile(join(manifests, `${key}.yaml`), manifestYaml(key, `golden-images:${key}.zvhd2`));
  }
  // A large set is applied first by `imsync apply`: the daemon is measured as it runs day to day,
  // starting on a state that has them all (its first reconcile refreshes and finds nothing to do).
  if (count > 1) {
    const args = ['dist/cli/main.js', 'apply', manifests, '--auto-approve', '--state', join(dir, 'imsync.state.json')];
    await promisify(execFile)(process.execPath, args, { cwd: ROOT, env, maxBuffer: 64 * 1024 * 1024 });
  }
  const daemon = spawn(
    process.execPath,
    [
      'dist/cli/main.js',
      'watch',
      manifests,
      '--state',
      join(dir, 'imsync.state.json'),
      '--listen',
      '127.0.0.1:0',
      '--interval',
      '5m',
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  daemon.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  daemon.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Parsed as they come: at 10,000 manifests the daemon writes tens of thousands of lines.
  const parsed: LogLine[] = [];
  let consumed = 0;
  const logs = (): LogLine[] => {
    const end = stdout.lastIndexOf('\n') + 1;
    for (const line of stdout.slice(consumed, end).split('\n')) {
      if (line === '') continue;
      // `time`: an ISO string (or pino's default, ms since the epoch), as ms.
      const fields = JSON.parse(line) as { readonly time: number | string };
      parsed.push({
        ...fields,
        time: typeof fields.time === 'number' ? fields.time : Date.parse(fields.time),
      } as LogLine);
    }
    consumed = end;
    return parsed;
  };
  const logged = (msg: string, key?: string) =>
    logs().find((line) => line.msg === msg && (key === undefined || line.key === key));
  const until = async <T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (daemon.exitCode !== null) throw new Error(`the daemon exited ${daemon.exitCode}: ${stderr.slice(-500)}`);
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; daemon: ${stdout.slice(-1000)}`);
      await sleep(POLL_MS);
    }
  };
  try {
    const { listen } = (await until('the "watching" log line', () => logged('watching'), 15_000)) as {
      listen?: string;
    };
    const started = Date.now();
    // Ready: the first reconcile (a refresh, with nothing to do at 10,000) has sent its work.
    const ready = async () => ((await fetch(`${listen}/readyz`)).status === 200 ? true : undefined);
    await until('the first reconcile', ready, 300_000);
    const warmSeconds = (Date.now() - started) / 1000;

    const latencies: number[] = [];
    for (let edit = 0; edit < edits; edit++) {
      const key = `bench-${String(edit).padStart(2, '0')}`;
      await writeFile(join(manifests, `${key}.yaml`), manifestYaml(key, `golden-images:${key}.zvhd2`));
      const saved = Date.now();
      // The daemon says it was sent; the emulator's log says when it arrived.
      await until(`the quick import of ${key}`, () => logged('import.submitted', key), 30_000);
      const post = (await emulatorRequests(emulator.url)).find((request) => importKey(request) === key);
      if (!post) throw new Error(`the emulator has no quick import of ${key}`);
      latencies.push(Date.parse(post.time) - saved);
      await until(
        `the import of ${key}`,
        () => {
          if (logged('import.failed', key)) throw new Error(`the import of ${key} failed`);
          return logged('import.succeeded', key);
        },
        30_000,
      );
    }
    const duplicates = (await emulatorRequests(emulator.url)).filter(isImport).length - (edits + count);
    if (duplicates !== 0) throw new Error(`${duplicates} quick imports more than manifests`);
    const memory = await residentMb(daemon.pid!);
    const sorted = [...latencies].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const lines = [
      `watch (${count} manifest${count === 1 ? '' : 's'} applied): save -> import request p50 ${ms(p50)}, p95 ${ms(percentile(sorted, 95))} over ${edits} edits (debounce ${DEBOUNCE_MS} ms; min ${ms(sorted[0]!)}, max ${ms(sorted[sorted.length - 1]!)})${count > 1 ? `, target p50 <= ${TARGETS.p50Ms} ms${p50 <= TARGETS.p50Ms ? '' : ' MISSED'}` : ''}`,
      `  daemon RSS ${memory.now} MB after the edits, peak ${memory.peak} MB${count > 1 ? ` (target <= ${TARGETS.rssMb} MB${memory.peak <= TARGETS.rssMb ? '' : ' MISSED'})` : ''}; first reconcile (a refresh) ${warmSeconds.toFixed(1)} s`,
    ];
    if (idleSeconds === 0) return lines;

    // Idle: no edits, no jobs; the only timer due is the resync, 5 min ± 10% after the daemon started.
    const idleFrom = Date.now();
    const before = await cpuSeconds(daemon.pid!);
    await sleep(idleSeconds * 1000);
    const after = await cpuSeconds(daemon.pid!);
    const idleTo = Date.now();
    const resyncs = logs().filter(
      (line) => line.msg === 'reconcile requested' && line.time >= idleFrom && line.time <= idleTo,
    ).length;
    const cpu = after - before;
    return [
      ...lines,
      `  idle: ${cpu.toFixed(2)} s CPU over ${idleSeconds} s (${((cpu / idleSeconds) * 100).toFixed(2)}% of a core; --interval 5m, ${resyncs === 0 ? 'no resync' : `${resyncs} reconcile(s)`} in the window)`,
    ];
  } finally {
    daemon.kill('SIGKILL');
    emulator.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Resident memory now and at its peak (VmRSS, VmHWM), in MB. */
async function residentMb(pid: number): Promise<{ now: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { now: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

async function emulatorRequests(url: string): Promise<LoggedRequest[]> {
  const response = await fetch(`${url}/__emulator/requests`);
  return ((await response.json()) as { requests: LoggedRequest[] }).requests;
}

function isImport(request: LoggedRequest): boolean {
  return request.method === 'POST' && request.path === '/v2/cloudimages/quickimport/action';
}

function importKey(request: LoggedRequest): string | undefined {
  return isImport(request) ? request.body?.image_tags?.find((tag) => tag.key === 'imsync-key')?.value : undefined;
}

/** Nearest rank. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** User plus system CPU time of a process so far, from /proc/<pid>/stat (fields 14 and 15, in clock ticks). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / clockTicks();
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}
