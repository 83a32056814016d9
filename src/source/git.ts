// A git repository as the source of the manifests: fetched with the system git into a bare
// repository of imsync's own, and each commit checked out whole into a directory of its own
// before it is named, so that a half-checked-out tree is never loaded.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { git, redact, type GitRun } from './git-command.js';

/** What to follow: a branch, a tag, or one commit. */
export type GitRef =
  | { readonly kind: 'branch'; readonly name: string }
  | { readonly kind: 'tag'; readonly name: string }
  | { readonly kind: 'commit'; readonly commit: string };

/** A commit of the source, as /status, the metrics, the events and the state name it. */
export interface Revision {
  /** The repository's URL, without any password or token. */
  readonly url: string;
  /** The ref as given: `main`, `tag:v1.2`, or a commit. */
  readonly ref: string;
  readonly commit: string;
}

/** A fetched commit, checked out: the manifests are under `paths`. */
export interface Checkout extends Revision {
  readonly paths: readonly string[];
  /** The commit's whole tree. */
  readonly root: string;
}

/** How git authenticates to the remote. */
export interface GitAuth {
  /** https: sent as basic authentication to the repository's origin only. */
  readonly basic?: { readonly username: string; readonly password: string };
  /** https: a file in git's credential-store format. */
  readonly credentialsFile?: string;
  /** ssh: the private key, and the known hosts the server's key must be in. */
  readonly sshKeyFile?: string;
  readonly knownHostsFile?: string;
}

/** Checks a fetched commit before it is checked out; a reason when it must not be applied. */
export type CommitCheck = (gitDir: string, commit: string) => Promise<string | undefined>;

export interface GitSourceOptions {
  readonly url: string;
  readonly ref: GitRef;
  /** The manifests' directory within the repository ('' for its root). */
  readonly path: string;
  /** Where the bare repository and the checkouts live; made when missing. */
  readonly cacheDir: string;
  readonly auth: GitAuth;
  readonly check?: CommitCheck;
  readonly timeoutMs?: number;
}

/** A repository followed: its source, how often it is fetched, and the manifests' directory in it. */
export interface GitSetting {
  readonly source: GitSource;
  readonly intervalMs: number;
  readonly path: string;
}

export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceError';
  }
}

/** A commit fetched and not applied: its check (--git-verify) refused it. */
export class CommitRefused extends SourceError {
  constructor(
    readonly commit: string,
    reason: string,
  ) {
    super(`commit ${commit.slice(0, 12)} is not applied: ${reason}`);
    this.name = 'CommitRefused';
  }
}

const TRACKING = 'refs/imsync/source';
/** Checkouts kept: the one in use and the one before it (a reconcile may still read it). */
const KEPT = 2;

/** `--ref`: BRANCH, tag:NAME, or a full commit id. */
export function parseGitRef(text: string): GitRef {
  if (/^[0-9a-f]{40}$/.test(text)) return { kind: 'commit', commit: text };
  const tag = /^tag:(.+)$/.exec(text);
  const name = tag ? tag[1]! : text;
  // git check-ref-format's rules, in short: what a fetch refspec can carry safely.
  if (!/^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._/-]+(?<![./])$/.test(name) || name.endsWith('.lock')) {
    throw new SourceError(`--ref "${text}" is not a branch, tag:NAME or a 40-character commit id`);
  }
  return tag ? { kind: 'tag', name } : { kind: 'branch', name };
}

export function describeRef(ref: GitRef): string {
  return ref.kind === 'commit' ? ref.commit : ref.kind === 'tag' ? `tag:${ref.name}` : ref.name;
}

/** `--git-path`: a directory inside the repository, as a relative POSIX path ('' for the root). */
export function parseGitPath(text: string): string {
  const normal = posix.normalize(text.replace(/^\.\/+/, '')).replace(/\/+$/, '');
  if (normal === '.' || normal === '') return '';
  if (posix.isAbsolute(normal) || normal === '..' || normal.startsWith('../') || text.includes('\0')) {
    throw new SourceError(`--git-path "${text}" must be a directory inside the repository, such as images/prod`);
  }
  return normal;
}

/** The URL as it may be shown: without the password or token of its user part. */
export function shownUrl(url: string): string {
  return redact(url, []);
}

/** A cache directory of the URL's own under `root`: two sources never share a repository. */
export function cacheDirFor(root: string, url: string): string {
  return join(root, createHash('sha256').update(url).digest('hex').slice(0, 16));
}

export class GitSource {
  private readonly gitDir: string;
  private readonly trees: string;
  /** The bare repository made, or pointed at the URL, once per source: not at every fetch. */
  private repository: Promise<void> | undefined;
  /** The last commit checked out: fetched again, it is neither checked nor checked out again. */
  private last: Checkout | undefined;
  readonly url: string;
  readonly ref: string;

  constructor(private readonly options: GitSourceOptions) {
    this.gitDir = join(options.cacheDir, 'repository.git');
    this.trees = join(options.cacheDir, 'trees');
    this.url = shownUrl(options.url);
    this.ref = describeRef(options.ref);
  }

  /**
   * Fetches the ref, checks its commit (`check`) and checks it out. Rejects with a SourceError
   * saying why; what was checked out before stays as it was.
   */
  async fetch(signal?: AbortSignal): Promise<Checkout> {
    this.repository ??= this.ensureRepository().catch((error: unknown) => {
      this.repository = undefined;
      throw error;
    });
    await this.repository;
    const { ref } = this.options;
    // A force-push to an older commit is taken like any other change: '+' lets the ref move back.
    const refspec =
      ref.kind === 'commit'
        ? '+refs/heads/*:refs/imsync/heads/*'
        : `+refs/${ref.kind === 'tag' ? 'tags' : 'heads'}/${ref.name}:${TRACKING}`;
    await this.git(['fetch', '--no-tags', '--prune', '--no-write-fetch-head', '--', 'origin', refspec], signal).catch(
      (error: unknown) => {
        throw new SourceError(`cannot fetch ${this.ref} from ${this.url}: ${messageOf(error)}`);
      },
    );
    const wanted = ref.kind === 'commit' ? ref.commit : TRACKING;
    const commit = (
      await this.git(['rev-parse', '--verify', '--end-of-options', `${wanted}^{commit}`], signal).catch(() => {
        throw new SourceError(`${this.url} has no commit ${this.ref}`);
      })
    ).trim();
    if (this.last?.commit === commit) return this.last;
    const refused = await this.options.check?.(this.gitDir, commit);
    if (refused !== undefined) throw new CommitRefused(commit, refused);
    const root = await this.checkout(commit, signal);
    const manifests = join(root, this.options.path);
    const isDirectory = await stat(manifests).then(
      (found) => found.isDirectory(),
      () => false,
    );
    if (!isDirectory) {
      throw new SourceError(`commit ${commit.slice(0, 12)} of ${this.url} has no directory ${this.options.path}`);
    }
    this.last = { url: this.url, ref: this.ref, commit, paths: [manifests], root };
    return this.last;
  }

  /** The bare repository, made once, with the remote's URL in its own configuration. */
  private async ensureRepository(): Promise<void> {
    const made = await stat(join(this.gitDir, 'HEAD')).then(
      () => true,
      () => false,
    );
    if (made) {
      await this.git(['remote', 'set-url', 'origin', this.options.url]);
      return;
    }
    await mkdir(this.options.cacheDir, { recursive: true, mode: 0o700 });
    const fresh = `${this.gitDir}.${randomBytes(4).toString('hex')}`;
    await git(['init', '--bare', '--quiet', fresh], this.run());
    await git(['--git-dir', fresh, 'remote', 'add', 'origin', this.options.url], this.run());
    await rename(fresh, this.gitDir);
  }

  /**
   * The commit's tree in `trees/COMMIT`, written under a temporary name and renamed when whole.
   * Links are checked out as plain files: a repository's link must not reach outside its tree.
   */
  private async checkout(commit: string, signal?: AbortSignal): Promise<string> {
    const tree = join(this.trees, commit);
    const exists = await stat(tree).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await mkdir(this.trees, { recursive: true, mode: 0o700 });
      const partial = join(this.trees, `.partial-${commit}-${randomBytes(4).toString('hex')}`);
      await mkdir(partial);
      try {
        await this.git(['--work-tree', partial, 'checkout', '--force', '--quiet', commit, '--', '.'], signal, {
          config: { 'core.symlinks': 'false' },
          env: { GIT_INDEX_FILE: `${partial}.index` },
        });
        await rename(partial, tree);
      } finally {
        await rm(partial, { recursive: true, force: true });
        await rm(`${partial}.index`, { force: true });
      }
      await this.prune(commit);
    }
    return tree;
  }

  /** Removes checkouts beyond the newest KEPT, never `current`, and partial ones left by a crash. */
  private async prune(current: string): Promise<void> {
    const entries = await readdir(this.trees);
    const aged = await Promise.all(
      entries.map(async (name) => ({ name, mtime: (await stat(join(this.trees, name))).mtimeMs })),
    );
    const kept = aged
      .filter(({ name }) => !name.startsWith('.'))
      .sort((a, b) => b.mtime - a.mtime)
      .slice(0, KEPT)
      .map(({ name }) => name);
    for (const { name } of aged) {
      // A partial one is a crashed checkout's: this source checks out one commit at a time.
      if (name === current || kept.includes(name)) continue;
      await rm(join(this.trees, name), { recursive: true, force: true });
    }
  }

  private git(args: readonly string[], signal?: AbortSignal, extra: Partial<GitRun> = {}): Promise<string> {
    const run = this.run(signal);
    return git(['--git-dir', this.gitDir, ...args], {
      ...run,
      ...extra,
      config: { ...run.config, ...extra.config },
      env: { ...run.env, ...extra.env },
    });
  }

  /** The run's authentication, through configuration and environment only. */
  private run(signal?: AbortSignal): GitRun {
    const { auth, url, timeoutMs } = this.options;
    const config: Record<string, string> = { 'http.followRedirects': 'false', 'protocol.ext.allow': 'never' };
    const secrets: string[] = [];
    if (auth.basic && /^https?:/i.test(url)) {
      const token = Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString('base64');
      // Scoped to the repository's origin: never sent to another host.
      config[`http.${new URL(url).origin}/.extraHeader`] = `Authorization: Basic ${token}`;
      secrets.push(auth.basic.password, token);
    }
    if (auth.credentialsFile !== undefined)
      config['credential.helper'] = `store --file=${shellQuote(auth.credentialsFile)}`;
    const env: Record<string, string> = {};
    if (auth.sshKeyFile !== undefined || auth.knownHostsFile !== undefined) {
      env.GIT_SSH_COMMAND = [
        'ssh -o BatchMode=yes -o StrictHostKeyChecking=yes',
        ...(auth.sshKeyFile === undefined ? [] : [`-o IdentitiesOnly=yes -i ${shellQuote(auth.sshKeyFile)}`]),
        ...(auth.knownHostsFile === undefined ? [] : [`-o UserKnownHostsFile=${shellQuote(auth.knownHostsFile)}`]),
      ].join(' ');
    }
    return {
      config,
      env,
      secrets,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(signal ? { signal } : {}),
    };
  }
}

/** A path as one word for the shell that runs GIT_SSH_COMMAND and credential helpers. */
function shellQuote(path: string): string {
  return `'${path.replaceAll("'", `'\\''`)}'`;
}

function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // git asks for a user name when the server answers 401, and cannot: say what that means.
  if (/could not read (Username|Password) for/.test(message)) {
    return 'the server asks for credentials, and none were given or those given were refused (IMSYNC_GIT_TOKEN, --git-credentials)';
  }
  return message;
}
