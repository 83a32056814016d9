// Two stores taking over the lock of a dead holder at once, in one process: the second is paused
// before each of its file operations in turn while the first takes the lock from start to end.
// Whatever the interleaving, at most one of them holds the lock, and the lock file is the holder's.
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { FileStateStore } from '../../src/state/file-store.js';
import type { StateLock } from '../../src/state/store.js';

/** Called before every file operation the store makes: where a test pauses one store. */
const seam = vi.hoisted(() => ({ before: undefined as ((operation: string) => Promise<void>) | undefined }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<Record<string, unknown>>();
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
      const path = join(await mkdtemp(join(tmpdir(), 'imsync-lock-race-')), 'imsync.state.json');
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
      seam.before = undefined;
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
