import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { appendFile, lstat, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeState } from '../../src/state/codec.js';
import { FileStateStore } from '../../src/state/file-store.js';
import { emptyState, type PreflightCache, type State } from '../../src/state/model.js';
import { StateRecorder } from '../../src/state/recorder.js';
import { stateFailure } from '../support/failure.js';
import { describeStateStore } from '../support/state-store-contract.js';
import { systemSpec } from '../support/specs.js';
import { at, preflightCache, sourced, submitted, submitting } from '../support/states.js';

function without<T extends object, K extends keyof T>(object: T, key: K): Omit<T, K> {
  const { [key]: _dropped, ...rest } = object;
  return rest;
}

async function tempPath(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'imsync-state-')), 'imsync.state.json');
}

describeStateStore('file', async () => {
  const path = await tempPath();
  return { store: new FileStateStore(path), reopen: () => new FileStateStore(path) };
});

const oneImport = submitting(emptyState(), 'web-base', systemSpec('web-base'));

/** A state whose cache has one checked file, changed by `change`. */
function withCheckedFile(change: Record<string, unknown>): object {
  const file = preflightCache().objects['golden-images:web-base.zvhd2']!;
  return {
    ...oneImport,
    preflight: { ...preflightCache(), objects: { 'golden-images:web-base.zvhd2': { ...file, ...change } } },
  };
}

/** A state whose record carries `source`. */
function withSource(source: unknown): object {
  return { ...oneImport, images: { 'web-base': { ...oneImport.images['web-base'], source } } };
}

/**
 * What `call` rejects with, or 'still waiting' after two seconds; a reader left waiting on `fifo`
 * is then given an end of file, so that nothing stays blocked.
 */
async function promptly(call: Promise<unknown>, fifo: string): Promise<unknown> {
  const outcome = await Promise.race([
    call.then(
      () => 'succeeded',
      (error: unknown) => error,
    ),
    new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2_000)),
  ]);
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // nobody is reading it: nothing to release
  }
  return outcome;
}

describe('file state store', () => {
  it('writes the state file with mode 0600 and leaves no temporary file behind', async () => {
    const path = await tempPath();
    const store = new FileStateStore(path);
    const first = await store.write(oneImport);
    await store.write(first);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(`${path}.backup`)).mode & 0o777).toBe(0o600);
    expect((await readdir(join(path, '..'))).sort()).toEqual(['imsync.state.json', 'imsync.state.json.backup']);
  });

  it('keeps the previous good state as the backup', async () => {
    const path = await tempPath();
    const store = new FileStateStore(path);
    const first = await store.write(oneImport);
    await store.write(first);
    expect(JSON.parse(await readFile(`${path}.backup`, 'utf8'))).toEqual(first);
  });

  it('refuses a corrupt state file with a clear error, names the backup, and never overwrites it', async () => {
    const path = await tempPath();
    const store = new FileStateStore(path);
    await store.write(await store.write(oneImport));
    await writeFile(path, '{"version": 1, "lineage": "x", "ser');
    const error = await stateFailure(store.read());
    expect(error).toMatchObject({ code: 'STATE_CORRUPT' });
    expect(error.message).toContain('is not valid JSON');
    expect(error.message).toContain(`${path}.backup`);
    await expect(store.write(oneImport)).rejects.toMatchObject({ code: 'STATE_CORRUPT' });
    expect(await readFile(path, 'utf8')).toBe('{"version": 1, "lineage": "x", "ser');
  });

  it.each([
    ['an unknown version', { ...emptyState(), version: 7 }, 'STATE_VERSION', 'version 7'],
    ['a negative serial', { ...emptyState(), serial: -1 }, 'STATE_INVALID', 'serial'],
    ['a record without a phase', { ...oneImport, images: { a: { attemptId: 'x' } } }, 'STATE_INVALID', 'missing'],
    [
      'an invalid recorded spec',
      { ...oneImport, images: { a: { ...oneImport.images['web-base'], spec: { name: 'x' } } } },
      'STATE_INVALID',
      'spec',
    ],
    [
      'a bad key',
      { ...oneImport, images: { 'Not A Key': oneImport.images['web-base'] } },
      'STATE_INVALID',
      'Not A Key',
    ],
    ['an unknown field', { ...emptyState(), resources: {} }, 'STATE_INVALID', 'resources'],
    ['an array', [], 'STATE_VERSION', 'none'],
    [
      'a cached ETag without its quotes',
      withCheckedFile({ etag: '9b2cf535f27731c974343645a3985328' }),
      'STATE_INVALID',
      'preflight.objects.golden-images:web-base.zvhd2.etag "9b2cf535f27731c974343645a3985328" is not valid. Expected: An entity tag',
    ],
    [
      'a cached ETag longer than 200 characters',
      withCheckedFile({ etag: `"${'a'.repeat(201)}"` }),
      'STATE_INVALID',
      'etag',
    ],
    [
      'a cached file of negative size',
      withCheckedFile({ size: -1 }),
      'STATE_INVALID',
      'preflight.objects.golden-images:web-base.zvhd2.size is -1, out of range',
    ],
    [
      'a cached size beyond 2^53 - 1',
      withCheckedFile({ size: 2 ** 53 }),
      'STATE_INVALID',
      'size is 9007199254740992, out of range',
    ],
    [
      'a cached size that is no whole number',
      withCheckedFile({ size: '8589934592' }),
      'STATE_INVALID',
      'size must be a whole number, not the string "8589934592" (remove the quotes)',
    ],
    [
      'a check time that is no ISO date-time',
      withCheckedFile({ checkedAt: '26/11/2026 10:00' }),
      'STATE_INVALID',
      'checkedAt "26/11/2026 10:00" is not valid. Expected: When the check passed: an ISO 8601 date and time',
    ],
    [
      'a check time without its offset',
      withCheckedFile({ checkedAt: '2026-11-26T10:00:00' }),
      'STATE_INVALID',
      'checkedAt',
    ],
    [
      'a cached file named otherwise than bucket:key',
      {
        ...oneImport,
        preflight: {
          objects: { 'web-base.zvhd2': preflightCache().objects['golden-images:web-base.zvhd2'] },
          buckets: {},
        },
      },
      'STATE_INVALID',
      'preflight.objects "web-base.zvhd2" is not valid',
    ],
    [
      'a cached bucket that is no bucket name',
      {
        ...oneImport,
        preflight: { objects: {}, buckets: { Golden_Images: preflightCache().buckets['golden-images'] } },
      },
      'STATE_INVALID',
      'preflight.buckets "Golden_Images" is not valid. Expected: An OBS bucket name',
    ],
    [
      'a cached bucket without its storage class',
      {
        ...oneImport,
        preflight: {
          objects: {},
          buckets: { 'golden-images': { region: 'ap-southeast-1', checkedAt: at.toISOString() } },
        },
      },
      'STATE_INVALID',
      'preflight.buckets.golden-images is missing "storageClass"',
    ],
    [
      'a cache without buckets',
      { ...oneImport, preflight: { objects: {} } },
      'STATE_INVALID',
      'preflight is missing "buckets"',
    ],
    [
      'an unknown field in a cached file',
      withCheckedFile({ md5: 'x' }),
      'STATE_INVALID',
      'unknown field "preflight.objects.golden-images:web-base.zvhd2.md5"',
    ],
    [
      "a record's source of negative size",
      withSource({ etag: '"a"', size: -5 }),
      'STATE_INVALID',
      "images.web-base.source.size is -5, out of range. Expected: The file's size in bytes",
    ],
    [
      "a record's source without its ETag",
      withSource({ size: 5 }),
      'STATE_INVALID',
      'images.web-base.source is missing "etag"',
    ],
  ])('refuses a state with %s, leaving the file as it was', async (_case, document, code, mention) => {
    const path = await tempPath();
    const text = JSON.stringify(document);
    await writeFile(path, text);
    const error = await stateFailure(new FileStateStore(path).read());
    expect(error).toMatchObject({ code });
    expect(error.message).toContain(mention);
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('follows a symlinked state path: the file it names is written, the link stays, companions sit beside the file', async () => {
    const path = await tempPath();
    const real = join(await mkdtemp(join(tmpdir(), 'imsync-real-')), 'team.state.json');
    await symlink(real, path); // a link to a file that does not exist yet
    const store = new FileStateStore(path);
    const lock = await store.lock('imsync apply');
    const first = await store.write(oneImport);
    const next = await store.commit(first, new Map([['db', submitted(first, 'db', systemSpec('db')).images.db!]]));
    await lock.release();
    expect((await lstat(path)).isSymbolicLink()).toBe(true);
    expect(await readdir(join(path, '..'))).toEqual(['imsync.state.json']);
    expect((await readdir(join(real, '..'))).sort()).toEqual(['team.state.json', 'team.state.json.backup']);
    expect(JSON.parse(await readFile(real, 'utf8'))).toEqual(next);
    expect(await new FileStateStore(real).read()).toEqual(next);
  });

  it('locks the real file: two paths to one state exclude each other, and messages name the path given', async () => {
    const path = await tempPath();
    const link = join(join(path, '..'), 'link.state.json');
    await symlink('imsync.state.json', link); // relative, as `ln -s` makes it
    const lock = await new FileStateStore(path).lock('imsync apply');
    const error = await stateFailure(new FileStateStore(link).lock('imsync watch'));
    expect(error).toMatchObject({ code: 'LOCK_HELD', holder: { id: lock.holder.id } });
    expect(error.message).toContain(`${link} is locked by imsync apply`);
    await lock.release();
  });

  it('reports an unreadable state file instead of treating it as empty', async () => {
    const path = await tempPath();
    await writeFile(path, encodeState(oneImport));
    const directory = new FileStateStore(join(path, '..'));
    await expect(directory.read()).rejects.toMatchObject({ code: 'STATE_UNREADABLE' });
  });

  it.each([
    ['the state', '', 'read'],
    ['the journal', '.journal', 'read'],
    ['the lock', '.lock', 'lock'],
  ] as const)(
    'refuses a FIFO as %s at once, naming it, instead of waiting for a writer',
    async (_case, suffix, call) => {
      const path = await tempPath();
      if (suffix !== '') await writeFile(path, encodeState(emptyState()));
      const fifo = `${path}${suffix}`;
      execFileSync('mkfifo', [fifo]);
      const store = new FileStateStore(path);
      const outcome = await promptly(call === 'read' ? store.read() : store.lock('imsync apply'), fifo);
      expect(outcome).toMatchObject({ code: 'STATE_UNREADABLE' });
      expect((outcome as Error).message).toBe(
        `${fifo} is a FIFO, not a regular file; imsync reads and writes only those`,
      );
    },
  );

  it('refuses a corrupt state promptly when its backup is a FIFO, and does not call that a good copy', async () => {
    const path = await tempPath();
    await writeFile(path, 'not json');
    execFileSync('mkfifo', [`${path}.backup`]);
    const outcome = await promptly(new FileStateStore(path).read(), `${path}.backup`);
    expect(outcome).toMatchObject({ code: 'STATE_CORRUPT' });
    expect((outcome as Error).message).not.toContain('previous good copy');
  });

  it('takes over a lock whose holder on this host has died', async () => {
    const path = await tempPath();
    const child = spawn(process.execPath, ['-e', '0']);
    const deadPid = await new Promise<number>((resolve) => child.on('exit', () => resolve(child.pid!)));
    await writeFile(
      `${path}.lock`,
      JSON.stringify({
        host: hostname(),
        pid: deadPid,
        command: 'imsync apply',
        since: at.toISOString(),
        token: 't',
      }),
    );
    const lock = await new FileStateStore(path).lock('imsync apply');
    expect(lock.holder.pid).toBe(process.pid);
    await lock.release();
  });

  it("takes over a lock naming this process that it does not hold: a restarted container's earlier life", async () => {
    const path = await tempPath();
    const earlier = {
      host: hostname(),
      pid: process.pid,
      command: 'imsync watch',
      since: at.toISOString(),
      token: 'old',
    };
    await writeFile(`${path}.lock`, JSON.stringify(earlier));
    const lock = await new FileStateStore(path).lock('imsync watch');
    // While this process holds it, another store of the same process is refused all the same.
    const error = await stateFailure(new FileStateStore(path).lock('imsync apply'));
    expect(error).toMatchObject({ code: 'LOCK_HELD', holder: lock.holder });
    await lock.release();
  });

  it('does not take over a lock held by a live process on another host', async () => {
    const path = await tempPath();
    const holder = { host: 'build-agent-7', pid: 1, command: 'imsync watch', since: at.toISOString(), token: 't' };
    await writeFile(`${path}.lock`, JSON.stringify(holder));
    const error = await stateFailure(new FileStateStore(path).lock('imsync apply'));
    expect(error.message).toContain('imsync watch (pid 1 on build-agent-7');
  });

  it('names a lock left by another host with its id, and force-unlock removes it', async () => {
    const path = await tempPath();
    const holder = { host: 'build-7', pid: 4242, command: 'imsync apply', since: at.toISOString(), id: '3f2a9c01d4e5' };
    const text = JSON.stringify({ ...holder, token: 'a-token' });
    await writeFile(`${path}.lock`, text);
    const store = new FileStateStore(path);
    const error = await stateFailure(store.lock('imsync apply'));
    expect(error).toMatchObject({ code: 'LOCK_HELD', holder });
    expect(error.message).toBe(
      `${path} is locked by imsync apply (pid 4242 on build-7, since ${at.toISOString()}), lock id 3f2a9c01d4e5; ` +
        'if that process is gone, run `imsync force-unlock 3f2a9c01d4e5`',
    );
    const mismatch = await stateFailure(store.forceUnlock('3f2a9c01d4e6'));
    expect(mismatch.message).toBe(
      `${path} is locked by imsync apply (pid 4242 on build-7, since ${at.toISOString()}), lock id 3f2a9c01d4e5; ` +
        '3f2a9c01d4e6 is not its lock id, so nothing was unlocked',
    );
    expect(await readFile(`${path}.lock`, 'utf8')).toBe(text);
    expect(await store.forceUnlock('3f2a9c01d4e5')).toEqual(holder);
    await expect(stat(`${path}.lock`)).rejects.toThrow();
    await (await store.lock('imsync apply')).release();
  });

  it('gives a lock file written before lock ids (token only) an id derived from its token', async () => {
    const path = await tempPath();
    const old = { host: 'build-7', pid: 4242, command: 'imsync watch', since: at.toISOString(), token: randomUUID() };
    await writeFile(`${path}.lock`, JSON.stringify(old));
    const store = new FileStateStore(path);
    const first = await stateFailure(store.lock('imsync apply'));
    const id = first.holder!.id;
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(first.message).toContain(`lock id ${id}; if that process is gone, run \`imsync force-unlock ${id}\``);
    expect((await stateFailure(new FileStateStore(path).lock('imsync apply'))).holder!.id).toBe(id);
    await expect(store.forceUnlock(old.token)).rejects.toMatchObject({ code: 'LOCK_ID_MISMATCH' });
    expect(await store.forceUnlock(id)).toEqual({ ...without(old, 'token'), id });
    await expect(stat(`${path}.lock`)).rejects.toThrow();
  });

  it('writes the id beside the token in the lock file', async () => {
    const path = await tempPath();
    const lock = await new FileStateStore(path).lock('imsync apply');
    const file = JSON.parse(await readFile(`${path}.lock`, 'utf8')) as Record<string, unknown>;
    expect(file).toMatchObject({ ...lock.holder, token: expect.any(String) as unknown });
    expect(file.token).not.toBe(lock.holder.id);
    await lock.release();
  });

  it('names a lock file it cannot read, and force-unlock leaves it alone', async () => {
    const path = await tempPath();
    await writeFile(`${path}.lock`, 'not json');
    const store = new FileStateStore(path);
    const error = await stateFailure(store.lock('imsync apply'));
    expect(error).toMatchObject({ code: 'LOCK_HELD' });
    expect(error.message).toContain(`${path}.lock, which is not a lock file imsync can read`);
    await expect(store.forceUnlock('3f2a9c01d4e5')).rejects.toMatchObject({ code: 'LOCK_ID_MISMATCH' });
    expect(await readFile(`${path}.lock`, 'utf8')).toBe('not json');
  });

  it.each([
    ['a pid that is not a number', { pid: 'abc' }],
    ['a pid of -1', { pid: -1 }],
    ['a pid of 0', { pid: 0 }],
    ['no host', { host: undefined }],
    ['a command that is not a string', { command: 7 }],
    ['no time', { since: undefined }],
    ['an id that is not a string', { id: 12 }],
  ])(
    'refuses a lock file with %s as it refuses one that is not JSON, and never takes it over',
    async (_case, change) => {
      const path = await tempPath();
      const fields = {
        host: hostname(),
        pid: process.pid,
        command: 'imsync apply',
        since: at.toISOString(),
        token: 't',
      };
      const text = JSON.stringify({ ...fields, ...change });
      await writeFile(`${path}.lock`, text);
      const store = new FileStateStore(path);
      const error = await stateFailure(store.lock('imsync apply'));
      expect(error).toMatchObject({ code: 'LOCK_HELD' });
      expect(error.message).toBe(
        `${path} is locked by ${path}.lock, which is not a lock file imsync can read; if no imsync is running, remove that file`,
      );
      await expect(store.forceUnlock('3f2a9c01d4e5')).rejects.toMatchObject({ code: 'LOCK_ID_MISMATCH' });
      expect(await readFile(`${path}.lock`, 'utf8')).toBe(text);
    },
  );

  it('a holder forced out does not fold the journal of the next one when it releases', async () => {
    const path = await tempPath();
    const store = new FileStateStore(path);
    const forced = await store.lock('imsync apply');
    const base = await store.write(oneImport);
    await new FileStateStore(path).forceUnlock(forced.holder.id);
    const next = new FileStateStore(path);
    const lock = await next.lock('imsync apply');
    const state = await next.commit(
      await next.read(),
      new Map([['db', submitted(base, 'db', systemSpec('db')).images.db!]]),
    );
    await forced.release();
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(base);
    expect((await stat(`${path}.journal`)).size).toBeGreaterThan(0);
    expect(JSON.parse(await readFile(`${path}.lock`, 'utf8'))).toMatchObject({ id: lock.holder.id });
    await lock.release();
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(state);
  });

  it('release leaves a lock that someone else took alone', async () => {
    const path = await tempPath();
    const lock = await new FileStateStore(path).lock('imsync apply');
    await writeFile(`${path}.lock`, JSON.stringify({ ...lock.holder, token: 'someone-else' }));
    await lock.release();
    expect(JSON.parse(await readFile(`${path}.lock`, 'utf8'))).toMatchObject({ token: 'someone-else' });
  });
});

describe('file state store: a state file that is gone while its companions are there', () => {
  /** A state written twice (so it has a backup) and committed to once (so it has a journal), then removed. */
  async function lost() {
    const path = await tempPath();
    const store = new FileStateStore(path);
    const first = await store.write(await store.write(oneImport));
    await store.commit(first, new Map([['db', submitted(first, 'db', systemSpec('db')).images.db!]]));
    await rm(path);
    return path;
  }

  it('refuses to read it as empty, naming the backup and the journal and the ways back', async () => {
    const path = await lost();
    const before = await readdir(join(path, '..'));
    const error = await stateFailure(new FileStateStore(path).read());
    expect(error).toMatchObject({ code: 'STATE_MISSING' });
    expect(error.message).toBe(
      `${path} does not exist, but ${path}.backup (the previous good copy) and ${path}.journal (changes made since it was written) do: ` +
        'the state was lost, and read as empty it would import every image again. ' +
        `Restore the previous good copy (\`mv ${path}.backup ${path}\`), or rebuild the state from the imsync-key tags in the account (\`imsync state rebuild --state ${path}\`); nothing was read or written`,
    );
    const store = new FileStateStore(path);
    const lock = await store.lock('imsync apply');
    await expect(store.write(oneImport)).rejects.toMatchObject({ code: 'STATE_MISSING' });
    await lock.release();
    expect(await readdir(join(path, '..'))).toEqual(before);
  });

  it('refuses a journal alone, whose state file is gone', async () => {
    const path = await lost();
    await rm(`${path}.backup`);
    const error = await stateFailure(new FileStateStore(path).read());
    expect(error).toMatchObject({ code: 'STATE_MISSING' });
    expect(error.message).toContain(`but ${path}.journal (changes made since it was written) does:`);
    expect(error.message).not.toContain('mv ');
  });

  it('reads as empty while another holds a lock it took when there was no state: its first write is yet to come', async () => {
    const path = await tempPath();
    // Held, or left by a holder killed before it wrote anything: either way nothing was lost.
    const lock = await new FileStateStore(path).lock('imsync apply');
    expect(await new FileStateStore(path).read()).toEqual(emptyState());
    await lock.release();
  });

  it("refuses while another holds a lock it took over a state that is gone since: a state lost, or another's write", async () => {
    const path = await tempPath();
    await new FileStateStore(path).write(oneImport);
    const lock = await new FileStateStore(path).lock('imsync apply');
    await rm(path);
    const error = await stateFailure(new FileStateStore(path).read());
    expect(error).toMatchObject({ code: 'STATE_MISSING' });
    expect(error.message).toContain(
      `${path} does not exist, but ${path}.lock (held by imsync apply (pid ${process.pid} on ${hostname()}, since ${lock.holder.since}), lock id ${lock.holder.id}) does:`,
    );
    expect(error.message).toContain(
      'If that command is still running, it may be writing the first state: try again once it has ended.',
    );
    await lock.release();
    expect(await new FileStateStore(path).read()).toEqual(emptyState());
  });

  it('is rebuilt: the journal is kept aside, and the new state reads', async () => {
    const path = await lost();
    const store = new FileStateStore(path);
    const lock = await store.lock('imsync state rebuild');
    await expect(store.read()).rejects.toMatchObject({ code: 'STATE_MISSING' });
    const { state, aside } = await store.rebuild(emptyState());
    await lock.release();
    expect(aside).toMatch(/\.before-rebuild-.*\.journal$/);
    expect((await stat(aside!)).size).toBeGreaterThan(0);
    expect(await new FileStateStore(path).read()).toEqual(state);
  });
});

describe("file state store: the pre-flight's cache", () => {
  it('writes the cache after the records, its files and buckets in key order, and reads it back', async () => {
    const path = await tempPath();
    const cache = preflightCache();
    const shuffled: PreflightCache = {
      objects: Object.fromEntries(Object.entries(cache.objects).reverse()),
      buckets: { 'zz-bucket': cache.buckets['golden-images']!, ...cache.buckets },
    };
    const written = await new FileStateStore(path).write({
      preflight: shuffled,
      ...sourced(emptyState(), 'web-base', systemSpec('web-base')),
    });
    const document = JSON.parse(await readFile(path, 'utf8')) as Record<string, PreflightCache>;
    expect(Object.keys(document)).toEqual(['version', 'lineage', 'serial', 'images', 'preflight']);
    expect(Object.keys(document.preflight!.objects)).toEqual(['golden-images:db.raw', 'golden-images:web-base.zvhd2']);
    expect(Object.keys(document.preflight!.buckets)).toEqual(['golden-images', 'zz-bucket']);
    expect(await new FileStateStore(path).read()).toEqual(written);
  });

  it('keeps the cache of a rewrite through the commits after it: the state and its journal read back with it', async () => {
    const path = await tempPath();
    const store = new FileStateStore(path);
    const lock = await store.lock('imsync apply');
    const recorder = new StateRecorder(store, await store.write(oneImport));
    await recorder.rewrite((state) => ({ ...state, preflight: preflightCache() }));
    const db = sourced(recorder.state, 'db', systemSpec('db')).images.db!;
    await recorder.record('db', db);
    expect(recorder.state.preflight).toEqual(preflightCache());
    // The commit is a journal line; the file holds the cache from the rewrite.
    expect((await readFile(`${path}.journal`, 'utf8')).trim().split('\n')).toHaveLength(1);
    expect((JSON.parse(await readFile(path, 'utf8')) as State).preflight).toEqual(preflightCache());
    const read = await new FileStateStore(path).read();
    expect(read).toEqual(recorder.state);
    expect(read.images.db!.source).toEqual(db.source);
    await lock.release();
    // Folded in on release, the cache is still there.
    await expect(stat(`${path}.journal`)).rejects.toThrow();
    expect(await new FileStateStore(path).read()).toEqual(recorder.state);
  });

  it('reads a state file written before the cache existed as it was, and writes none back', async () => {
    const path = await tempPath();
    const text = `${JSON.stringify({ version: 1, lineage: 'l-1', serial: 3, images: oneImport.images }, null, 2)}\n`;
    await writeFile(path, text);
    const store = new FileStateStore(path);
    const read = await store.read();
    expect('preflight' in read).toBe(false);
    await store.write(read);
    expect(await readFile(path, 'utf8')).toBe(text.replace('"serial": 3', '"serial": 4'));
  });
});

describe('file state store journal', () => {
  async function journaled() {
    const path = await tempPath();
    const store = new FileStateStore(path);
    const base = await store.write(oneImport);
    const next = await store.commit(base, new Map([['db', submitted(base, 'db', systemSpec('db')).images.db!]]));
    return { path, store, base, next };
  }

  it('appends commits to a journal (mode 0600) and leaves the state file as it was', async () => {
    const { path, base, next } = await journaled();
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(base);
    expect((await stat(`${path}.journal`)).mode & 0o777).toBe(0o600);
    expect(await new FileStateStore(path).read()).toEqual(next);
  });

  it('ignores a last journal line cut short by a crash: that commit was never acknowledged', async () => {
    const { path, next } = await journaled();
    await appendFile(`${path}.journal`, '{"lineage":"x","serial":3,"chan');
    expect(await new FileStateStore(path).read()).toEqual(next);
  });

  it('drops a torn last line before the next commit, so the journal stays readable', async () => {
    const { path, next } = await journaled();
    await appendFile(`${path}.journal`, '{"lineage":"x","serial":3,"chan');
    const store = new FileStateStore(path);
    const after = await store.commit(await store.read(), new Map([['web-base', null]]));
    expect(await new FileStateStore(path).read()).toEqual(after);
    expect(after.serial).toBe(next.serial + 1);
  });

  it('refuses to lock a state in a directory that does not exist, with a clear error', async () => {
    const path = join(await tempPath(), 'missing', 'imsync.state.json');
    const error = await stateFailure(new FileStateStore(path).lock('imsync apply'));
    expect(error).toMatchObject({ code: 'STATE_UNWRITABLE' });
    expect(error.message).toContain('must exist and be writable');
  });

  it('skips journal entries the state file already holds (a crash between folding and removing the journal)', async () => {
    const { path, next } = await journaled();
    const journal = await readFile(`${path}.journal`, 'utf8');
    await writeFile(path, encodeState(next));
    await writeFile(`${path}.journal`, journal);
    expect(await new FileStateStore(path).read()).toEqual(next);
  });

  it.each([
    ['a line that is not JSON', (line: string) => `${line}not json\n`, 'line 2: not valid JSON'],
    [
      'a gap in the serials',
      (line: string) => line.replace(/"serial":\d+/, '"serial":9'),
      'serial 9 does not follow 1',
    ],
    ['another lineage', (line: string) => line.replace(/"lineage":"[^"]+"/, '"lineage":"other"'), 'another state'],
    ['an invalid record', (line: string) => line.replace(/"phase":"submitted"/, '"phase":"done"'), 'not a valid state'],
  ])('refuses a journal with %s, leaving both files as they were', async (_case, corrupt, message) => {
    const { path } = await journaled();
    const journal = corrupt(await readFile(`${path}.journal`, 'utf8'));
    await writeFile(`${path}.journal`, journal);
    const error = await stateFailure(new FileStateStore(path).read());
    expect(error.message).toContain(message);
    expect(await readFile(`${path}.journal`, 'utf8')).toBe(journal);
  });

  it('refuses a state whose serial is at or beyond 2^53, where JSON numbers stop counting one by one', async () => {
    const path = await tempPath();
    const text = encodeState(oneImport).replace('"serial": 0', '"serial": 9007199254740993');
    await writeFile(path, text);
    const error = await stateFailure(new FileStateStore(path).read());
    expect(error).toMatchObject({ code: 'STATE_CORRUPT' });
    expect(error.message).toContain(`${path} has serial 9007199254740992`);
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('refuses a journal line whose serial is at or beyond 2^53 instead of dropping the lines after it', async () => {
    const path = await tempPath();
    const last = { ...oneImport, lineage: 'l', serial: Number.MAX_SAFE_INTEGER };
    await writeFile(path, encodeState(last));
    const db = submitted(last, 'db', systemSpec('db')).images.db!;
    const lines = ['9007199254740992', '9007199254740993'].map(
      (serial) => `{"lineage":"l","serial":${serial},"changes":${JSON.stringify({ db })}}\n`,
    );
    await writeFile(`${path}.journal`, lines.join(''));
    const error = await stateFailure(new FileStateStore(path).read());
    expect(error).toMatchObject({ code: 'STATE_CORRUPT' });
    expect(error.message).toContain(`${path}.journal line 1: serial 9007199254740992`);
  });

  it('refuses to write past serial 2^53 - 1, and writes nothing', async () => {
    const path = await tempPath();
    const last = { ...oneImport, lineage: 'l', serial: Number.MAX_SAFE_INTEGER };
    await writeFile(path, encodeState(last));
    const store = new FileStateStore(path);
    const base = await store.read();
    const db = submitted(base, 'db', systemSpec('db')).images.db!;
    await expect(store.commit(base, new Map([['db', db]]))).rejects.toMatchObject({ code: 'STATE_CORRUPT' });
    await expect(store.write(base)).rejects.toMatchObject({ code: 'STATE_CORRUPT' });
    expect((await readdir(join(path, '..'))).sort()).toEqual(['imsync.state.json']);
    expect(await readFile(path, 'utf8')).toBe(encodeState(last));
  });

  it('folds the journal into the state file when the writer releases the lock', async () => {
    const path = await tempPath();
    const store = new FileStateStore(path);
    const lock = await store.lock('imsync apply');
    const base = await store.write(oneImport);
    const next = await store.commit(base, new Map([['db', submitted(base, 'db', systemSpec('db')).images.db!]]));
    await lock.release();
    await expect(stat(`${path}.journal`)).rejects.toThrow();
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(next);
  });

  it('folds the journal into the state file once it outgrows it', async () => {
    const path = await tempPath();
    const store = new FileStateStore(path);
    let state = await store.write(oneImport);
    for (let i = 0; i < 700; i++) {
      const key = `image-${i}`;
      state = await store.commit(state, new Map([[key, submitted(state, key, systemSpec(key)).images[key]!]]));
    }
    const journalBytes = await stat(`${path}.journal`).then(
      (info) => info.size,
      () => 0,
    );
    expect(journalBytes).toBeLessThanOrEqual(Math.max(256 * 1024, (await stat(path)).size));
    expect((JSON.parse(await readFile(path, 'utf8')) as State).serial).toBeGreaterThan(1);
    expect(await new FileStateStore(path).read()).toEqual(state);
    // Bounded cost: the bytes written stay within a small multiple of the final state.
    expect(store.stats().bytes).toBeLessThan(10 * (await stat(path)).size + journalBytes);
  });
});
