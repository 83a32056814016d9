// End-to-end apply tests: the built CLI in processes of its own against `imsync emulator` in its
// own process. A workspace is a temporary directory with manifests and a state file; the emulator
// is looked at only through its inspection API (/__emulator/images and /__emulator/requests).
import { expect } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStateStore } from '../../src/state/file-store.js';
import type { State } from '../../src/state/model.js';
import { spawnEmulator, type EmulatorProcess } from './emulator-process.js';
import { repoRoot } from './run-cli.js';
import { emulatorImages, type EmulatorImage, tagValue, imagesByKey } from './emulator-inspect.js';
import { ATTEMPT_TAG } from '../../src/ims/ownership.js';
import { specFor } from './specs.js';

const cli = join(repoRoot, 'dist', 'cli', 'main.js');
export const REGION = 'ap-southeast-1';

/** Emulators started by a test file; `stopProcesses` (afterEach) kills them. */
const emulators: EmulatorProcess[] = [];

/**
 * `imsync emulator` in its own process (spawnEmulator). Tried twice: the built CLI is shared with
 * whoever runs `npm run build` meanwhile, and a start that meets a half-written dist/ fails.
 */
export async function startEmulator(args: readonly string[] = [], env: NodeJS.ProcessEnv = {}) {
  let emulator: EmulatorProcess;
  try {
    emulator = await spawnEmulator(args, env);
  } catch (error) {
    console.warn(`the emulator did not start (${String(error)}); trying once more`);
    await sleep(2000);
    emulator = await spawnEmulator(args, env);
  }
  emulators.push(emulator);
  return emulator;
}

/** CLI processes started by a test file; `stopProcesses` kills those still running. */
const processes: CliProcess[] = [];

/** Kills what the test started: CLI processes still running (a failed test's), then the emulators. */
export function stopProcesses(): void {
  for (const cli of processes.splice(0)) {
    if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
  }
  for (const emulator of emulators.splice(0)) emulator.kill();
}

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** A CLI process still running: its output so far, and a way to wait for a line of it. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly started = Date.now();
  readonly exited: Promise<CliRun>;
  private out = '';
  private err = '';
  private readonly listeners = new Set<() => void>();

  constructor(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [cli, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    processes.push(this);
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.out += chunk.toString();
      for (const listener of this.listeners) listener();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.err += chunk.toString()));
    // 'close': the process is gone (reaped) and its output read to the end.
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        resolve({ code, signal, stdout: this.out, stderr: this.err, ms: Date.now() - this.started });
        for (const listener of this.listeners) listener();
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  stdout(): string {
    return this.out;
  }

  /** The complete JSON lines printed so far. */
  events(): Record<string, unknown>[] {
    return jsonLines(this.out.slice(0, this.out.lastIndexOf('\n') + 1));
  }

  /** Resolves once `ready` holds of the output; rejects if the process ends first or time runs out. */
  async waitFor(ready: (process: CliProcess) => boolean, timeoutMs: number): Promise<void> {
    if (ready(this)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => finish(new Error(`timed out after ${timeoutMs} ms; output:\n${this.out}`)),
        timeoutMs,
      );
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        if (ready(this)) finish();
        else if (this.child.exitCode !== null || this.child.signalCode !== null)
          finish(new Error(`the process ended first; stdout:\n${this.out}\nstderr:\n${this.err}`));
      };
      this.listeners.add(check);
    });
  }
}

export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The apply flags every test uses: its own state file, no prompt, JSON, a short settle grace. */
export function applyArgs(workspace: Workspace, ...extra: string[]): string[] {
  return [
    'apply',
    workspace.manifests,
    '--state',
    workspace.statePath,
    '--auto-approve',
    '--settle-grace',
    '1s',
    ...extra,
  ];
}

/** `plan` of the workspace's manifests against its state. */
export function planArgs(workspace: Workspace, ...extra: string[]): string[] {
  return ['plan', workspace.manifests, '--state', workspace.statePath, ...extra];
}

/** The one image of `key` the emulator holds. */
export async function imageOf(emulator: EmulatorProcess, key: string): Promise<EmulatorImage> {
  const images = imagesByKey(await emulatorImages(emulator)).get(key) ?? [];
  expect(images, `images of ${key}`).toHaveLength(1);
  return images[0]!;
}

/** A directory with manifests (one file per key) and a state file. */
export class Workspace {
  readonly manifests: string;
  readonly statePath: string;

  private constructor(readonly dir: string) {
    this.manifests = join(dir, 'manifests');
    this.statePath = join(dir, 'imsync.state.json');
  }

  static async create(prefix = 'imsync-apply-'): Promise<Workspace> {
    const workspace = new Workspace(await mkdtemp(join(tmpdir(), prefix)));
    await mkdir(workspace.manifests);
    return workspace;
  }

  /** Writes the manifest of `key` (JSON is YAML), replacing an earlier one. */
  async put(key: string, spec: Record<string, unknown> = specFor(key)): Promise<void> {
    const document = { apiVersion: 'imsync/v1', kind: 'Image', metadata: { name: key }, spec };
    await writeFile(join(this.manifests, `${key}.yaml`), `${JSON.stringify(document, null, 2)}\n`);
  }

  async remove(key: string): Promise<void> {
    await rm(join(this.manifests, `${key}.yaml`));
  }

  /** The environment that points the CLI at `emulator` (only what a user would set). */
  env(emulator: EmulatorProcess, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      NO_COLOR: '1',
      IMSYNC_ENDPOINT: emulator.url,
      HW_PROJECT_ID: emulator.projectId,
      HW_REGION_NAME: REGION,
      HW_ACCESS_KEY: emulator.accessKey,
      HW_SECRET_KEY: emulator.secretKey,
      ...extra,
    };
  }

  start(args: readonly string[], emulator: EmulatorProcess, extraEnv: NodeJS.ProcessEnv = {}): CliProcess {
    return new CliProcess(args, this.dir, this.env(emulator, extraEnv));
  }

  async run(args: readonly string[], emulator: EmulatorProcess, extraEnv: NodeJS.ProcessEnv = {}): Promise<CliRun> {
    return this.start(args, emulator, extraEnv).exited;
  }

  /** The state as the store reads it (file plus journal): throws when it does not load. */
  async state(): Promise<State> {
    return new FileStateStore(this.statePath).read();
  }

  async files(): Promise<string[]> {
    return readdir(this.dir);
  }
}

/**
 * What "no duplicate, and the state agrees" means, key by key: exactly one active image carries
 * the key's tag, no two images of the key are anything but killed (a failed attempt leaves a
 * killed image, which is no duplicate), and the state records that image as succeeded, under the
 * attempt its tag names. Returns the problems found (empty when none), so that a test can show
 * them all at once.
 */
export function duplicateProblems(keys: readonly string[], images: readonly EmulatorImage[], state: State): string[] {
  const problems: string[] = [];
  const byKey = imagesByKey(images);
  for (const key of keys) {
    const mine = byKey.get(key) ?? [];
    const active = mine.filter((image) => image.status === 'active');
    const live = mine.filter((image) => image.status !== 'killed');
    if (active.length !== 1 || live.length !== 1) {
      problems.push(`${key}: ${mine.length} images (${mine.map((i) => `${i.id} ${i.status}`).join(', ')})`);
      continue;
    }
    const record = state.images[key];
    const image = active[0]!;
    if (record?.phase !== 'succeeded' || record.imageId !== image.id) {
      problems.push(`${key}: state says ${record?.phase} ${record?.imageId}, the emulator has ${image.id}`);
    } else if (record.attemptId !== tagValue(image, ATTEMPT_TAG)) {
      problems.push(`${key}: state attempt ${record.attemptId}, image attempt ${tagValue(image, ATTEMPT_TAG)}`);
    }
  }
  for (const key of byKey.keys()) if (!keys.includes(key)) problems.push(`${key}: an image of no manifest`);
  return problems;
}

/** What a run printed, for assertion messages. */
export function outputOf(run: CliRun): string {
  return `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Converged: a plan with nothing to do, exactly one image per key, and a state that agrees. */
export async function expectConverged(
  workspace: Workspace,
  emulator: EmulatorProcess,
  keys: readonly string[],
): Promise<void> {
  const plan = await workspace.run(
    ['plan', workspace.manifests, '--state', workspace.statePath, '--detailed-exitcode'],
    emulator,
  );
  expect(plan.code, plan.stdout + plan.stderr).toBe(0);
  const images = await emulatorImages(emulator);
  expect(duplicateProblems(keys, images, await workspace.state())).toEqual([]);
  expect(images).toHaveLength(keys.length);
}
