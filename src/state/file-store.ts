// The default backend: one JSON file, replaced atomically, with the previous good copy kept beside
// it (`.backup`) and a lock file naming its holder (`.lock`).
import { randomUUID } from 'node:crypto';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeState, encodeState } from './codec.js';
import { emptyState, type State } from './model.js';
import { describeHolder, StateError, type LockHolder, type StateLock, type StateStore } from './store.js';

const LOCK_POLL_MS = 100;

export class FileStateStore implements StateStore {
  readonly backupPath: string;
  readonly lockPath: string;

  constructor(readonly location: string) {
    this.backupPath = `${location}.backup`;
    this.lockPath = `${location}.lock`;
  }

  async read(): Promise<State> {
    const text = await readIfExists(this.location);
    if (text === undefined) return emptyState();
    try {
      return decodeState(text, this.location);
    } catch (error) {
      if (!(error instanceof StateError)) throw error;
      const backup =
        (await readIfExists(this.backupPath)) === undefined ? '' : ` The previous good copy is ${this.backupPath}.`;
      throw new StateError(error.code, `${error.message}. It was left untouched.${backup}`);
    }
  }

  async write(state: State): Promise<State> {
    const current = await this.read();
    if (current.serial !== state.serial || (current.lineage !== '' && current.lineage !== state.lineage)) {
      throw new StateError(
        'STATE_CONFLICT',
        `${this.location} has moved on (serial ${current.serial}) since it was read (serial ${state.serial}); nothing was written`,
      );
    }
    const next: State = { ...state, lineage: current.lineage || randomUUID(), serial: state.serial + 1 };
    const temporary = `${this.location}.${process.pid}.${randomUUID()}.tmp`;
    await writeDurably(temporary, encodeState(next));
    try {
      // The replaced file lives on as the backup: a hard link costs no copy.
      if (current.serial > 0) await replaceWithLink(this.location, this.backupPath);
      await rename(temporary, this.location);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
    await syncDirectory(this.location);
    return next;
  }

  async lock(command: string, waitMs = 0): Promise<StateLock> {
    const holder: LockHolder = { host: hostname(), pid: process.pid, command, since: new Date().toISOString() };
    const token = randomUUID();
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (await this.tryLock(holder, token)) {
        return { holder, release: () => this.unlock(token) };
      }
      const current = await readLockFile(this.lockPath);
      if (current && current.host === hostname() && !isAlive(current.pid)) {
        // The holder died without releasing; its lock guards nothing any more.
        await unlinkIfSame(this.lockPath, current.token);
        continue;
      }
      if (Date.now() >= deadline) {
        throw new StateError(
          'LOCK_HELD',
          current
            ? `${this.location} is locked by ${describeHolder(current)}`
            : `${this.location} is locked (${this.lockPath})`,
          current,
        );
      }
      await sleep(LOCK_POLL_MS);
    }
  }

  /** Writes the lock beside its final name, then links it in: the lock appears whole or not at all. */
  private async tryLock(holder: LockHolder, token: string): Promise<boolean> {
    const temporary = `${this.lockPath}.${token}`;
    await writeDurably(temporary, JSON.stringify({ ...holder, token }));
    try {
      await link(temporary, this.lockPath);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return false;
    } finally {
      await unlink(temporary);
    }
  }

  private async unlock(token: string): Promise<void> {
    await unlinkIfSame(this.lockPath, token);
  }
}

interface LockFile extends LockHolder {
  readonly token: string;
}

async function readLockFile(path: string): Promise<LockFile | undefined> {
  const text = await readIfExists(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as LockFile;
  } catch {
    return undefined;
  }
}

async function unlinkIfSame(path: string, token: string): Promise<void> {
  if ((await readLockFile(path))?.token === token) await unlink(path).catch(() => undefined);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new StateError('STATE_UNREADABLE', `${path} cannot be read (${code ?? (error as Error).message})`);
  }
}

/** Creates `path` (mode 0600) with `text` and flushes it to disk. */
async function writeDurably(path: string, text: string): Promise<void> {
  const file = await open(path, 'wx', 0o600);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
}

async function replaceWithLink(source: string, target: string): Promise<void> {
  const temporary = `${target}.${randomUUID()}.tmp`;
  await link(source, temporary);
  await rename(temporary, target);
}

async function syncDirectory(path: string): Promise<void> {
  const directory = await open(dirname(path) || '.', 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
