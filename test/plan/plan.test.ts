import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/manifest/types.js';
import {
  blockedEntries,
  hasChanges,
  hasWork,
  planChanges,
  pruneRefusal,
  summarize,
  type Plan,
} from '../../src/plan/plan.js';
import {
  adoptedRecord,
  emptyState,
  replacedRecord,
  succeededRecord,
  updatedRecord,
  type State,
  type SucceededRecord,
} from '../../src/state/model.js';
import { dataSpec, manifest, systemSpec } from '../support/specs.js';
import { at, failed, imported, set, submitted, submitting } from '../support/states.js';

const allowReplace = { policy: { allowReplace: true } };

function actionOf(plan: Plan, key: string): string | undefined {
  return plan.entries.find((entry) => entry.key === key)?.action;
}

describe('planChanges', () => {
  it('imports what the state does not hold', () => {
    const plan = planChanges([manifest('web-base')], emptyState());
    expect(plan.entries).toMatchObject([{ key: 'web-base', action: 'import' }]);
    expect(hasChanges(plan)).toBe(true);
  });

  it('plans nothing for an image imported from the same spec', () => {
    const state = imported(emptyState(), 'web-base', systemSpec('web-base'));
    const plan = planChanges([manifest('web-base')], state);
    expect(plan.entries).toMatchObject([{ key: 'web-base', action: 'none' }]);
    expect(hasChanges(plan)).toBe(false);
  });

  it('compares meaning, not spelling: defaults written out and the other tag form are no change', () => {
    const recorded = systemSpec('web-base', { tags: ['team.web', 'tier.front.end'] });
    const state = imported(emptyState(), 'web-base', recorded);
    const rewritten = systemSpec('web-base', {
      type: 'ECS',
      architecture: 'x86',
      description: '',
      enterprise_project_id: '0',
      image_tags: [
        { key: 'tier', value: 'front.end' },
        { key: 'team', value: 'web' },
      ],
    });
    expect(actionOf(planChanges([manifest('web-base', rewritten)], state), 'web-base')).toBe('none');
  });

  it('updates in place when only the name, description, tags or firmware change', () => {
    const state = imported(emptyState(), 'web-base', systemSpec('web-base', { description: 'old' }));
    const desired = systemSpec('web-base', {
      name: 'web-base-2',
      description: 'new',
      tags: ['team.web'],
      hw_firmware_type: 'uefi',
    });
    const [entry] = planChanges([manifest('web-base', desired)], state).entries;
    expect(entry).toMatchObject({
      action: 'update',
      changes: [
        { field: 'description', before: 'old', after: 'new', forcesReplacement: false },
        { field: 'hw_firmware_type', before: undefined, after: 'uefi', forcesReplacement: false },
        { field: 'name', before: 'web-base', after: 'web-base-2', forcesReplacement: false },
        { field: 'tags', before: [], after: ['team=web'], forcesReplacement: false },
      ],
    });
  });

  it.each([
    ['image_url', { image_url: 'golden-images:other.zvhd2' }],
    ['os_version', { os_version: 'CentOS 7.9 64bit' }],
    ['min_disk', { min_disk: 80 }],
    ['type', { type: 'BMS' as const }],
    ['architecture', { architecture: 'arm' as const }],
    ['license_type', { license_type: 'byol' as const }],
  ])('replaces when %s changes, marking the field that forces it (only with allowReplace)', (field, overrides) => {
    const state = imported(emptyState(), 'web-base', systemSpec('web-base'));
    const desired = [manifest('web-base', systemSpec('web-base', overrides))];
    const blocked = planChanges(desired, state);
    expect(blocked.entries[0]?.action).toBe('replace-blocked');
    expect(hasWork(blocked)).toBe(false);
    expect(blockedEntries(blocked)).toHaveLength(1);
    const [entry] = planChanges(desired, state, allowReplace).entries;
    expect(entry?.action).toBe('replace');
    expect(entry && 'changes' in entry && entry.changes.find((c) => c.field === field)).toMatchObject({
      forcesReplacement: true,
    });
  });

  it('replaces when a system image becomes a data image (type and os fields change)', () => {
    const state = imported(emptyState(), 'disk', systemSpec('disk'));
    expect(actionOf(planChanges([manifest('disk', dataSpec('disk'))], state, allowReplace), 'disk')).toBe('replace');
  });

  it('replaces when the region moves, but not when the default region is merely unset', () => {
    const state = imported(emptyState(), 'web-base', systemSpec('web-base'), 'ap-southeast-1');
    const moved = planChanges([manifest('web-base', systemSpec('web-base'), 'cn-north-4')], state, allowReplace);
    expect(moved.entries[0]).toMatchObject({
      action: 'replace',
      changes: [{ field: 'region', forcesReplacement: true }],
    });
    expect(actionOf(planChanges([manifest('web-base')], state), 'web-base')).toBe('none');
    expect(actionOf(planChanges([manifest('web-base')], state, { defaultRegion: 'ap-southeast-1' }), 'web-base')).toBe(
      'none',
    );
  });

  it('never resubmits an import that is in flight, whatever the manifest says now', () => {
    const sent = submitting(emptyState(), 'a', systemSpec('a'));
    const running = submitted(emptyState(), 'a', systemSpec('a'));
    const changed = manifest('a', systemSpec('a', { min_disk: 99 }));
    expect(actionOf(planChanges([changed], sent), 'a')).toBe('settle');
    expect(actionOf(planChanges([changed], running), 'a')).toBe('follow');
    expect(hasChanges(planChanges([changed], running))).toBe(false);
    expect(hasWork(planChanges([changed], running))).toBe(true);
  });

  it('finishes a replacement whose new image is active but whose old image is not yet deleted', () => {
    const replacing = imported(imported(emptyState(), 'a', systemSpec('a')), 'a', systemSpec('a', { min_disk: 80 }));
    expect(replacing.images.a).toMatchObject({ phase: 'succeeded', supersedes: 'image-a' });
    const desired = manifest('a', systemSpec('a', { min_disk: 80 }));
    expect(actionOf(planChanges([desired], replacing), 'a')).toBe('finish-replace');
    const done = set(replacing, 'a', replacedRecord(replacing.images.a as SucceededRecord, at));
    expect(actionOf(planChanges([desired], done), 'a')).toBe('none');
  });

  it('plans a failed replacement as a replacement again, not as an import', () => {
    const replacing = imported(emptyState(), 'a', systemSpec('a'));
    const failedAgain = failed(replacing, 'a', systemSpec('a', { min_disk: 80 }), { code: 'IMG.0057', reason: 'gone' });
    expect(failedAgain.images.a).toMatchObject({ phase: 'failed', supersedes: 'image-a' });
    const [entry] = planChanges([manifest('a', systemSpec('a', { min_disk: 90 }))], failedAgain, allowReplace).entries;
    expect(entry).toMatchObject({ action: 'replace', recorded: { error: { code: 'IMG.0057' } } });
  });

  it('retries after a failed job, keeping the failure to show; holds it when unchanged failures wait', () => {
    const state = failed(emptyState(), 'a', systemSpec('a'), { code: 'IMG.0010', reason: 'the object does not exist' });
    const [entry] = planChanges([manifest('a')], state).entries;
    expect(entry).toMatchObject({ action: 'retry', recorded: { error: { code: 'IMG.0010' } } });
    const held = planChanges([manifest('a')], state, { policy: { retryFailed: false } });
    expect(actionOf(held, 'a')).toBe('hold-failed');
    const edited = planChanges([manifest('a', systemSpec('a', { min_disk: 50 }))], state, {
      policy: { retryFailed: false },
    });
    expect(actionOf(edited, 'a')).toBe('retry');
  });

  it("backs off a failing spec at the daemon's time: 30 s after its first failure, doubling, at most 1 h", () => {
    const error = { code: 'IMG.0010', reason: 'the object does not exist' };
    let state = emptyState();
    for (let failure = 1; failure <= 12; failure++) state = failed(state, 'a', systemSpec('a'), error);
    const twelve = state.images.a!;
    expect(twelve).toMatchObject({ phase: 'failed', failures: 12 });
    const after = (ms: number, s: State = state) =>
      actionOf(planChanges([manifest('a')], s, { now: new Date(at.getTime() + ms) }), 'a');
    const once = failed(emptyState(), 'a', systemSpec('a'), error);
    const thrice = failed(failed(once, 'a', systemSpec('a'), error), 'a', systemSpec('a'), error);
    const rows: [State, number, string][] = [
      [once, 29_999, 'hold-failed'],
      [once, 30_000, 'retry'],
      [thrice, 119_999, 'hold-failed'],
      [thrice, 120_000, 'retry'],
      [state, 3_599_999, 'hold-failed'],
      [state, 3_600_000, 'retry'],
    ];
    for (const [s, ms, action] of rows) expect([ms, after(ms, s)]).toEqual([ms, action]);
    // A changed manifest is tried at once and counts afresh; without the daemon's time, apply retries.
    const edited = planChanges([manifest('a', systemSpec('a', { min_disk: 50 }))], state, { now: at });
    expect(actionOf(edited, 'a')).toBe('retry');
    expect(actionOf(planChanges([manifest('a')], state), 'a')).toBe('retry');
    expect(failed(state, 'a', systemSpec('a', { min_disk: 50 }), error).images.a).toMatchObject({ failures: 1 });
    expect(imported(state, 'a', systemSpec('a')).images.a).not.toHaveProperty('failures');
  });

  it('plans what the refresh found: an import for a deleted image, an adoption, an update back', () => {
    const state = imported(imported(emptyState(), 'gone', systemSpec('gone')), 'edited', systemSpec('edited'));
    const adopted = adoptedRecord({ imageId: 'img-x', attemptId: 'a1', spec: systemSpec('found'), at });
    const renamed = updatedRecord(
      state.images.edited as Parameters<typeof updatedRecord>[0],
      systemSpec('edited', { name: 'renamed' }),
      at,
    );
    const plan = planChanges([manifest('gone'), manifest('edited'), manifest('found')], state, {
      refresh: {
        changes: new Map([
          ['gone', null],
          ['found', adopted],
          ['edited', renamed],
        ]),
        drift: new Map([
          ['gone', { kind: 'deleted', imageId: 'image-gone' } as const],
          ['found', { kind: 'adopted', imageId: 'img-x' } as const],
          ['edited', { kind: 'edited', imageId: 'image-edited', fields: ['name'] } as const],
        ]),
        unadopted: [],
      },
    });
    expect(plan.entries).toMatchObject([
      { key: 'edited', action: 'update', changes: [{ field: 'name', before: 'renamed', after: 'edited' }] },
      { key: 'found', action: 'adopt', drift: { kind: 'adopted' } },
      { key: 'gone', action: 'import', drift: { kind: 'deleted', imageId: 'image-gone' } },
    ]);
    expect(plan.basis).toEqual({ lineage: state.lineage, serial: state.serial });
  });

  it('reports recorded images that no manifest names any more as orphans', () => {
    const state = imported(
      imported(emptyState(), 'keep', systemSpec('keep')),
      'gone',
      systemSpec('gone'),
      'cn-north-4',
    );
    const plan = planChanges([manifest('keep')], state);
    expect(plan.entries).toMatchObject([
      { key: 'gone', action: 'keep-orphan', region: 'cn-north-4' },
      { key: 'keep', action: 'none' },
    ]);
    expect(summarize(plan)).toMatchObject({ 'keep-orphan': 1, none: 1, delete: 0 });
    const pruning = planChanges([manifest('keep')], state, { policy: { prune: true } });
    expect(actionOf(pruning, 'gone')).toBe('delete');
    expect(pruneRefusal(pruning, { maxPrune: 10, force: false, manifests: 1 })).toBeUndefined();
    expect(pruneRefusal(pruning, { maxPrune: 0, force: false, manifests: 1 })).toMatch(
      /would delete 1 images, more than --max-prune 0/,
    );
    expect(pruneRefusal(pruning, { maxPrune: 0, force: true, manifests: 1 })).toBeUndefined();
    // An orphan whose ownership tag was removed outside imsync is kept, even when pruning.
    const disowned = planChanges([manifest('keep')], state, {
      policy: { prune: true },
      refresh: {
        changes: new Map(),
        drift: new Map([['gone', { kind: 'edited', imageId: 'image-gone', fields: ['ownership'] } as const]]),
        unadopted: [],
      },
    });
    expect(disowned.entries[0]).toMatchObject({ key: 'gone', action: 'keep-orphan', drift: { kind: 'edited' } });
    const everything = planChanges([], state, { policy: { prune: true } });
    expect(pruneRefusal(everything, { maxPrune: 10, force: false, manifests: 0 })).toMatch(
      /no manifest at all would delete all 2/,
    );
  });

  it('records the state it was made against', () => {
    const state = { ...imported(emptyState(), 'a', systemSpec('a')), lineage: 'l-1', serial: 7 };
    expect(planChanges([], state).basis).toEqual({ lineage: 'l-1', serial: 7 });
  });
});

const key = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
const specOverrides = fc.record(
  {
    description: fc.constantFrom('a', 'b', ''),
    min_disk: fc.integer({ min: 1, max: 1024 }),
    architecture: fc.constantFrom('x86' as const, 'arm' as const),
    image_tags: fc.array(fc.record({ key: fc.constantFrom('team', 'tier', 'env'), value: fc.constantFrom('a', 'b') }), {
      maxLength: 3,
    }),
    os_version: fc.constantFrom('Ubuntu 22.04 server 64bit', 'CentOS 7.9 64bit'),
  },
  { requiredKeys: [] },
);
const arbitraryManifest = fc
  .tuple(key, specOverrides, fc.boolean())
  .map(([name, overrides, data]) =>
    manifest(
      name,
      data
        ? dataSpec(name, { ...(overrides.description === undefined ? {} : { description: overrides.description }) })
        : systemSpec(name, overrides),
    ),
  );
const manifestSet = fc.uniqueArray(arbitraryManifest, { selector: (m) => m.metadata.name, maxLength: 12 });

/** A state in which every planned action was carried out. */
function applyAll(plan: Plan, state: State): State {
  let next = state;
  for (const entry of plan.entries) {
    const record = next.images[entry.key];
    if (entry.action === 'delete') next = set(next, entry.key, null);
    else if (entry.action === 'update')
      next = set(next, entry.key, updatedRecord(entry.recorded, entry.manifest.spec, at));
    else if (entry.action === 'import' || entry.action === 'replace' || entry.action === 'retry') {
      next = imported(next, entry.key, entry.manifest.spec, entry.region);
      next = set(next, entry.key, replacedRecord(next.images[entry.key] as SucceededRecord, at));
    } else if (entry.action === 'settle' || entry.action === 'follow') {
      next = set(next, entry.key, succeededRecord(record!, 'image', at));
    }
  }
  return next;
}

function arbitraryState(manifests: readonly Manifest[], picks: readonly number[]): State {
  let state = emptyState();
  manifests.forEach((m, i) => {
    const pick = picks[i % picks.length] ?? 0;
    const other = systemSpec(m.metadata.name, { description: 'recorded' });
    if (pick === 1) state = imported(state, m.metadata.name, m.spec);
    if (pick === 2) state = imported(state, m.metadata.name, other);
    if (pick === 3) state = imported(state, m.metadata.name, systemSpec(m.metadata.name, { min_disk: 1000 }));
    if (pick === 4) state = submitting(state, m.metadata.name, m.spec);
  });
  return imported(state, 'zz-orphan', systemSpec('zz-orphan'));
}

describe('planChanges properties', () => {
  const scenario = fc.tuple(manifestSet, fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1 }));

  const withShuffle = scenario.chain(([manifests, picks]) =>
    fc.tuple(
      fc.constant(manifests),
      fc.constant(picks),
      fc.shuffledSubarray(manifests, { minLength: manifests.length, maxLength: manifests.length }),
    ),
  );

  it('is deterministic: the order of manifests does not matter', () => {
    fc.assert(
      fc.property(withShuffle, ([manifests, picks, shuffled]) => {
        const state = arbitraryState(manifests, picks);
        expect(planChanges(shuffled, state)).toEqual(planChanges(manifests, state));
      }),
      { numRuns: 200 },
    );
  });

  it('plans no change after every planned action is recorded as done', () => {
    fc.assert(
      fc.property(scenario, ([manifests, picks]) => {
        const state = arbitraryState(manifests, picks);
        const policy = { policy: { allowReplace: true, prune: true } };
        const replanned = planChanges(manifests, applyAll(planChanges(manifests, state, policy), state), policy);
        expect(replanned.entries.every((entry) => entry.action === 'none')).toBe(true);
        expect(replanned.entries).toHaveLength(manifests.length);
      }),
      { numRuns: 200 },
    );
  });

  it('lists entries sorted by key, one per key', () => {
    fc.assert(
      fc.property(scenario, ([manifests, picks]) => {
        const keys = planChanges(manifests, arbitraryState(manifests, picks)).entries.map((entry) => entry.key);
        expect(keys).toEqual([...new Set(keys)].sort());
      }),
    );
  });
});
