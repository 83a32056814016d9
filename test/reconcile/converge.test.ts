// The pipeline's promise, as a property: whatever happened to the account outside imsync (images
// deleted, renamed, described, retagged, the ownership tag removed), whatever became of the state
// (kept, or lost), and whatever the manifests now say, one refresh → plan → apply converges: a
// second refresh and plan find nothing to do. Against the in-memory IMS on a fake clock.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KEY_TAG } from '../../src/ims/ownership.js';
import type { ImageSpec, Manifest } from '../../src/manifest/types.js';
import { planOnce, reconcileOnce, type PlanInput } from '../../src/reconcile/reconcile.js';
import type { State } from '../../src/state/model.js';
import { StateRecorder } from '../../src/state/recorder.js';
import { FakeClock } from '../support/fake-clock.js';
import { runOnFakeClock } from '../support/fake-time.js';
import { inMemoryIms, type InMemoryIms } from '../support/in-memory-ims.js';
import { MemoryStateStore } from '../support/memory-store.js';
import { manifest, systemSpec } from '../support/specs.js';

const KEYS = ['alpha', 'beta', 'gamma', 'delta', 'omega'] as const;

type OutOfBand = 'delete' | 'rename' | 'describe' | 'retag' | 'disown' | 'untouched';

const scenario = fc.record({
  /** The manifests of the first apply: a subset of the keys, each with its spec's variant. */
  first: fc.subarray([...KEYS], { minLength: 1 }),
  /** What someone did to each image afterwards. */
  outOfBand: fc.array(fc.constantFrom<OutOfBand>('delete', 'rename', 'describe', 'retag', 'disown', 'untouched'), {
    minLength: KEYS.length,
    maxLength: KEYS.length,
  }),
  /** The manifests of the second apply, and how each spec changed. */
  second: fc.subarray([...KEYS]),
  edits: fc.array(fc.constantFrom('same', 'description', 'tags', 'min_disk'), {
    minLength: KEYS.length,
    maxLength: KEYS.length,
  }),
  stateLost: fc.boolean(),
});

function specOf(key: string, edit = 'same'): ImageSpec {
  return systemSpec(key, {
    description: edit === 'description' ? `${key}, described anew` : `${key} image`,
    image_tags: [{ key: 'team', value: edit === 'tags' ? 'ops' : 'web' }],
    ...(edit === 'min_disk' ? { min_disk: 80 } : {}),
  });
}

const input = (manifests: readonly Manifest[]): PlanInput => ({
  manifests,
  region: 'ap-southeast-1',
  policy: { allowReplace: true, prune: true, retryFailed: true },
  refresh: 'refresh',
  graceMs: 0,
  maxPrune: 100,
  // Pruning with no manifest at all is refused without it (tested elsewhere); here it is meant.
  force: manifests.length === 0,
});

async function apply(ims: InMemoryIms, clock: FakeClock, store: MemoryStateStore, manifests: readonly Manifest[]) {
  let attempt = 0;
  const recorder = new StateRecorder(store, await store.read());
  const run = reconcileOnce(
    {
      ims: ims.client,
      recorder,
      clock,
      newAttemptId: () => `attempt-${clock.now()}-${attempt++}`,
      emit: () => undefined,
    },
    input(manifests),
    { planned: () => undefined, confirm: () => Promise.resolve(true) },
    {
      parallelism: 4,
      settleGraceMs: 0,
      pollMinMs: 1000,
      pollMaxMs: 5000,
      deleteTimeoutMs: 60_000,
      stop: new AbortController().signal,
    },
  );
  const { summary } = await runOnFakeClock(run, clock, { stepMs: 500, maxMs: 10 * 60_000 });
  await recorder.flush();
  return summary;
}

function changeOutOfBand(ims: InMemoryIms, state: State, key: string, what: OutOfBand): void {
  const imageId = state.images[key]?.imageId;
  if (imageId === undefined) return;
  const patch = (operations: object[]) => ims.store.update(imageId, Buffer.from(JSON.stringify(operations)));
  switch (what) {
    case 'delete':
      return ims.store.delete(imageId);
    case 'rename':
      return void patch([{ op: 'replace', path: '/name', value: `${key}-renamed-by-hand` }]);
    case 'describe':
      return void patch([{ op: 'add', path: '/__description', value: 'edited by hand' }]);
    case 'retag':
      ims.store.removeTags(imageId, ['team']);
      return ims.store.addTags(imageId, [{ key: 'owner', value: 'someone' }]);
    case 'disown':
      return ims.store.removeTags(imageId, [KEY_TAG]);
    case 'untouched':
      return;
  }
}

describe('refresh, plan, apply, then refresh and plan again', () => {
  it('finds nothing left to do, whatever happened outside imsync', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ first, outOfBand, second, edits, stateLost }) => {
        const clock = new FakeClock();
        const ims = inMemoryIms({ clock, jobSeconds: 5, seed: 1, imageQuota: 1000 });
        try {
          const store = new MemoryStateStore();
          await apply(
            ims,
            clock,
            store,
            first.map((key) => manifest(key, specOf(key))),
          );
          const applied = await store.read();
          KEYS.forEach((key, i) => changeOutOfBand(ims, applied, key, outOfBand[i]!));
          const later = stateLost ? new MemoryStateStore() : store;
          const desired = second.map((key) => manifest(key, specOf(key, edits[KEYS.indexOf(key)])));
          const summary = await apply(ims, clock, later, desired);
          expect(summary?.failed ?? 0).toBe(0);

          const { plan } = await planOnce({ ims: ims.client, clock }, await later.read(), input(desired));
          // An orphan whose ownership tag someone removed is kept, and said to be, at every plan.
          const disowned = KEYS.filter(
            (key, i) => first.includes(key) && outOfBand[i] === 'disown' && !second.includes(key) && !stateLost,
          ).sort(); // the plan's entries come sorted by key
          const left = plan.entries.filter((entry) => entry.action !== 'none').map((e) => `${e.key} ${e.action}`);
          expect(left).toEqual(disowned.map((key) => `${key} keep-orphan`));
          expect([...plan.refresh.drift.keys()].sort()).toEqual(disowned);
          // One image per desired key: the one recorded, active, carrying the key's tag.
          const state = await later.read();
          for (const key of second) {
            const owned = ims.store
              .list()
              .map(({ info }) => info)
              .filter((info) => info.tags.includes(`${KEY_TAG}=${key}`) && info.status === 'active');
            expect(owned.map((info) => info.id)).toEqual([state.images[key]?.imageId]);
          }
        } finally {
          await ims.close();
        }
      }),
      { numRuns: 150 },
    );
  });

  it('a fresh state against existing images adopts them all and imports nothing', async () => {
    const clock = new FakeClock();
    const ims = inMemoryIms({ clock, jobSeconds: 5, seed: 2 });
    try {
      const manifests = KEYS.map((key) => manifest(key, specOf(key)));
      await apply(ims, clock, new MemoryStateStore(), manifests);
      const imported = ims.requestLog.filter((r) => r.path.endsWith('/quickimport/action')).length;
      const fresh = new MemoryStateStore();
      const summary = await apply(ims, clock, fresh, manifests);
      expect(summary).toMatchObject({ imported: 0, adopted: KEYS.length });
      expect(ims.requestLog.filter((r) => r.path.endsWith('/quickimport/action'))).toHaveLength(imported);
      expect(Object.keys((await fresh.read()).images).sort()).toEqual([...KEYS].sort());
    } finally {
      await ims.close();
    }
  });
});
