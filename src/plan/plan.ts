// Pure planning: the decision of what apply does, made from the desired manifests, the recorded
// state (as refreshed from the cloud) and the policy flags. No I/O, no clock of its own (the
// daemon's time comes in), no randomness; the same inputs give the same plan, entries in key order. The executor carries out exactly these
// entries and holds no policy of its own.
import { effectiveSpec, FIELD_CHANGE, specHash } from '../manifest/spec.js';
import type { Manifest, SpecField } from '../manifest/types.js';
import type { Drift, Refreshed } from '../refresh/refresh.js';
import {
  retryDue,
  withChanges,
  type FailedRecord,
  type ImageRecord,
  type SourceObject,
  type State,
  type SubmittedRecord,
  type SubmittingRecord,
  type SucceededRecord,
} from '../state/model.js';

export interface FieldChange {
  readonly field: string;
  readonly before: unknown;
  readonly after: unknown;
  readonly forcesReplacement: boolean;
}

interface Keyed {
  readonly key: string;
  readonly region?: string;
  /** What a refresh found changed outside imsync, when it explains this entry. */
  readonly drift?: Drift;
}

interface Desired extends Keyed {
  readonly manifest: Manifest;
  /** An import's image file as the pre-flight checked it: recorded with the import. */
  readonly source?: SourceObject;
}

/** One decision per key. Every member is carried out as it says; none needs a flag to decide. */
export type PlanEntry =
  /** No record (never imported, or its image was deleted outside imsync): a new import. */
  | (Desired & { readonly action: 'import' })
  /** The last attempt failed: a new import. */
  | (Desired & { readonly action: 'retry'; readonly recorded: FailedRecord })
  /** The last attempt failed and nothing changed since: left until the manifest changes or a resync (watch). */
  | (Desired & { readonly action: 'hold-failed'; readonly recorded: FailedRecord })
  /** Name, description, tags or firmware set in place. */
  | (Desired & {
      readonly action: 'update';
      readonly recorded: SucceededRecord;
      readonly changes: readonly FieldChange[];
    })
  /** An immutable field changed: a new import, then the old image is deleted once the new one is active. */
  | (Desired & {
      readonly action: 'replace';
      readonly recorded: SucceededRecord | FailedRecord;
      readonly changes: readonly FieldChange[];
      /** The old image lost its ownership tag outside imsync: it is left alone, not deleted. */
      readonly keepOld?: true;
    })
  /** A replacement is needed but not allowed (--allow-replace): nothing is done. */
  | (Desired & {
      readonly action: 'replace-blocked';
      readonly recorded: SucceededRecord | FailedRecord;
      readonly changes: readonly FieldChange[];
    })
  /** A replacement's new image is active: the image it replaces is deleted. */
  | (Desired & { readonly action: 'finish-replace'; readonly recorded: SucceededRecord })
  /** An image carrying imsync's tag for this key, found with no record: recorded, never imported again. */
  | (Desired & { readonly action: 'adopt'; readonly recorded: SucceededRecord })
  | (Desired & { readonly action: 'none'; readonly recorded: SucceededRecord })
  /** A job is running: followed to its end, never resubmitted; `then` deletes an orphan's image after. */
  | (Keyed & {
      readonly action: 'follow';
      readonly recorded: SubmittedRecord;
      readonly manifest?: Manifest;
      readonly then?: 'delete';
    })
  /** A submission's answer never came: looked up by its tag, sent again only once provably absent. */
  | (Keyed & {
      readonly action: 'settle';
      readonly recorded: SubmittingRecord;
      readonly manifest?: Manifest;
      readonly then?: 'delete';
    })
  /** In no manifest any more, and --prune: its image is deleted and the record forgotten. */
  | (Keyed & { readonly action: 'delete'; readonly recorded: SucceededRecord | FailedRecord })
  /** In no manifest any more: kept (only --prune deletes). */
  | (Keyed & { readonly action: 'keep-orphan'; readonly recorded: SucceededRecord | FailedRecord });

export type PlanAction = PlanEntry['action'];

export const PLAN_ACTIONS: readonly PlanAction[] = [
  'import',
  'retry',
  'hold-failed',
  'update',
  'replace',
  'replace-blocked',
  'finish-replace',
  'adopt',
  'none',
  'follow',
  'settle',
  'delete',
  'keep-orphan',
];

/** What apply is allowed to do; part of the plan, so that a saved plan keeps it. */
export interface Policy {
  /** Carry out replacements. */
  readonly allowReplace: boolean;
  /** Delete the images of orphans. */
  readonly prune: boolean;
  /** Retry a failed import whose manifest did not change (the daemon waits for a resync). */
  readonly retryFailed: boolean;
}

export const DEFAULT_POLICY: Policy = { allowReplace: false, prune: false, retryFailed: true };

/** What the pre-flight checks of the image files found, by the manifest that names the file. */
export interface PreflightProblem {
  readonly code: PreflightCode;
  /** The manifest key; absent for the account's quota. */
  readonly key?: string;
  /** `bucket:key`, as image_url names it. */
  readonly file?: string;
  readonly reason: string;
}

export type PreflightCode =
  | 'FORMAT'
  | 'BUCKET_MISSING'
  | 'BUCKET_REGION'
  | 'BUCKET_CLASS'
  | 'OBJECT_MISSING'
  | 'OBJECT_EMPTY'
  | 'OBJECT_TOO_BIG'
  | 'OBJECT_CLASS'
  | 'OBJECT_ENCRYPTION'
  | 'BITMAP_MISSING'
  | 'ACCESS_DENIED'
  | 'UNCHECKED'
  | 'QUOTA'
  | 'SOURCE_CHANGED';

export interface PreflightReport {
  /** Why nothing was checked (--no-preflight, token authentication), when nothing was. */
  readonly skipped?: string;
  /** Image files looked at, and how many of them the cache answered without a request. */
  readonly files: number;
  readonly cached: number;
  /** Requests sent to OBS. */
  readonly requests: number;
  /** Each one stops the plan: nothing is submitted. */
  readonly problems: readonly PreflightProblem[];
  /** Said, and the plan goes ahead. */
  readonly warnings: readonly PreflightProblem[];
}

export interface Plan {
  /** The state the plan was made against; applying it after the state moved is refused. */
  readonly basis: { readonly lineage: string; readonly serial: number };
  readonly policy: Policy;
  /** What the refresh found: its record changes are recorded before anything else is done. */
  readonly refresh: Refreshed;
  readonly entries: readonly PlanEntry[];
  /** What the checks of the image files to import found; absent when the plan was made offline. */
  readonly preflight?: PreflightReport;
}

/** A plan made without looking at the cloud. */
export const NOTHING_REFRESHED: Refreshed = { changes: new Map(), drift: new Map(), unadopted: [] };

export interface PlanOptions {
  /** The region of manifests that name none. */
  readonly defaultRegion?: string;
  readonly policy?: Partial<Policy>;
  /** The outcome of a refresh; without one the plan trusts the state as recorded. */
  readonly refresh?: Refreshed;
  /**
   * The daemon's time: a failed import whose manifest did not change is retried only once its
   * backoff has passed (retryDue). Without it, a retry is the policy's alone, as for `apply`.
   */
  readonly now?: Date;
  /**
   * Imported images whose file was uploaded again under the same key since (the pre-flight saw
   * another ETag), by key: replaced as an image_url change would be. Without it a re-upload is
   * only told.
   */
  readonly reuploaded?: ReadonlyMap<string, SourceObject>;
}

export function planChanges(manifests: readonly Manifest[], recorded: State, options: PlanOptions = {}): Plan {
  const policy = { ...DEFAULT_POLICY, ...options.policy };
  const refresh = options.refresh ?? NOTHING_REFRESHED;
  const { drift } = refresh;
  const state = refresh.changes.size === 0 ? recorded : withChanges(recorded, refresh.changes);
  const entries: PlanEntry[] = [];
  const desiredKeys = new Set<string>();
  for (const manifest of manifests) {
    const key = manifest.metadata.name;
    desiredKeys.add(key);
    const region = manifest.metadata.region ?? options.defaultRegion;
    const desired: Desired = {
      key,
      manifest,
      ...(region === undefined ? {} : { region }),
      ...withDrift(drift.get(key)),
    };
    entries.push(planOne(desired, state.images[key], policy, options.now, options.reuploaded?.get(key)));
  }
  for (const [key, record] of Object.entries(state.images)) {
    if (desiredKeys.has(key)) continue;
    // A record of no region is the default region's, as a manifest of none is.
    const region = record.region ?? options.defaultRegion;
    const orphan: Keyed = {
      key,
      ...(region === undefined ? {} : { region }),
      ...withDrift(drift.get(key)),
    };
    entries.push(planOrphan(orphan, record, policy));
  }
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { basis: { lineage: recorded.lineage, serial: recorded.serial }, policy, refresh, entries };
}

function planOne(
  desired: Desired,
  recorded: ImageRecord | undefined,
  policy: Policy,
  now?: Date,
  reuploaded?: SourceObject,
): PlanEntry {
  if (!recorded) return { ...desired, action: 'import' };
  switch (recorded.phase) {
    case 'submitting':
      return { ...desired, action: 'settle', recorded };
    case 'submitted':
      return { ...desired, action: 'follow', recorded };
    case 'failed': {
      // A failed replacement still stands in for its old image: retrying it is a replacement.
      if (recorded.supersedes !== undefined) return replacement(desired, recorded, policy);
      const unchanged = specHash(desired.manifest.spec) === recorded.specHash && sameRegion(desired, recorded);
      const held = !policy.retryFailed || (now !== undefined && !retryDue(recorded, now));
      if (unchanged && held) return { ...desired, action: 'hold-failed', recorded };
      return { ...desired, action: 'retry', recorded };
    }
    case 'succeeded': {
      // A replacement is done only once the image it replaced is deleted.
      if (recorded.supersedes !== undefined) return { ...desired, action: 'finish-replace', recorded };
      const changes = diffSpecs(desired, recorded, reuploaded);
      if (changes.some((change) => change.forcesReplacement)) return replacement(desired, recorded, policy, reuploaded);
      if (changes.length > 0) return { ...desired, action: 'update', recorded, changes };
      if (desired.drift?.kind === 'adopted') return { ...desired, action: 'adopt', recorded };
      return { ...desired, action: 'none', recorded };
    }
  }
}

function replacement(
  desired: Desired,
  recorded: SucceededRecord | FailedRecord,
  policy: Policy,
  reuploaded?: SourceObject,
): PlanEntry {
  const changes = diffSpecs(desired, recorded, reuploaded);
  if (!policy.allowReplace) return { ...desired, action: 'replace-blocked', recorded, changes };
  return { ...desired, action: 'replace', recorded, changes, ...(disowned(desired.drift) ? { keepOld: true } : {}) };
}

function planOrphan(orphan: Keyed, recorded: ImageRecord, policy: Policy): PlanEntry {
  const then = policy.prune ? { then: 'delete' as const } : {};
  switch (recorded.phase) {
    // An orphan's import still runs: follow it to its end first (and delete it then, if pruning).
    case 'submitting':
      return { ...orphan, action: 'settle', recorded, ...then };
    case 'submitted':
      return { ...orphan, action: 'follow', recorded, ...then };
    default:
      // An image whose ownership tag someone removed is left alone: imsync deletes only what carries it.
      return { ...orphan, action: policy.prune && !disowned(orphan.drift) ? 'delete' : 'keep-orphan', recorded };
  }
}

/** Field changes from the recorded spec to the desired one, compared by meaning (spec.ts). */
function diffSpecs(desired: Desired, recorded: ImageRecord, reuploaded?: SourceObject): FieldChange[] {
  const changes: FieldChange[] = [];
  if (reuploaded !== undefined && recorded.source !== undefined) {
    // The same image_url, another file behind it: the image holds the file as it was.
    changes.push({
      field: 'image file',
      before: `${recorded.spec.image_url} (ETag ${recorded.source.etag})`,
      after: `${desired.manifest.spec.image_url} (ETag ${reuploaded.etag})`,
      forcesReplacement: true,
    });
  }
  if (disowned(desired.drift)) {
    // The ownership tags were removed outside imsync: the tag update puts them back.
    changes.push({ field: 'ownership', before: null, after: `imsync-key=${desired.key}`, forcesReplacement: false });
  }
  if (specHash(desired.manifest.spec) === recorded.specHash && sameRegion(desired, recorded)) {
    // Edited outside imsync to a value no manifest may hold (so the record could not take it).
    const edited = desired.drift?.kind === 'edited' ? desired.drift.fields : [];
    const after = edited.length > 0 ? effectiveSpec(desired.manifest.spec) : {};
    for (const field of edited) {
      if (field !== 'ownership') changes.push({ field, before: null, after: after[field], forcesReplacement: false });
    }
    return changes;
  }
  const before = effectiveSpec(recorded.spec);
  const after = effectiveSpec(desired.manifest.spec);
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
function sameRegion(desired: Keyed, recorded: ImageRecord): boolean {
  return desired.region === undefined || recorded.region === undefined || desired.region === recorded.region;
}

function disowned(drift: Drift | undefined): boolean {
  return drift?.kind === 'edited' && drift.fields.includes('ownership');
}

function withDrift(drift: Drift | undefined): { drift?: Drift } {
  return drift === undefined ? {} : { drift };
}

export type PlanSummary = Readonly<Record<PlanAction, number>>;

export function summarize(plan: Plan): PlanSummary {
  const counts = Object.fromEntries(PLAN_ACTIONS.map((action) => [action, 0])) as Record<PlanAction, number>;
  for (const entry of plan.entries) counts[entry.action]++;
  return counts;
}

/** Actions that change something in the account or the state. */
const CHANGES: ReadonlySet<PlanAction> = new Set(['import', 'retry', 'update', 'replace', 'adopt', 'delete']);
/** Actions that finish work already started; apply runs them, they are not new changes. */
const CONTINUES: ReadonlySet<PlanAction> = new Set(['follow', 'settle', 'finish-replace']);
/** Changes the manifests ask for that this plan will not make. */
const BLOCKED: ReadonlySet<PlanAction> = new Set(['replace-blocked', 'keep-orphan', 'hold-failed']);

/** Whether applying the plan would change anything (what `plan --detailed-exitcode` reports). */
export function hasChanges(plan: Plan): boolean {
  return plan.refresh.changes.size > 0 || plan.entries.some((entry) => CHANGES.has(entry.action));
}

/** Whether apply has anything to carry out: changes, or work started earlier to finish. */
export function hasWork(plan: Plan): boolean {
  return hasChanges(plan) || plan.entries.some((entry) => CONTINUES.has(entry.action));
}

/** Entries the manifests want changed but this plan leaves as they are. */
export function blockedEntries(plan: Plan): PlanEntry[] {
  return plan.entries.filter((entry) => BLOCKED.has(entry.action));
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

export interface PruneLimit {
  /** Deletions allowed without --force. */
  readonly maxPrune: number;
  readonly force: boolean;
  readonly manifests: number;
}

/**
 * Why a pruning plan is refused, if it is: more deletions than allowed (a subset of the paths, a
 * mistyped directory), or pruning against no manifest at all. Undefined when it may go ahead.
 */
export function pruneRefusal(plan: Plan, limit: PruneLimit): string | undefined {
  if (!plan.policy.prune || limit.force) return undefined;
  const deletes = plan.entries.filter(
    (entry) => entry.action === 'delete' || ('then' in entry && entry.then === 'delete'),
  );
  if (limit.manifests === 0 && deletes.length > 0) {
    return `--prune with no manifest at all would delete all ${deletes.length} recorded images; refused (--force overrides)`;
  }
  if (deletes.length > limit.maxPrune) {
    return `--prune would delete ${deletes.length} images, more than --max-prune ${limit.maxPrune}; check the manifest paths, or raise --max-prune (or pass --force)`;
  }
  return undefined;
}
