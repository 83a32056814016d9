// End-to-end harness for `imsync watch`: the built CLI's daemon in a process of its own against
// `imsync emulator` in its own process. A workspace is a temporary directory with a manifest
// directory and a state file; the daemon is looked at through its stdout (JSON lines) and its
// HTTP endpoints, the emulator only through its inspection API (and, for out-of-band changes,
// its IMS API with the emulator's token). Everything waits by polling against a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTEMPT_TAG } from '../../src/ims/ownership.js';
import { FileStateStore } from '../../src/state/file-store.js';
import type { State } from '../../src/state/model.js';
import { countBy, emulatorImages, emulatorRequests, imagesByKey, importPosts, tagValue } from './emulator-inspect.js';
import { spawnEmulator, type EmulatorProcess } from './emulator-process.js';
import { repoRoot } from './run-cli.js';
import { specFor, type SpecFields } from './specs.js';
import type { ImageStatus } from '../../src/watch/status-document.js';

const cli = join(repoRoot, 'dist', 'cli', 'main.js');
export const REGION = 'ap-southeast-1';
/** The emulator's token (EMULATOR_DEFAULTS.token): accepted whatever AK/SK pair it was given. */
export const EMULATOR_TOKEN = 'imsync-emulator-token';

/**
 * Every emulator of these tests accepts this pair, and every daemon gets it: the secret is
 * distinctive, so that finding it in a daemon's output is never a coincidence.
 */
export const ACCESS_KEY = 'WATCHE2EACCESSKEY001';
export const SECRET_KEY = `watch-e2e-secret-${randomBytes(12).toString('hex')}`;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns something other than undefined; throws after `timeoutMs`, with
 * what `describe` says about the last attempt (the thing waited for, and what was seen instead).
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 50,
  describe: () => Promise<string> | string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const seen = await Promise.resolve(describe()).catch(() => '');
      const because = lastError === undefined ? '' : ` (last error: ${(lastError as Error).message})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${because}\n${seen}`);
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Processes, killed by `cleanup` (afterEach).

const emulators: EmulatorProcess[] = [];
const daemons: DaemonProcess[] = [];
const workspaces: string[] = [];

/** The emulator in its own process, accepting ACCESS_KEY/SECRET_KEY (and its token). */
export async function startEmulator(args: readonly string[] = ['--job-seconds', '1', '--faults', 'jobcap=1000']) {
  const emulator = await spawnEmulator(args, { HW_ACCESS_KEY: ACCESS_KEY, HW_SECRET_KEY: SECRET_KEY });
  emulators.push(emulator);
  return emulator;
}

/** Kills every daemon and emulator the test started and removes its workspaces. */
export async function cleanup(): Promise<void> {
  const running = daemons.splice(0);
  for (const daemon of running) daemon.kill();
  await Promise.all(running.map((daemon) => daemon.exited));
  for (const emulator of emulators.splice(0)) emulator.kill();
  await Promise.all(workspaces.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** Everything a test's daemons printed, for the "never a secret" check. */
export const allDaemonOutput: string[] = [];

// ---------------------------------------------------------------------------------------------
// Manifests and state.

/** The YAML of a manifest (JSON is YAML); `region` sets metadata.region. */
export function manifestText(key: string, fields: SpecFields = {}, metadata: { region?: string } = {}): string {
  const document = {
    apiVersion: 'imsync/v1',
    kind: 'Image',
    metadata: { name: key, ...metadata },
    spec: specFor(key, fields),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

export class Workspace {
  readonly manifests: string;
  readonly statePath: string;

  private constructor(readonly dir: string) {
    this.manifests = join(dir, 'manifests');
    this.statePath = join(dir, 'imsync.state.json');
  }

  static async create(prefix = 'imsync-watch-'): Promise<Workspace> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    workspaces.push(dir);
    const workspace = new Workspace(dir);
    await mkdir(workspace.manifests);
    return workspace;
  }

  fileOf(key: string): string {
    return join(this.manifests, `${key}.yaml`);
  }

  /** Writes the manifest of `key`, replacing an earlier one. */
  async put(key: string, fields: SpecFields = {}, metadata: { region?: string } = {}): Promise<void> {
    await writeFile(this.fileOf(key), manifestText(key, fields, metadata));
  }

  /** Writes `text` as the file `name` of the manifest directory. */
  async putRaw(name: string, text: string): Promise<void> {
    await writeFile(join(this.manifests, name), text);
  }

  async remove(key: string): Promise<void> {
    await rm(this.fileOf(key));
  }

  /** The state as the store reads it (file plus journal): throws when it does not load. */
  async state(): Promise<State> {
    return new FileStateStore(this.statePath).read();
  }

  /** The environment that points the CLI at `emulator` (only what a user would set). */
  env(emulator: EmulatorProcess, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      NO_COLOR: '1',
      IMSYNC_ENDPOINT: emulator.url,
      HW_PROJECT_ID: emulator.projectId,
      HW_REGION_NAME: REGION,
      HW_ACCESS_KEY: ACCESS_KEY,
      HW_SECRET_KEY: SECRET_KEY,
      ...extra,
    };
  }

  /**
   * `imsync watch` on this workspace's manifests (or `paths`) with its state and `extra` flags; on
   * a free port of 127.0.0.1 unless `extra` has --listen or `defaultListen` asks for the daemon's
   * default address.
   */
  watch(
    emulator: EmulatorProcess,
    extra: readonly string[] = [],
    options: { env?: NodeJS.ProcessEnv; defaultListen?: boolean; netns?: string; paths?: readonly string[] } = {},
  ): DaemonProcess {
    const listen = options.defaultListen || extra.includes('--listen') ? [] : ['--listen', '127.0.0.1:0'];
    const paths = options.paths ?? [this.manifests];
    const args = ['watch', ...paths, '--state', this.statePath, ...listen, ...extra];
    return new DaemonProcess(args, this.dir, this.env(emulator, options.env), options.netns);
  }

  /** `imsync watch --git URL` on the repository's `images` directory, its clone kept in the workspace. */
  watchGit(
    emulator: EmulatorProcess,
    url: string,
    extra: readonly string[] = [],
    options: { env?: NodeJS.ProcessEnv } = {},
  ): DaemonProcess {
    const git = ['--git', url, '--git-path', 'images', '--git-cache', join(this.dir, 'git')];
    return this.watch(emulator, [...git, ...extra], { ...options, paths: [] });
  }

  /** Any other CLI command with this workspace's environment, run to its end. */
  async run(args: readonly string[], emulator: EmulatorProcess): Promise<CliRun> {
    const child = new DaemonProcess(args, this.dir, this.env(emulator));
    return child.exited;
  }
}

// ---------------------------------------------------------------------------------------------
// The daemon.

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** A log line as pino writes it (JSON when stdout is not a terminal); `time` in ms since the epoch. */
export interface LogLine {
  readonly level: number;
  readonly time: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** The /status document (src/watch/http.ts). */
export interface Status {
  readonly ready: boolean;
  readonly reconciling: boolean;
  /** The directory watched, or the repository followed. */
  readonly source: { readonly kind: 'directory' | 'git'; readonly [field: string]: unknown };
  readonly state: string;
  readonly last_reconcile: {
    readonly started_at: string;
    readonly finished_at: string;
    readonly result: string;
    readonly error: string | null;
    readonly revision: string | null;
    readonly summary: Record<string, number> | null;
  } | null;
  readonly diagnostics: { readonly code: string; readonly message: string; readonly where: string | null }[];
  readonly images: Record<string, StatusImage>;
  readonly [field: string]: unknown;
}

/** An image of the /status document (src/watch/status-document.ts). */
export type StatusImage = ImageStatus;

/** A CLI process (usually `imsync watch`): its output so far, its HTTP endpoints once it listens. */
export class DaemonProcess {
  readonly child: ChildProcess;
  readonly started = Date.now();
  readonly exited: Promise<CliRun>;
  private out = '';
  private err = '';

  /** `netns`: the network namespace to run in (`ip netns exec`), for partition tests. */
  constructor(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv, netns?: string) {
    const [command, ...rest] = [
      ...(netns === undefined ? [] : ['ip', 'netns', 'exec', netns]),
      process.execPath,
      cli,
      ...args,
    ];
    this.child = spawn(command!, rest, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    daemons.push(this);
    this.child.stdout!.on('data', (chunk: Buffer) => (this.out += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.err += chunk.toString()));
    // 'close': the process is gone and its output read to the end.
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        allDaemonOutput.push(this.out, this.err);
        resolve({ code, signal, stdout: this.out, stderr: this.err, ms: Date.now() - this.started });
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stdout(): string {
    return this.out;
  }

  stderr(): string {
    return this.err;
  }

  /**
   * The complete lines printed so far, parsed as JSON (throws on a line that is not), with `time`
   * in ms since the epoch whether the line has it so or as an ISO string.
   */
  logs(): LogLine[] {
    return this.out
      .slice(0, this.out.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        const parsed = JSON.parse(line) as { readonly time: number | string };
        const time = typeof parsed.time === 'number' ? parsed.time : Date.parse(parsed.time);
        return { ...parsed, time } as LogLine;
      });
  }

  logsWith(msg: string): LogLine[] {
    return this.logs().filter((line) => line.msg === msg);
  }

  /** The last lines of output, for failure messages. */
  tail(lines = 40): string {
    const all = this.out.split('\n');
    return `stdout (last ${lines} lines):\n${all.slice(-lines).join('\n')}\nstderr:\n${this.err}`;
  }

  /** Waits for a log line that satisfies `match`; fails early if the process ends. */
  async waitForLog(what: string, match: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    return waitUntil(
      what,
      () => {
        const found = this.logs().find(match);
        if (found === undefined && !this.running) throw new Error(`the daemon ended first: ${this.tail()}`);
        return found;
      },
      timeoutMs,
      20,
      () => this.tail(),
    );
  }

  /** The address of its HTTP endpoints, from the 'watching' or 'standing by' log line (`listen`). */
  async url(timeoutMs = 15_000): Promise<string> {
    const line = await this.waitForLog(
      'the "watching" or "standing by" log line',
      (l) => l.msg === 'watching' || l.msg === 'standing by',
      timeoutMs,
    );
    return String(line.listen);
  }

  async status(): Promise<Status> {
    const response = await fetch(`${await this.url()}/status`);
    if (response.status !== 200) throw new Error(`/status answered ${response.status}`);
    return (await response.json()) as Status;
  }

  async get(path: string): Promise<{ status: number; type: string; body: string }> {
    const response = await fetch(`${await this.url()}${path}`);
    return { status: response.status, type: response.headers.get('content-type') ?? '', body: await response.text() };
  }

  /** Polls /status until `probe` returns something other than undefined. */
  async waitForStatus<T>(what: string, probe: (status: Status) => T | undefined, timeoutMs = 20_000): Promise<T> {
    let last: Status | undefined;
    return waitUntil(
      what,
      async () => {
        if (!this.running) throw new Error(`the daemon ended: ${this.tail()}`);
        last = await this.status();
        return probe(last);
      },
      timeoutMs,
      50,
      () => `last /status: ${JSON.stringify(last, null, 1)}\n${this.tail()}`,
    );
  }

  /**
   * Waits until every key in `keys` is recorded in `phase` and no reconcile is running. (A record
   * turns succeeded before its reconcile ends: until then `last_reconcile` is the one before.)
   */
  async waitForPhase(keys: readonly string[], phase: string, timeoutMs = 20_000): Promise<Status> {
    return this.waitForStatus(
      `${keys.join(', ')} ${phase}, no reconcile running`,
      (status) =>
        !status.reconciling && keys.every((key) => status.images[key]?.phase === phase) ? status : undefined,
      timeoutMs,
    );
  }

  /** Waits until the git source's commit applied is `commit`, with every one of `keys` imported. */
  async waitForCommit(commit: string, keys: readonly string[] = []): Promise<Status> {
    return this.waitForStatus(`${commit.slice(0, 12)} applied`, (status) =>
      status.source.applied_revision === commit &&
      !status.reconciling &&
      keys.every((key) => status.images[key]?.phase === 'succeeded')
        ? status
        : undefined,
    );
  }

  /** Waits until the daemon is idle: no reconcile running, nothing submitting or submitted. */
  async waitForIdle(timeoutMs = 20_000): Promise<Status> {
    return this.waitForStatus(
      'an idle daemon',
      (status) =>
        !status.reconciling &&
        status.last_reconcile !== null &&
        Object.values(status.images).every((image) => image.phase === 'succeeded' || image.phase === 'failed')
          ? status
          : undefined,
      timeoutMs,
    );
  }

  /** Resolves once the daemon has reconciled (finished) after `since` (a Date.now() value). */
  async waitForReconcileAfter(since: number, timeoutMs = 20_000): Promise<Status> {
    return this.waitForStatus(
      `a reconcile finished after ${new Date(since).toISOString()}`,
      (status) =>
        !status.reconciling && status.last_reconcile !== null && Date.parse(status.last_reconcile.started_at) >= since
          ? status
          : undefined,
      timeoutMs,
    );
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.running) this.child.kill(signal);
  }
}

// ---------------------------------------------------------------------------------------------
// The emulator, through its inspection API.

/** Deletes an image through the emulator's IMS API, as someone outside imsync would (the token). */
export async function deleteOutOfBand(emulator: EmulatorProcess, imageId: string): Promise<number> {
  const response = await fetch(`${emulator.url}/v2/images/${encodeURIComponent(imageId)}`, {
    method: 'DELETE',
    headers: { 'X-Auth-Token': EMULATOR_TOKEN },
  });
  await response.arrayBuffer();
  return response.status;
}

/**
 * Exactly once, key by key: one image per imsync-key tag, active, the one the state records as
 * succeeded under the attempt its tag names; one accepted quick import per key; no image of
 * another key. Returns the problems (empty when none), so that a failure shows them all.
 */
export async function exactlyOnceProblems(
  emulator: EmulatorProcess,
  state: State,
  keys: readonly string[],
): Promise<string[]> {
  const problems: string[] = [];
  const byKey = imagesByKey(await emulatorImages(emulator));
  const accepted = countBy(
    importPosts(await emulatorRequests(emulator)).filter((post) => post.status === 200),
    (post) => post.key,
  );
  for (const key of keys) {
    const images = byKey.get(key) ?? [];
    const record = state.images[key];
    if (images.length !== 1 || images[0]!.status !== 'active') {
      problems.push(`${key}: ${images.length} images (${images.map((i) => `${i.id} ${i.status}`).join(', ')})`);
    } else if (record?.phase !== 'succeeded' || record.imageId !== images[0]!.id) {
      problems.push(`${key}: the state says ${record?.phase} ${record?.imageId}, the emulator has ${images[0]!.id}`);
    } else if (record.attemptId !== tagValue(images[0]!, ATTEMPT_TAG)) {
      problems.push(`${key}: state attempt ${record.attemptId}, image attempt ${tagValue(images[0]!, ATTEMPT_TAG)}`);
    }
    if (accepted.get(key) !== 1) problems.push(`${key}: ${accepted.get(key) ?? 0} accepted quick imports`);
  }
  for (const key of byKey.keys()) if (!keys.includes(key)) problems.push(`${key}: an image of no manifest`);
  return problems;
}
