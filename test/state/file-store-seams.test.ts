// The file store at a seam in front of node:fs/promises, for what a real disk gives too rarely to
// test: two stores taking over the lock of a dead holder at once, in one process (the second is
// paused before each of its file operations in turn while the first takes the lock from start to
// end), and a flush to disk that fails.
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileStateStore } from '../../src/state/file-store.js';
import { emptyState } from '../../src/state/model.js';
import type { StateLock } from '../../src/state/store.js';
import { stateFailure } from '../support/failure.js';
import { systemSpec } from '../support/specs.js';
import { submitted, submitting } from '../support/states.js';

const seam = vi.hoisted(() => ({
  /** Called before every file operation the store makes: where a test pauses one store. */
  before: undefined as ((operation: string) => Promise<void>) | undefined,
  /** What every flush of a file opened from now on fails with. */
  flushFails: undefined as NodeJS.ErrnoException | undefined,
}));

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const paused = Object.fromEntries(
    Object.entries(fs).map(([name, value]) => [
      name,
      typeof value === 'function' && name !== 'watch'
        ? async (...args: unknown[]) => {
            await seam.before?.(name);
            return (value as (...args: unknown[]) => unknown)(...args);
          }
        : value,
    ]),
  );
  paused.open = async (...args: Parameters<typeof fs.open>) => {
    const handle = await fs.open(...args);
    const failure = seam.flushFails;
    if (failure) handle.sync = handle.datasync = () => Promise.reject(failure);
    return handle;
  };
  return { ...paused, default: paused };
});

const paused = new AsyncLocalStorage<string>();

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  return new Promise((resolve) => child.on('exit', () => resolve(child.pid!)));
}

type Outcome = { lock: StateLock } | { error: unknown };

async function outcome(taking: Promise<StateLock>): Promise<Outcome> {
  return taking.then(
    (lock) => ({ lock }),
    (error: unknown) => ({ error }),
  );
}

afterEach(() => {
  seam.before = undefined;
  seam.flushFails = undefined;
});

async function tempPath(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'imsync-seam-')), 'imsync.state.json');
}

describe('file state store: taking over a dead holder’s lock', () => {
  it('lets only one of two stores that found the same dead lock take it, whatever the interleaving', async () => {
    const dead = await deadPid();
    const stale = {
      host: hostname(),
      pid: dead,
      command: 'imsync apply',
      since: '2026-11-26T10:00:00.000Z',
      token: 'left-by-a-dead-holder',
    };
    for (let pauseAt = 1; ; pauseAt++) {
      const path = await tempPath();
      await writeFile(`${path}.lock`, JSON.stringify(stale));
      const first = new FileStateStore(path);
      const second = new FileStateStore(path);
      let operations = 0;
      let firstTaking: Promise<Outcome> | undefined;
      seam.before = async () => {
        if (paused.getStore() !== 'second' || ++operations !== pauseAt) return;
        firstTaking = paused.exit(() => outcome(first.lock('imsync apply')));
        await firstTaking;
      };
      const secondOutcome = await paused.run('second', () => outcome(second.lock('imsync watch')));
      if (firstTaking === undefined) break; // the second store made fewer operations: all were tried
      const firstOutcome = await firstTaking;
      const holders = [firstOutcome, secondOutcome].filter((o): o is { lock: StateLock } => 'lock' in o);
      expect(holders, `paused before operation ${pauseAt}`).toHaveLength(1);
      const file = JSON.parse(await readFile(`${path}.lock`, 'utf8')) as { id: string };
      expect(file.id, `paused before operation ${pauseAt}`).toBe(holders[0]!.lock.holder.id);
      const loser = [firstOutcome, secondOutcome].find((o) => 'error' in o) as { error: unknown };
      expect(loser.error).toMatchObject({ code: 'LOCK_HELD' });
      await holders[0]!.lock.release();
    }
  });
});

describe('file state store: a flush to disk that fails', () => {
  const eio = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO', errno: -5, syscall: 'fsync' });
  const oneImport = submitting(emptyState(), 'web-base', systemSpec('web-base'));

  it.each([
    ['the first state', 'state', ''],
    ['a journal line', 'journal', '.journal'],
    ['the lock', 'lock', '.lock'],
  ] as const)(
    'writing %s: refused with the file and the reason in words, and no temporary file is left',
    async (_case, what, suffix) => {
      const path = await tempPath();
      const store = new FileStateStore(path);
      const base = what === 'journal' ? await store.write(oneImport) : emptyState();
      const before = await readdir(join(path, '..'));
      seam.flushFails = eio;
      const writing =
        what === 'state'
          ? store.write(oneImport)
          : what === 'journal'
            ? store.commit(base, new Map([['db', submitted(base, 'db', systemSpec('db')).images.db!]]))
            : store.lock('imsync apply');
      const error = await stateFailure(writing);
      expect(error).toMatchObject({ code: 'STATE_UNWRITABLE' });
      expect(error.message).toBe(`cannot ${what === 'lock' ? 'create' : 'write'} ${path}${suffix}: i/o error (EIO)`);
      seam.flushFails = undefined;
      expect(await readdir(join(path, '..'))).toEqual(before);
      expect(await new FileStateStore(path).read()).toEqual(what === 'journal' ? base : emptyState());
    },
  );
});
