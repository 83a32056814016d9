// The plan's wire form: `plan --json` prints it, `plan --out` saves it, `apply --plan` reads it
// back. schemas/plan.schema.json describes it; a saved plan is refused unless it validates, so
// apply carries out exactly the decisions that were shown.
import { validateAgainst } from '../manifest/schema.js';
import { describeSchemaErrors } from '../manifest/schema-errors.js';
import { API_VERSION, KIND, type Manifest } from '../manifest/types.js';
import type { Drift, Refreshed } from '../refresh/refresh.js';
import type { ImageRecord } from '../state/model.js';
import { summarize, type FieldChange, type Plan, type PlanEntry } from './plan.js';

export const PLAN_FORMAT_VERSION = '2';

/** A saved plan that cannot be applied; nothing has been read from the state or sent. */
export class PlanFileError extends Error {
  override readonly name = 'PlanFileError';
}

export function encodePlan(plan: Plan): object {
  const summary = summarize(plan);
  return {
    type: 'plan',
    format_version: PLAN_FORMAT_VERSION,
    basis: plan.basis,
    policy: {
      allow_replace: plan.policy.allowReplace,
      prune: plan.policy.prune,
      retry_failed: plan.policy.retryFailed,
    },
    refresh: {
      records: Object.fromEntries(plan.refresh.changes),
      drift: Object.fromEntries([...plan.refresh.drift].map(([key, drift]) => [key, encodeDrift(drift)])),
      unadopted: plan.refresh.unadopted.map(({ key, imageId, why }) => ({ key, image_id: imageId, why })),
    },
    summary,
    entries: plan.entries.map(encodeEntry),
  };
}

function encodeEntry(entry: PlanEntry): object {
  const manifest = 'manifest' in entry ? entry.manifest : undefined;
  return {
    key: entry.key,
    action: entry.action,
    region: entry.region ?? null,
    ...(manifest ? { manifest: { metadata: manifest.metadata, spec: manifest.spec, source: manifest.source } } : {}),
    recorded: 'recorded' in entry ? entry.recorded : null,
    ...('changes' in entry ? { changes: entry.changes.map(encodeChange) } : {}),
    ...(entry.drift ? { drift: encodeDrift(entry.drift) } : {}),
    ...('then' in entry && entry.then ? { then: entry.then } : {}),
    ...('keepOld' in entry && entry.keepOld ? { keep_old: true } : {}),
  };
}

function encodeChange(change: FieldChange): object {
  return {
    field: change.field,
    before: change.before ?? null,
    after: change.after ?? null,
    forces_replacement: change.forcesReplacement,
  };
}

export function encodeDrift(drift: Drift): object {
  return { kind: drift.kind, image_id: drift.imageId, ...('fields' in drift ? { fields: drift.fields } : {}) };
}

interface EntryJson {
  key: string;
  action: PlanEntry['action'];
  region: string | null;
  manifest?: { metadata: Manifest['metadata']; spec: Manifest['spec']; source: Manifest['source'] };
  recorded: ImageRecord | null;
  changes?: { field: string; before: unknown; after: unknown; forces_replacement: boolean }[];
  drift?: DriftJson;
  then?: 'delete';
  keep_old?: true;
}

interface DriftJson {
  kind: Drift['kind'];
  image_id: string;
  fields?: string[];
}

interface PlanJson {
  basis: Plan['basis'];
  policy: { allow_replace: boolean; prune: boolean; retry_failed: boolean };
  refresh: {
    records: Record<string, ImageRecord | null>;
    drift: Record<string, DriftJson>;
    unadopted: { key: string; image_id: string; why: string }[];
  };
  entries: EntryJson[];
}

/** Reads a saved plan; `path` names it in errors. */
export function decodePlan(text: string, path: string): Plan {
  const bad = (why: string) => new PlanFileError(`--plan ${path}: ${why}; make a new one with \`imsync plan --out\``);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw bad('not a plan file (not JSON)');
  }
  const version = (document as { format_version?: unknown } | null)?.format_version;
  if (version !== PLAN_FORMAT_VERSION) {
    throw bad(`plan format ${JSON.stringify(version) ?? 'missing'}, expected "${PLAN_FORMAT_VERSION}"`);
  }
  const [problem] = describeSchemaErrors(validateAgainst('plan', document));
  if (problem) throw bad(`not a valid plan: ${problem.message}`);
  const json = document as PlanJson;
  const refresh: Refreshed = {
    changes: new Map(Object.entries(json.refresh.records)),
    drift: new Map(Object.entries(json.refresh.drift).map(([key, drift]) => [key, decodeDrift(drift)])),
    unadopted: json.refresh.unadopted.map(({ key, image_id, why }) => ({ key, imageId: image_id, why })),
  };
  return {
    basis: json.basis,
    policy: {
      allowReplace: json.policy.allow_replace,
      prune: json.policy.prune,
      retryFailed: json.policy.retry_failed,
    },
    refresh,
    entries: json.entries.map((entry, index) => decodeEntry(entry, index, bad)),
  };
}

function decodeDrift(drift: DriftJson): Drift {
  return drift.kind === 'edited'
    ? { kind: 'edited', imageId: drift.image_id, fields: drift.fields ?? [] }
    : { kind: drift.kind, imageId: drift.image_id };
}

/** The schema checks each part; this checks that the parts fit the action (a follow has a running import). */
function decodeEntry(entry: EntryJson, index: number, bad: (why: string) => PlanFileError): PlanEntry {
  const { action, recorded } = entry;
  const manifest = entry.manifest && { apiVersion: API_VERSION, kind: KIND, ...entry.manifest };
  const fits: Record<PlanEntry['action'], boolean> = {
    import: manifest !== undefined,
    retry: manifest !== undefined && recorded?.phase === 'failed',
    'hold-failed': manifest !== undefined && recorded?.phase === 'failed',
    update: manifest !== undefined && recorded?.phase === 'succeeded' && entry.changes !== undefined,
    replace: manifest !== undefined && (recorded?.phase === 'succeeded' || recorded?.phase === 'failed'),
    'replace-blocked': manifest !== undefined && (recorded?.phase === 'succeeded' || recorded?.phase === 'failed'),
    'finish-replace': manifest !== undefined && recorded?.phase === 'succeeded' && recorded.supersedes !== undefined,
    adopt: manifest !== undefined && recorded?.phase === 'succeeded',
    none: manifest !== undefined && recorded?.phase === 'succeeded',
    follow: recorded?.phase === 'submitted',
    settle: recorded?.phase === 'submitting',
    delete: recorded?.phase === 'succeeded' || recorded?.phase === 'failed',
    'keep-orphan': recorded?.phase === 'succeeded' || recorded?.phase === 'failed',
  };
  if (!fits[action]) throw bad(`entry ${index} (${entry.key}): a ${action} without the manifest or record it needs`);
  return {
    key: entry.key,
    action,
    ...(entry.region === null ? {} : { region: entry.region }),
    ...(manifest ? { manifest } : {}),
    ...(recorded ? { recorded } : {}),
    ...(entry.changes
      ? {
          changes: entry.changes.map((c) => ({
            field: c.field,
            before: c.before,
            after: c.after,
            forcesReplacement: c.forces_replacement,
          })),
        }
      : {}),
    ...(entry.drift ? { drift: decodeDrift(entry.drift) } : {}),
    ...(entry.then ? { then: entry.then } : {}),
    ...(entry.keep_old ? { keepOld: true } : {}),
  } as PlanEntry;
}
