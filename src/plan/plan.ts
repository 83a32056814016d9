// Pure planning: compares desired manifests with recorded state. No I/O, no clock, no randomness;
// the same inputs give the same plan, entries in key order.
import { effectiveSpec, FIELD_CHANGE, specHash } from '../manifest/spec.js';
import type { Manifest, SpecField } from '../manifest/types.js';
import type { ImageRecord, State } from '../state/model.js';

export interface FieldChange {
  readonly field: string;
  readonly before: unknown;
  readonly after: unknown;
  readonly forcesReplacement: boolean;
}

interface Desired {
  readonly key: string;
  readonly region?: string;
  readonly manifest: Manifest;
}

export type PlanEntry =
  /** Absent, or the last attempt failed (`recorded` then holds that failure). */
  | (Desired & { readonly action: 'import'; readonly recorded?: ImageRecord })
  /** A PATCH of name, description or tags. */
  | (Desired & { readonly action: 'update'; readonly recorded: ImageRecord; readonly changes: readonly FieldChange[] })
  /** An immutable field changed: a new import, then the old image goes. */
  | (Desired & { readonly action: 'replace'; readonly recorded: ImageRecord; readonly changes: readonly FieldChange[] })
  /** A job is running, a submission awaits settlement, or a replaced image awaits deletion: never resubmitted. */
  | (Desired & { readonly action: 'in-progress'; readonly recorded: ImageRecord })
  | (Desired & { readonly action: 'none'; readonly recorded: ImageRecord })
  /** Recorded, but no longer in any manifest. */
  | { readonly action: 'orphan'; readonly key: string; readonly region?: string; readonly recorded: ImageRecord };

export type PlanAction = PlanEntry['action'];

export interface Plan {
  /** The state the plan was made against; applying it after the state moved is refused. */
  readonly basis: { readonly lineage: string; readonly serial: number };
  readonly entries: readonly PlanEntry[];
}

export interface PlanOptions {
  /** The region of manifests that name none. */
  readonly defaultRegion?: string;
}

export function planChanges(manifests: readonly Manifest[], state: State, options: PlanOptions = {}): Plan {
  const entries: PlanEntry[] = [];
  const desiredKeys = new Set<string>();
  for (const manifest of manifests) {
    const key = manifest.metadata.name;
    desiredKeys.add(key);
    const region = manifest.metadata.region ?? options.defaultRegion;
    entries.push(planOne({ key, manifest, ...(region === undefined ? {} : { region }) }, state.images[key]));
  }
  for (const [key, recorded] of Object.entries(state.images)) {
    if (!desiredKeys.has(key)) {
      entries.push({
        action: 'orphan',
        key,
        recorded,
        ...(recorded.region === undefined ? {} : { region: recorded.region }),
      });
    }
  }
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { basis: { lineage: state.lineage, serial: state.serial }, entries };
}

function planOne(desired: Desired, recorded: ImageRecord | undefined): PlanEntry {
  if (!recorded) return { ...desired, action: 'import' };
  switch (recorded.phase) {
    case 'failed':
      // A failed replacement still stands in for its old image: retrying it is a replacement.
      if (recorded.supersedes !== undefined) {
        return { ...desired, action: 'replace', recorded, changes: diffSpecs(desired, recorded) };
      }
      return { ...desired, action: 'import', recorded };
    case 'submitting':
    case 'submitted':
      return { ...desired, action: 'in-progress', recorded };
    case 'succeeded': {
      // A replacement is done only once the image it replaced is deleted.
      if (recorded.supersedes !== undefined) return { ...desired, action: 'in-progress', recorded };
      const changes = diffSpecs(desired, recorded);
      if (changes.length === 0) return { ...desired, action: 'none', recorded };
      const action = changes.some((change) => change.forcesReplacement) ? 'replace' : 'update';
      return { ...desired, action, recorded, changes };
    }
  }
}

/** Field changes from the recorded spec to the desired one, compared by meaning (spec.ts). */
function diffSpecs(desired: Desired, recorded: ImageRecord): FieldChange[] {
  if (specHash(desired.manifest.spec) === recorded.specHash && sameRegion(desired, recorded)) return [];
  const before = effectiveSpec(recorded.spec);
  const after = effectiveSpec(desired.manifest.spec);
  const changes: FieldChange[] = [];
  if (!sameRegion(desired, recorded)) {
    changes.push({ field: 'region', before: recorded.region, after: desired.region, forcesReplacement: true });
  }
  const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const field of fields) {
    if (JSON.stringify(before[field]) === JSON.stringify(after[field])) continue;
    const forcesReplacement = FIELD_CHANGE[field as SpecField] === 'replace';
    changes.push({ field, before: before[field], after: after[field], forcesReplacement });
  }
  return changes;
}

/** A region counts as changed only when both sides name one: an unset default is not a move. */
function sameRegion(desired: Desired, recorded: ImageRecord): boolean {
  return desired.region === undefined || recorded.region === undefined || desired.region === recorded.region;
}

export interface PlanSummary {
  readonly import: number;
  readonly update: number;
  readonly replace: number;
  readonly orphan: number;
  readonly inProgress: number;
  readonly unchanged: number;
}

export function summarize(plan: Plan): PlanSummary {
  const count = (action: PlanAction) => plan.entries.filter((entry) => entry.action === action).length;
  return {
    import: count('import'),
    update: count('update'),
    replace: count('replace'),
    orphan: count('orphan'),
    inProgress: count('in-progress'),
    unchanged: count('none'),
  };
}

/** Whether applying the plan would change anything (what `plan --detailed-exitcode` reports). */
export function hasChanges(plan: Plan): boolean {
  return plan.entries.some((entry) => entry.action !== 'none' && entry.action !== 'in-progress');
}

/**
 * The plan's entries for one region (all of them when the region is unknown: an endpoint given
 * without one), and the regions of the changes left out, for an apply connected there.
 */
export function forRegion(plan: Plan, region: string | undefined): { plan: Plan; elsewhere: string[] } {
  if (region === undefined) return { plan, elsewhere: [] };
  const here = plan.entries.filter((entry) => entry.region === undefined || entry.region === region);
  const elsewhere = plan.entries
    .filter((entry) => !here.includes(entry) && entry.action !== 'none')
    .map((entry) => entry.region!);
  return { plan: { ...plan, entries: here }, elsewhere: [...new Set(elsewhere)] };
}
