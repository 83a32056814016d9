// Plans for renderer tests, made by the planner itself from states built with the model's transitions.
import { planChanges, type Plan, type PlanEntry } from '../../src/plan/plan.js';
import type { Refreshed } from '../../src/refresh/refresh.js';
import { manifest, systemSpec } from './specs.js';
import { emptyState, failed, imported, submitted, submitting } from './states.js';

const REGION = 'ap-southeast-1';

/**
 * One entry of every action the planner makes, keyed by what it shows (`a-import`, `b-retry`...),
 * with what a refresh found. Two policies make them (replace and replace-blocked cannot share one):
 * their entries are put together in one plan, as a renderer sees any plan.
 */
export function planOfEveryAction(): Plan {
  const web = (key: string) => manifest(key, systemSpec(key), REGION);
  let state = emptyState();
  state = failed(state, 'b-retry', systemSpec('b-retry', { min_disk: 20 }), {
    code: 'IMG.0010',
    reason: 'The object does not exist in OBS.',
  });
  state = failed(state, 'c-hold-failed', systemSpec('c-hold-failed'), { code: 'IMG.0057', reason: 'Quota exceeded.' });
  state = imported(state, 'd-update', systemSpec('d-update', { description: 'old' }), REGION, 'img-d');
  state = imported(state, 'e-replace', systemSpec('e-replace'), REGION, 'img-e');
  state = imported(state, 'f-replace-blocked', systemSpec('f-replace-blocked'), REGION, 'img-f');
  state = imported(state, 'g-finish-replace', systemSpec('g-finish-replace'), REGION, 'img-g-old');
  state = imported(state, 'g-finish-replace', systemSpec('g-finish-replace'), REGION, 'img-g-new');
  state = imported(state, 'h-adopt', systemSpec('h-adopt'), REGION, 'img-h');
  state = imported(state, 'i-none', systemSpec('i-none'), REGION, 'img-i');
  state = submitted(state, 'j-follow', systemSpec('j-follow'), 'job-j', REGION);
  state = submitting(state, 'k-settle', systemSpec('k-settle'), REGION);
  state = imported(state, 'l-delete', systemSpec('l-delete'), REGION, 'img-l');
  state = imported(state, 'm-keep-orphan', systemSpec('m-keep-orphan'), REGION, 'img-m');
  const manifests = [
    web('a-import'),
    web('b-retry'),
    web('c-hold-failed'),
    manifest('d-update', systemSpec('d-update', { description: 'new' }), REGION),
    manifest('e-replace', systemSpec('e-replace', { min_disk: 80 }), REGION),
    manifest('f-replace-blocked', systemSpec('f-replace-blocked', { image_url: 'golden-images:f2.zvhd2' }), REGION),
    web('g-finish-replace'),
    web('h-adopt'),
    web('i-none'),
    web('j-follow'),
    web('k-settle'),
  ];
  const refresh: Refreshed = {
    changes: new Map(),
    drift: new Map([
      ['a-import', { kind: 'deleted', imageId: 'img-a' }],
      ['h-adopt', { kind: 'adopted', imageId: 'img-h' }],
    ]),
    unadopted: [{ key: 'stray', imageId: 'img-stray', why: 'no manifest has this key' }],
  };
  const withPrune = planChanges(manifests, state, {
    refresh,
    policy: { allowReplace: true, prune: true, retryFailed: false },
  });
  const withoutPrune = planChanges(manifests, state, { refresh, policy: { retryFailed: false } });
  const pick = (plan: Plan, ...keys: string[]): PlanEntry[] => plan.entries.filter((e) => keys.includes(e.key));
  const entries = [
    ...pick(withPrune, 'a-import', 'c-hold-failed', 'd-update', 'e-replace', 'g-finish-replace', 'h-adopt'),
    ...pick(withPrune, 'i-none', 'j-follow', 'k-settle', 'l-delete'),
    ...pick(withoutPrune, 'f-replace-blocked', 'm-keep-orphan'),
    // retry: a failed import whose manifest changed since (min_disk 20 -> 40).
    ...pick(withPrune, 'b-retry'),
  ].sort((a, b) => (a.key < b.key ? -1 : 1));
  return { ...withPrune, entries };
}
