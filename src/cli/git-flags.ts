// `watch --git`: the flags and environment that say which repository to follow and how to reach
// it, checked before anything starts. Secrets come from the environment or files, never flags.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  cacheDirFor,
  GitSource,
  parseGitPath,
  parseGitRef,
  SourceError,
  type CommitCheck,
  type GitAuth,
  type GitSetting,
} from '../source/git.js';
import { UsageError } from './config.js';
import { parseDuration } from './flags.js';

export interface GitFlags {
  git?: string;
  ref?: string;
  gitPath?: string;
  gitInterval?: string;
  gitCache?: string;
  gitCredentials?: string;
  gitSshKey?: string;
  gitKnownHosts?: string;
}

const SCHEMES = /^(https?|ssh|file):\/\//i;
/** scp-like ssh: git@host:group/repo.git */
const SCP_LIKE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!\/\/)/;

export function gitSetting(flags: GitFlags, env: NodeJS.ProcessEnv, check?: CommitCheck): GitSetting {
  const url = flags.git!;
  if (!SCHEMES.test(url) && !SCP_LIKE.test(url)) {
    throw new UsageError(`--git "${url}" must be an https://, ssh://, git@host:path or file:// URL of a repository`);
  }
  const intervalMs = parseDuration(flags.gitInterval ?? '1m', '--git-interval');
  if (intervalMs < 1000) throw new UsageError('--git-interval must be at least 1s');
  const cacheRoot = resolve(
    flags.gitCache ?? env.IMSYNC_GIT_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'imsync', 'git'),
  );
  try {
    const ref = parseGitRef(flags.ref ?? 'main');
    const path = parseGitPath(flags.gitPath ?? '');
    const source = new GitSource({
      url,
      ref,
      path,
      cacheDir: cacheDirFor(cacheRoot, url),
      auth: gitAuth(flags, env, url),
      ...(check ? { check } : {}),
    });
    return { source, intervalMs, path };
  } catch (error) {
    if (error instanceof SourceError) throw new UsageError(error.message);
    throw error;
  }
}

function gitAuth(flags: GitFlags, env: NodeJS.ProcessEnv, url: string): GitAuth {
  const token = env.IMSYNC_GIT_TOKEN;
  const https = /^https?:/i.test(url);
  if (token !== undefined && !https) throw new UsageError('IMSYNC_GIT_TOKEN is for an https:// repository only');
  if (token !== undefined && token.trim() === '') throw new UsageError('IMSYNC_GIT_TOKEN is empty');
  if ((flags.gitSshKey ?? flags.gitKnownHosts) !== undefined && https) {
    throw new UsageError('--git-ssh-key and --git-known-hosts are for an ssh repository only');
  }
  return {
    // GitHub and GitLab take any user name with a token as its password.
    ...(token === undefined ? {} : { basic: { username: env.IMSYNC_GIT_USERNAME ?? 'imsync', password: token } }),
    // Absolute: git runs in directories of its own.
    ...(flags.gitCredentials === undefined ? {} : { credentialsFile: resolve(flags.gitCredentials) }),
    ...(flags.gitSshKey === undefined ? {} : { sshKeyFile: resolve(flags.gitSshKey) }),
    ...(flags.gitKnownHosts === undefined ? {} : { knownHostsFile: resolve(flags.gitKnownHosts) }),
  };
}
