// `imsync watch` (issue 5): how long from saving a manifest to its quick-import request reaching
// IMS, and what the daemon costs while nothing happens. The emulator and the daemon run in
// processes of their own, on one machine: the emulator's request log stamps each request with its
// arrival time by the same clock the bench reads, so a latency is that stamp minus the time the
// file's write returned. Each import is waited for before the next edit, so edits never queue.
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnEmulator } from '../support/emulator-process.js';
import { ms, ROOT, type BenchSection } from './bench.js';

const EDITS = 50;
const IDLE_SECONDS = 60;
/** The daemon's quiet spell (src/cli/watch-command.ts DEBOUNCE.quietMs), for the report. */
const DEBOUNCE_MS = 300;
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
    const dir = await mkdtemp(join(tmpdir(), 'imsync-bench-watch-'));
    const manifests = join(dir, 'manifests');
    await mkdir(manifests);
    const emulator = await spawnEmulator(['--job-seconds', '1', '--faults', 'jobcap=1000', '--seed', '1']);
    const env = {
      PATH: process.env.PATH,
      NO_COLOR: '1',
      IMSYNC_ENDPOINT: emulator.url,
      HW_PROJECT_ID: emulator.projectId,
      HW_REGION_NAME: 'ap-southeast-1',
      HW_ACCESS_KEY: emulator.accessKey,
      HW_SECRET_KEY: emulator.secretKey,
    };
    // The first manifest is there at start, so the daemon begins with a valid set (and warm).
    await writeFile(join(manifests, 'warmup.yaml'), manifest('warmup'));
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
    const logs = (): LogLine[] =>
      stdout
        .slice(0, stdout.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => {
          // `time`: an ISO string (or pino's default, ms since the epoch), as ms.
          const parsed = JSON.parse(line) as { readonly time: number | string };
          return {
            ...parsed,
            time: typeof parsed.time === 'number' ? parsed.time : Date.parse(parsed.time),
          } as LogLine;
        });
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
      const listen = await until(
        'the "watching" log line',
        () => logs().find((line) => line.msg === 'watching')?.listen as string | undefined,
        15_000,
      );
      const phaseOf = async (key: string) => {
        const status = (await (await fetch(`${listen}/status`)).json()) as {
          reconciling: boolean;
          images: Record<string, { phase: string }>;
        };
        return status.reconciling ? undefined : status.images[key]?.phase;
      };
      await until(
        'the warm-up import',
        async () => ((await phaseOf('warmup')) === 'succeeded' ? true : undefined),
        30_000,
      );

      const latencies: number[] = [];
      let seen = 0;
      for (let edit = 0; edit < EDITS; edit++) {
        const key = `bench-${String(edit).padStart(2, '0')}`;
        await writeFile(join(manifests, `${key}.yaml`), manifest(key));
        const saved = Date.now();
        const post = await until(
          `the quick import of ${key}`,
          async () => {
            const requests = await emulatorRequests(emulator.url);
            const found = requests.slice(seen).find((request) => importKey(request) === key);
            if (found) seen = requests.length;
            return found;
          },
          30_000,
        );
        latencies.push(Date.parse(post.time) - saved);
        await until(
          `the import of ${key}`,
          async () => {
            const phase = await phaseOf(key);
            if (phase === 'failed') throw new Error(`the import of ${key} failed`);
            return phase === 'succeeded' ? true : undefined;
          },
          30_000,
        );
      }
      const duplicates = (await emulatorRequests(emulator.url)).filter(isImport).length - (EDITS + 1);
      if (duplicates !== 0) throw new Error(`${duplicates} quick imports more than manifests`);

      // Idle: no edits, no jobs; the only timer due is the resync, 5 min ± 10% after the daemon started.
      const idleFrom = Date.now();
      const before = await cpuSeconds(daemon.pid!);
      await sleep(IDLE_SECONDS * 1000);
      const after = await cpuSeconds(daemon.pid!);
      const idleTo = Date.now();
      const resyncs = logs().filter(
        (line) => line.msg === 'reconcile requested' && line.time >= idleFrom && line.time <= idleTo,
      ).length;
      const cpu = after - before;
      const sorted = [...latencies].sort((a, b) => a - b);
      return [
        `watch: save -> import request p50 ${ms(percentile(sorted, 50))}, p95 ${ms(percentile(sorted, 95))} over ${EDITS} edits (debounce ${DEBOUNCE_MS} ms; min ${ms(sorted[0]!)}, max ${ms(sorted[sorted.length - 1]!)})`,
        `  idle: ${cpu.toFixed(2)} s CPU over ${IDLE_SECONDS} s (${((cpu / IDLE_SECONDS) * 100).toFixed(2)}% of a core; --interval 5m, ${resyncs === 0 ? 'no resync' : `${resyncs} reconcile(s)`} in the window)`,
      ];
    } finally {
      daemon.kill('SIGKILL');
      emulator.kill();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

function manifest(key: string): string {
  return [
    'apiVersion: imsync/v1',
    'kind: Image',
    'metadata:',
    `  name: ${key}`,
    'spec:',
    `  name: ${key}`,
    `  image_url: golden-images:${key}.zvhd2`,
    '  os_version: Ubuntu 22.04 server 64bit',
    '  min_disk: 40',
    '',
  ].join('\n');
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
