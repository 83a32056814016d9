// What every command does with its lock once its work is over, whatever the store.
import { describe, expect, it } from 'vitest';
import { StateError, whileLocked, type StateLock } from '../../src/state/store.js';

function failingLock(message: string): StateLock {
  const holder = { host: 'h', pid: 1, command: 'imsync apply', since: '2026-11-26T10:00:00.000Z', id: 'abc' };
  return { holder, release: () => Promise.reject(new StateError('STATE_UNWRITABLE', message)) };
}

describe('whileLocked', () => {
  it('keeps the failure of the work as the error, and tells the failed release in it', async () => {
    const first = new StateError('STATE_UNWRITABLE', 'cannot write s.json.journal: no space left on device (ENOSPC)');
    const thrown = await whileLocked(failingLock('cannot write s.json: no space left on device (ENOSPC)'), () =>
      Promise.reject(first),
    ).catch((error: unknown) => error);
    expect(thrown).toBe(first);
    expect(first.message).toBe(
      'cannot write s.json.journal: no space left on device (ENOSPC); then, releasing the lock: cannot write s.json: no space left on device (ENOSPC)',
    );
  });

  it("throws the release's failure when the work succeeded", async () => {
    await expect(whileLocked(failingLock('cannot remove s.json.lock'), () => Promise.resolve(0))).rejects.toThrow(
      'cannot remove s.json.lock',
    );
  });
});
