// The default backend: one JSON file, replaced atomically, with the previous good copy kept beside
// it (`.backup`), a lock file naming its holder (`.lock`), and a journal (`.journal`) of the
// records changed since the file was last written, folded back into the file once it grows.
import { createHash, randomUUID } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import {
  link,
  lstat,
  open,
  readlink,
  realpath,
  rename,
  stat,
  truncate,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { getSystemErrorMap } from 'node:util';
import { checkBase, checkSeedable, checkState, decodeState, encodeState, isSerial, SERIAL_RANGE } from './codec.js';
import { emptyState, withChanges, type ImageRecord, type RecordChanges, type State } from './model.js';
import {
  describeHolder,
  forceUnlockRefusal,
  lockHeldMessage,
  StateError,
  type LockHolder,
  type StateLock,
  type StateStore,
  type StoreStats,
} from './store.js';

const LOCK_POLL_MS = 100;
/** Links followed from the state path to its file, as the kernel's own limit (ELOOP). */
const MAX_LINKS = 40;
/** The journal is folded into the state file once it outgrows the file, and at least this size. */
const MIN_JOURNAL_BYTES = 256 * 1024;

/** One line of the journal: the records one commit changed (null: removed). */
interface JournalEntry {
  readonly lineage: string;
  readonly serial: number;
  readonly changes: Readonly<Record<string, ImageRecord | null>>;
}

/** What this store last read or wrote, to tell cheaply whether anyone else has written since. */
interface Tail {
  readonly lineage: string;
  readonly serial: number;
  readonly stateIno: number;
  readonly stateBytes: number;
  /** Bytes of the journal's complete lines. */
  readonly journalBytes: number;
  /** Bytes after its last newline: a write cut short, never acknowledged, dropped by the next commit. */
  readonly tornBytes: number;
}

/** The state file and its companions beside it: where they really are, links followed. */
interface Files {
  readonly state: string;
  readonly backup: string;
  readonly lock: string;
  readonly journal: string;
}

export class FileStateStore implements StateStore {
  private resolved: Promise<Files> | undefined;
  /** The token of the lock this store holds, if it holds one. */
  private held: string | undefined;
  private tail: Tail | undefined;
  private written: StoreStats = { writes: 0, bytes: 0 };

  /** `location` names the state in messages, as the user gave it. */
  constructor(readonly location: string) {}

  /** Resolved once, when first needed: two paths to one file share its lock and journal. */
  private files(): Promise<Files> {
    this.resolved ??= realFile(this.location).then((state) => ({
      state,
      backup: `${state}.backup`,
      lock: `${state}.lock`,
      journal: `${state}.journal`,
    }));
    return this.resolved;
  }

  stats(): StoreStats {
    return this.written;
  }

  async read(): Promise<State> {
    const files = await this.files();
    const text = await readIfExists(files.state);
    if (text === undefined) await this.refuseIfLost(files);
    const journal = await readIfExists(files.journal);
    try {
      let state = text === undefined ? emptyState() : decodeState(text, this.location);
      if (journal) state = checkState(replay(state, journal, files.journal), files.journal);
      this.tail = {
        lineage: state.lineage,
        serial: state.serial,
        stateIno: text === undefined ? 0 : (await stat(files.state)).ino,
        stateBytes: Buffer.byteLength(text ?? ''),
        ...journalSizes(journal ?? ''),
      };
      return state;
    } catch (error) {
      if (!(error instanceof StateError)) throw error;
      const backup = (await isRegularFile(files.backup)) ? ` The previous good copy is ${files.backup}.` : '';
      throw new StateError(error.code, `${error.message}. It was left untouched.${backup}`);
    }
  }

  /**
   * A state file that is gone while its backup, its journal or another's lock is there was lost:
   * read as empty, it would import every image again. This store's own lock is no such sign: it
   * is taken before the very first state is written; nor is a lock taken when there was no state
   * (its holder, perhaps killed since, had not written the first one yet).
   */
  private async refuseIfLost(files: Files): Promise<void> {
    const backup = await exists(files.backup);
    const lock = await readLockFile(files.lock);
    const othersLock = lock !== undefined && (lock === 'unreadable' || (lock.token !== this.held && !lock.noState));
    const found: string[] = [];
    if (backup) found.push(`${files.backup} (the previous good copy)`);
    if (await exists(files.journal)) found.push(`${files.journal} (changes made since it was written)`);
    if (othersLock) {
      const holder =
        lock === 'unreadable'
          ? 'a lock file imsync cannot read'
          : `held by ${describeHolder(lock.holder)}, lock id ${lock.holder.id}`;
      found.push(`${files.lock} (${holder})`);
    }
    if (found.length === 0) return;
    const ways = [
      ...(backup ? [`restore the previous good copy (\`mv ${files.backup} ${files.state}\`)`] : []),
      `rebuild the state from the imsync-key tags in the account (\`imsync state rebuild --state ${this.location}\`)`,
    ].join(', or ');
    const advice = othersLock
      ? `If that command is still running, it may be writing the first state: try again once it has ended. Otherwise ${ways}`
      : `${ways[0]!.toUpperCase()}${ways.slice(1)}`;
    throw new StateError(
      'STATE_MISSING',
      `${this.location} does not exist, but ${listed(found)} ${found.length === 1 ? 'does' : 'do'}: the state was lost, ` +
        `and read as empty it would import every image again. ${advice}; nothing was read or written`,
    );
  }

  async write(state: State): Promise<State> {
    const current = await this.read();
    checkBase(this.location, current, state);
    return this.replace({ ...state, lineage: current.lineage || randomUUID(), serial: state.serial + 1 });
  }

  async commit(base: State, changes: RecordChanges): Promise<State> {
    const next = withChanges(base, changes);
    // The journal extends a file; the very first state is written whole.
    if (base.lineage === '') return this.write(next);
    const files = await this.files();
    checkBase(this.location, await this.current(), base);
    const committed: State = { ...next, serial: base.serial + 1 };
    const entry: JournalEntry = {
      lineage: base.lineage,
      serial: committed.serial,
      changes: Object.fromEntries(changes),
    };
    const line = `${JSON.stringify(entry)}\n`;
    const bytes = Buffer.byteLength(line);
    try {
      if (this.tail!.tornBytes > 0) {
        await truncate(files.journal, this.tail!.journalBytes);
        this.tail = { ...this.tail!, tornBytes: 0 };
      }
      if (await appendDurably(files.journal, line)) await syncDirectory(files.journal);
    } catch (error) {
      // A commit refused is not written: a line that a failed flush left whole would be read back.
      const acknowledged = this.tail!.journalBytes;
      await (acknowledged === 0 ? unlink(files.journal) : truncate(files.journal, acknowledged)).catch(() => undefined);
      throw unwritable(files.journal, error);
    }
    this.written = { writes: this.written.writes + 1, bytes: this.written.bytes + bytes };
    const tail = this.tail!;
    this.tail = { ...tail, serial: committed.serial, journalBytes: tail.journalBytes + bytes };
    if (this.tail.journalBytes > Math.max(MIN_JOURNAL_BYTES, this.tail.stateBytes)) return this.replace(committed);
    return committed;
  }

  async rebuild(state: State): Promise<{ state: State; aside?: string }> {
    const files = await this.files();
    const aside = `${files.state}.before-rebuild-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const moved = await renameIfExists(files.state, aside).catch((error: unknown) => {
      throw unwritable(files.state, error);
    });
    const journal = await renameIfExists(files.journal, `${aside}.journal`).catch((error: unknown) => {
      throw unwritable(files.journal, error);
    });
    this.tail = undefined;
    const rebuilt = await this.replace({ ...state, lineage: randomUUID(), serial: 1 });
    // A journal whose state file was lost is what is left of the old state.
    const kept = moved ? aside : journal ? `${aside}.journal` : undefined;
    return { state: rebuilt, ...(kept === undefined ? {} : { aside: kept }) };
  }

  async seed(state: State): Promise<State> {
    const current = await this.read();
    checkSeedable(this.location, { ...current, records: Object.keys(current.images).length });
    return this.replace(state);
  }

  /** The stored state's lineage and serial: from memory when nobody else has written since. */
  private async current(): Promise<{ lineage: string; serial: number }> {
    const files = await this.files();
    const tail = this.tail;
    if (tail) {
      const [state, journal] = await Promise.all([
        stat(files.state).catch(() => undefined),
        stat(files.journal).catch(() => undefined),
      ]);
      if ((state?.ino ?? 0) === tail.stateIno && (journal?.size ?? 0) === tail.journalBytes + tail.tornBytes) {
        return tail;
      }
    }
    return this.read();
  }

  /** Writes `state` as the whole file (the journal folded in), keeping the replaced file as the backup. */
  private async replace(state: State): Promise<State> {
    const files = await this.files();
    const text = encodeState(state);
    const temporary = `${files.state}.${process.pid}.${randomUUID()}.tmp`;
    try {
      await writeDurably(temporary, text);
      try {
        // The replaced file lives on as the backup: a hard link costs no copy.
        if (this.tail?.stateIno) await replaceWithLink(files.state, files.backup);
        await rename(temporary, files.state);
      } catch (error) {
        await unlink(temporary).catch(() => undefined);
        throw error;
      }
      // The file now holds everything the journal said; a crash before this unlink leaves entries
      // that replay() skips by their serial.
      await unlink(files.journal).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      await syncDirectory(files.state);
    } catch (error) {
      throw unwritable(files.state, error);
    }
    const stateBytes = Buffer.byteLength(text);
    this.written = { writes: this.written.writes + 1, bytes: this.written.bytes + stateBytes };
    this.tail = {
      lineage: state.lineage,
      serial: state.serial,
      stateIno: (await stat(files.state)).ino,
      stateBytes,
      journalBytes: 0,
      tornBytes: 0,
    };
    return state;
  }

  async lock(command: string, waitMs = 0): Promise<StateLock> {
    const files = await this.files();
    const token = randomUUID();
    const holder: LockHolder = {
      host: hostname(),
      pid: process.pid,
      command,
      since: new Date().toISOString(),
      id: lockIdOf(token),
    };
    const deadline = Date.now() + waitMs;
    for (;;) {
      const noState = !(await exists(files.state));
      // Known before the lock file appears: another store of this process must never take it for a previous life's.
      heldHere.add(token);
      const taken = await this.tryLock(holder, token, noState).catch(forget(token));
      if (!taken) heldHere.delete(token);
      if (taken) {
        this.held = token;
        return {
          holder,
          // The writer is done: fold its journal into the file, so that the file alone tells all;
          // unless its lock was forced away, and the journal is another writer's to fold.
          release: async () => {
            try {
              const journalBytes = (await stat(files.journal).catch(() => undefined))?.size ?? 0;
              // A state that does not read (lost, corrupt) is left as it is, for the next reader to be told.
              const state =
                journalBytes > 0 && (await this.holds(token)) ? await this.read().catch(unlessStateError) : undefined;
              if (state) {
                await this.replace(state).catch((error: unknown) => {
                  const { code, message } = unwritable(files.state, error);
                  throw new StateError(
                    code,
                    `${message}; the lock is released, and ${files.journal} keeps every change until the next writer folds it in`,
                  );
                });
              }
            } finally {
              await this.unlock(token);
              heldHere.delete(token);
              if (this.held === token) this.held = undefined;
            }
          },
        };
      }
      const current = await readLockFile(files.lock);
      if (typeof current === 'object' && current.holder.host === hostname() && !holderLives(current)) {
        // The holder died without releasing; its lock guards nothing any more.
        await unlinkIfSame(files.lock, current.token);
        continue;
      }
      if (Date.now() >= deadline) throw this.lockHeld(current, files.lock);
      await sleep(LOCK_POLL_MS);
    }
  }

  async forceUnlock(lockId: string): Promise<LockHolder> {
    const files = await this.files();
    for (;;) {
      const current = await readLockFile(files.lock);
      if (current === undefined) {
        throw forceUnlockRefusal(this.location, undefined, lockId);
      }
      if (current === 'unreadable') {
        throw new StateError(
          'LOCK_ID_MISMATCH',
          `${files.lock} is not a lock file imsync can read, so it has no lock id to match ${lockId}; nothing was unlocked. If no imsync is running, remove that file`,
        );
      }
      const { holder } = current;
      if (holder.id !== lockId) throw forceUnlockRefusal(this.location, holder, lockId);
      // Compare-and-unlink: a lock released and taken again since the read has another token, and
      // another id, which the next round reports.
      if (await unlinkIfSame(files.lock, current.token)) return holder;
    }
  }

  private lockHeld(current: LockFile | 'unreadable' | undefined, lockPath: string): StateError {
    if (current === undefined) return new StateError('LOCK_HELD', `${this.location} is locked (${lockPath})`);
    if (current === 'unreadable') {
      return new StateError(
        'LOCK_HELD',
        `${this.location} is locked by ${lockPath}, which is not a lock file imsync can read; if no imsync is running, remove that file`,
      );
    }
    return new StateError('LOCK_HELD', lockHeldMessage(this.location, current.holder), current.holder);
  }

  /** Writes the lock beside its final name, then links it in: the lock appears whole or not at all. */
  private async tryLock(holder: LockHolder, token: string, noState: boolean): Promise<boolean> {
    const files = await this.files();
    const temporary = `${files.lock}.${token}`;
    const cannot = (error: unknown) => {
      const directory = ['ENOENT', 'ENOTDIR', 'EACCES', 'EROFS'].includes((error as NodeJS.ErrnoException).code ?? '');
      return new StateError(
        'STATE_UNWRITABLE',
        `cannot create ${files.lock}: ${reason(error)}${directory ? "; the state's directory must exist and be writable" : ''}`,
      );
    };
    const file = { ...holder, token, ...(noState ? { noState } : {}) };
    await writeDurably(temporary, JSON.stringify(file)).catch((error: unknown) => {
      throw cannot(error);
    });
    try {
      await link(temporary, files.lock);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw cannot(error);
      return false;
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
  }

  private async holds(token: string): Promise<boolean> {
    const files = await this.files();
    const current = await readLockFile(files.lock);
    return typeof current === 'object' && current.token === token;
  }

  private async unlock(token: string): Promise<void> {
    const files = await this.files();
    await unlinkIfSame(files.lock, token).catch(() => false);
  }
}

/** A lock file as read: its holder, and the token that tells one taking of the lock from another. */
interface LockFile {
  readonly holder: LockHolder;
  readonly token: string;
  /** Taken when there was no state file: no sign that one was lost. */
  readonly noState: boolean;
}

/** A lock's id: derived from its token, so that a lock file written before ids (token only) has one too. */
function lockIdOf(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

/** The lock file: undefined when there is none, 'unreadable' when it is not one imsync wrote. */
async function readLockFile(path: string): Promise<LockFile | 'unreadable' | undefined> {
  const text = await readIfExists(path);
  if (text === undefined) return undefined;
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch {
    return 'unreadable';
  }
  if (typeof file !== 'object' || file === null) return 'unreadable';
  const { token, id, host, pid, command, since, noState } = file as Record<string, unknown>;
  // A holder imsync did not write names no process it can check, or takes over: none is guessed.
  const written =
    isText(token) &&
    isText(host) &&
    Number.isSafeInteger(pid) &&
    (pid as number) > 0 &&
    typeof command === 'string' &&
    typeof since === 'string' &&
    (id === undefined || isText(id)) &&
    (noState === undefined || noState === true);
  if (!written) return 'unreadable';
  return {
    token,
    holder: { host, pid: pid as number, command, since, id: id ?? lockIdOf(token) },
    noState: noState === true,
  };
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

/**
 * Removes the lock file if it is still the taking `token` names; false when it is gone or another's.
 * Looking and removing are one step: the file is renamed aside (atomic) before it is looked at
 * again, so that a lock taken by someone else since the first look is never the one removed; it
 * is put back instead.
 */
async function unlinkIfSame(path: string, token: string): Promise<boolean> {
  const current = await readLockFile(path);
  if (typeof current !== 'object' || current.token !== token) return false;
  const aside = `${path}.${randomUUID()}.removed`;
  const cannot = (error: unknown) => new StateError('STATE_UNWRITABLE', `cannot remove ${path}: ${reason(error)}`);
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw cannot(error);
  }
  const moved = await readLockFile(aside);
  const same = typeof moved === 'object' && moved.token === token;
  // Put back without replacing anything: should a third locker have taken the free name in that
  // instant, it keeps it, and the holder of the lock moved aside finds it no longer holds one.
  if (!same) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch((error: unknown) => {
    throw cannot(error);
  });
  return same;
}

/** The tokens of the locks this process holds (or is taking), whichever store took them. */
const heldHere = new Set<string>();

function forget(token: string): (error: unknown) => never {
  return (error) => {
    heldHere.delete(token);
    throw error;
  };
}

/**
 * Whether the holder of a lock of this host still runs. A lock naming this very process that it
 * does not hold is a previous life's: a container restarted after a kill is pid 1 again.
 */
function holderLives(lock: LockFile): boolean {
  if (lock.holder.pid === process.pid) return heldHere.has(lock.token);
  return isAlive(lock.holder.pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The file `path` names, its links followed, whether or not it exists yet (a link may name a file
 * to be created). Written through the link, the file stays where the link points and the link
 * stays a link. A path that involves no link is kept as given, for messages.
 */
async function realFile(path: string): Promise<string> {
  let file = resolve(path);
  for (let links = 0; links <= MAX_LINKS; links++) {
    // A directory that does not exist has nothing to follow; using it fails with a clear error.
    const directory = await realpath(dirname(file)).catch(() => undefined);
    if (directory === undefined) return path;
    file = join(directory, basename(file));
    const target = await readlink(file).catch(() => undefined); // not a link, or not there yet
    if (target === undefined) return file === resolve(path) ? path : file;
    file = resolve(directory, target);
  }
  throw new StateError('STATE_UNREADABLE', `cannot read ${path}: more than ${MAX_LINKS} symbolic links`);
}

function unlessStateError(error: unknown): undefined {
  if (error instanceof StateError) return undefined;
  throw error;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** "a", "a and b", "a, b and c". */
function listed(items: readonly string[]): string {
  return items.length === 1 ? items[0]! : `${items.slice(0, -1).join(', ')} and ${items.at(-1)!}`;
}

/** Whether there was something to rename. */
async function renameIfExists(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** The file's text, undefined when there is none; refused when it is anything but a regular file. */
async function readIfExists(path: string): Promise<string | undefined> {
  const unreadable = (error: unknown) => new StateError('STATE_UNREADABLE', `cannot read ${path}: ${reason(error)}`);
  let file: FileHandle;
  try {
    // Non-blocking: a FIFO opens at once, to be refused, instead of waiting for a writer.
    file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unreadable(error);
  }
  try {
    requireRegular(path, await file.stat());
    return await file.readFile('utf8');
  } catch (error) {
    throw error instanceof StateError ? error : unreadable(error);
  } finally {
    await file.close();
  }
}

/** Whether `path` is a regular file (following links). */
async function isRegularFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

/** Refuses what the opened file is when it is not a regular file: the handle's own, so no race. */
function requireRegular(path: string, info: Stats): void {
  if (info.isFile()) return;
  const kind = info.isDirectory()
    ? 'a directory'
    : info.isFIFO()
      ? 'a FIFO'
      : info.isSocket()
        ? 'a socket'
        : info.isCharacterDevice() || info.isBlockDevice()
          ? 'a device'
          : 'not a file';
  throw new StateError(
    'STATE_UNREADABLE',
    `${path} is ${kind}, not a regular file; imsync reads and writes only those`,
  );
}

/**
 * Applies the journal's entries that are newer than `state`. A last line without its newline is a
 * write that was cut short and never acknowledged: it is ignored. Anything else that does not fit
 * is corruption.
 */
function journalSizes(journal: string): { journalBytes: number; tornBytes: number } {
  const total = Buffer.byteLength(journal);
  const complete = Buffer.byteLength(journal.slice(0, journal.lastIndexOf('\n') + 1));
  return { journalBytes: complete, tornBytes: total - complete };
}

function replay(state: State, journal: string, path: string): State {
  const lines = journal.split('\n');
  lines.pop();
  // One copy of the records, changed line by line: a copy per line is quadratic in a long journal.
  const images: Record<string, ImageRecord> = { ...state.images };
  let replayed = state;
  lines.forEach((line, index) => {
    const corrupt = (why: string) => new StateError('STATE_CORRUPT', `${path} line ${index + 1}: ${why}`);
    let entry: JournalEntry;
    try {
      entry = JSON.parse(line) as JournalEntry;
    } catch {
      throw corrupt('not valid JSON');
    }
    if (!isSerial(entry.serial)) throw corrupt(`serial ${String(entry.serial)} is ${SERIAL_RANGE}`);
    if (entry.lineage !== replayed.lineage)
      throw corrupt(`belongs to another state (lineage ${String(entry.lineage)})`);
    if (entry.serial <= replayed.serial) return;
    if (entry.serial !== replayed.serial + 1 || typeof entry.changes !== 'object' || entry.changes === null) {
      throw corrupt(`serial ${String(entry.serial)} does not follow ${replayed.serial}`);
    }
    for (const [key, record] of Object.entries(entry.changes)) {
      if (record) images[key] = record;
      else delete images[key];
    }
    replayed = { ...replayed, serial: entry.serial };
  });
  return { ...replayed, images };
}

/** Appends `text` to `path` (created with mode 0600) and flushes it; true when the file is new. */
async function appendDurably(path: string, text: string): Promise<boolean> {
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK;
  const file = await open(path, flags, 0o600);
  try {
    const info = await file.stat();
    requireRegular(path, info);
    const created = info.size === 0;
    await file.appendFile(text);
    await file.datasync();
    return created;
  } finally {
    await file.close();
  }
}

/** Creates `path` (mode 0600) with `text` and flushes it to disk; on failure, removes it again. */
export async function writeDurably(path: string, text: string): Promise<void> {
  const file = await open(path, 'wx', 0o600);
  try {
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
  } catch (error) {
    // Half a file (a full disk, a failed flush) is no file: nothing is left to be taken for one.
    await unlink(path).catch(() => undefined);
    throw error;
  }
}

async function replaceWithLink(source: string, target: string): Promise<void> {
  const temporary = `${target}.${randomUUID()}.tmp`;
  await link(source, temporary);
  await rename(temporary, target).catch(async (error: unknown) => {
    await unlink(temporary).catch(() => undefined);
    throw error;
  });
}

/** A write that failed, as the StateError that names the file and says why in words. */
function unwritable(path: string, error: unknown): StateError {
  if (error instanceof StateError) return error;
  return new StateError('STATE_UNWRITABLE', `cannot write ${path}: ${reason(error)}`);
}

/** Why a file operation failed: "no space left on device (ENOSPC)", or the error's message. */
function reason(error: unknown): string {
  const { errno, code, message } = error as NodeJS.ErrnoException;
  const words = errno === undefined ? undefined : getSystemErrorMap().get(errno)?.[1];
  return words === undefined || code === undefined ? (message ?? String(error)) : `${words} (${code})`;
}

async function syncDirectory(path: string): Promise<void> {
  const directory = await open(dirname(path) || '.', 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
