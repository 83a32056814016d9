// The system `git`, run without a shell, a terminal or the user's configuration: nothing it asks
// can block on a prompt, and nothing outside the options given changes what it does. Secrets
// reach it through the environment (GIT_CONFIG_*), never its arguments, which `ps` shows.
import { execFile } from 'node:child_process';
import { printable, truncate } from '../text.js';

export class GitError extends Error {
  override readonly name = 'GitError';
}

export interface GitRun {
  /** git's working directory. */
  readonly cwd?: string;
  /** Configuration for this run only, given through the environment (secrets may be in it). */
  readonly config?: Readonly<Record<string, string>>;
  /** More environment (GIT_SSH_COMMAND, GNUPGHOME, GIT_INDEX_FILE). */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Texts to remove from what an error says (a token, a password in a URL). */
  readonly secrets?: readonly string[];
}

const DEFAULT_TIMEOUT_MS = 120_000;
/** Enough for the object listing of a large tree. */
const MAX_OUTPUT = 64 * 1024 * 1024;

/** Runs `git ARGS`; resolves with its stdout, or rejects with a GitError saying what git said. */
export function git(args: readonly string[], run: GitRun = {}): Promise<string> {
  const config = Object.entries(run.config ?? {});
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    // No prompt for a user name, a password or a host key: an answer never comes. (No askpass
    // program is passed on either: git fails at once where it would have asked.)
    GIT_TERMINAL_PROMPT: '0',
    // Neither the user's nor the system's configuration applies; only what is given here.
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    LC_ALL: 'C',
    GIT_CONFIG_COUNT: String(config.length),
    ...Object.fromEntries(
      config.flatMap(([key, value], i) => [
        [`GIT_CONFIG_KEY_${i}`, key],
        [`GIT_CONFIG_VALUE_${i}`, value],
      ]),
    ),
    ...run.env,
  };
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      [...args],
      {
        cwd: run.cwd,
        env,
        timeout: run.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxBuffer: MAX_OUTPUT,
        encoding: 'utf8',
        ...(run.signal ? { signal: run.signal } : {}),
      },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        // What git said, without its "fatal:" and "error:" labels: callers say what was being done.
        const said = stderr.trim().replace(/^(fatal|error): /gm, '') || error.message;
        const why = error.killed ? `git stopped after ${(run.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000}s` : said;
        reject(new GitError(redact(why, run.secrets ?? [])));
      },
    );
  });
}

/**
 * `text` without the given secrets or the password of any URL in it, cut to one printable
 * paragraph: what git says reaches logs and /status.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let shown = text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1***@');
  for (const secret of secrets) if (secret.length > 0) shown = shown.replaceAll(secret, '***');
  return truncate(printable(shown.replace(/\s*\n\s*/g, '; ')), 1000);
}
