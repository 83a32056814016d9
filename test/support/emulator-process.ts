// `imsync emulator` in a process of its own, as users run it; what it prints tells where it is.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { repoRoot } from './run-cli.js';

export interface EmulatorProcess {
  readonly process: ChildProcessWithoutNullStreams;
  readonly url: string;
  readonly projectId: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** IMSYNC_OBS_ENDPOINT, for the pre-flight. */
  readonly obsEndpoint: string;
  /** Everything it has printed so far. */
  readonly stdout: () => string;
  /** SIGKILL, for cleanup. */
  readonly kill: () => void;
}

/** Starts the built CLI's emulator on a free port with `args`, and waits for its announcement. */
export async function spawnEmulator(
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<EmulatorProcess> {
  const child = spawn(process.execPath, ['dist/cli/main.js', 'emulator', '--port', '0', ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, NO_COLOR: '1', ...env },
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => stdout.includes('HW_REGION_NAME') && resolve());
    child.on('exit', (code) => reject(new Error(`the emulator exited with ${code}: ${stdout}`)));
  });
  const field = (pattern: RegExp) => pattern.exec(stdout)?.[1] ?? '';
  return {
    process: child,
    url: field(/IMSYNC_ENDPOINT=(\S+)/),
    projectId: field(/HW_PROJECT_ID=(\S+)/),
    accessKey: field(/HW_ACCESS_KEY=(\S+)/) || (env.HW_ACCESS_KEY ?? ''),
    secretKey: field(/HW_SECRET_KEY=(\S+)/) || (env.HW_SECRET_KEY ?? ''),
    obsEndpoint: field(/IMSYNC_OBS_ENDPOINT=(\S+)/),
    stdout: () => stdout,
    kill: () => child.kill('SIGKILL'),
  };
}

/** The environment that points the CLI at `emulator`, OBS included, as its banner says to. */
export function emulatorEnv(emulator: EmulatorProcess): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    NO_COLOR: '1',
    IMSYNC_ENDPOINT: emulator.url,
    IMSYNC_OBS_ENDPOINT: emulator.obsEndpoint,
    HW_PROJECT_ID: emulator.projectId,
    HW_REGION_NAME: 'ap-southeast-1',
    HW_ACCESS_KEY: emulator.accessKey,
    HW_SECRET_KEY: emulator.secretKey,
  };
}
