// The plan's wire form: `plan --json` prints it, `plan --out` saves it, `apply --plan` reads it
// back. schemas/plan.schema.json describes it; a saved plan is refused unless it validates and its
// checksum fits, so apply carries out exactly the decisions that were shown.
import { createHash } from 'node:crypto';
import { validateAgainst } from '../manifest/schema.js';
import { describeSchemaErrors } from '../manifest/schema-errors.js';
import { API_VERSION, KIND, type Manifest } from '../manifest/types.js';
import type { Drift, Refreshed } from '../refresh/refresh.js';
import type { ImageRecord, SourceObject } from '../state/model.js';
import {
  summarize,
  type FieldChange,
  type Plan,
  type PlanEntry,
  type PreflightProblem,
  type PreflightReport,
} from './plan.js';

export const PLAN_FORMAT_VERSION = '3';
/** The last format without a checksum: refused, since nothing shows it unchanged. */
const UNCHECKED_FORMAT_VERSION = '2';

/** A saved plan that cannot be applied; nothing has been read from the state or sent. */
export class PlanFileError extends Error {
  override readonly name = 'PlanFileError';
}

export function encodePlan(plan: Plan): object {
  const summary = summarize(plan);
  const document = {
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
    ...(plan.preflight ? { preflight: copyPreflight(plan.preflight) } : {}),
    summary,
    entries: plan.entries.map(encodeEntry),
  };
  return { ...document, checksum: checksumOf(document) };
}

/**
 * sha256 of the document's canonical JSON: every object's keys sorted, no spaces, absent fields
 * left out as JSON.stringify leaves them. It shows a saved plan was not edited by mistake since it
 * was written; anyone can write a new one, so it is no signature.
 */
function checksumOf(document: object): string {
  return `sha256:${createHash('sha256').update(canonicalJson(document)).digest('hex')}`;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const fields = Object.entries(value)
    .filter(([, field]) => field !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${fields.map(([name, field]) => `${JSON.stringify(name)}:${canonicalJson(field)}`).join(',')}}`;
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
    ...('source' in entry && entry.source ? { source: { etag: entry.source.etag, size: entry.source.size } } : {}),
  };
}

/** The wire has the report's own names: both ways, the fields a report has are copied, and nothing else. */
function copyPreflight(report: PreflightReport): PreflightReport {
  return {
    ...(report.skipped === undefined ? {} : { skipped: report.skipped }),
    files: report.files,
    cached: report.cached,
    requests: report.requests,
    problems: report.problems.map(copyProblem),
    warnings: report.warnings.map(copyProblem),
  };
}

function copyProblem({ code, key, file, reason }: PreflightProblem): PreflightProblem {
  return { code, ...(key === undefined ? {} : { key }), ...(file === undefined ? {} : { file }), reason };
}

function encodeChange(change: FieldChange): object {
  return {
    field: change.field,
    before: change.before ?? null,
    after: change.after ?? null,
    forces_replacement: change.forcesReplacement,
  };
}

export function encodeDrift(drift: Drift): DriftJson {
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
  source?: SourceObject;
}

export interface DriftJson {
  readonly kind: Drift['kind'];
  readonly image_id: string;
  readonly fields?: readonly string[];
}

interface PlanJson {
  checksum: string;
  basis: Plan['basis'];
  policy: { allow_replace: boolean; prune: boolean; retry_failed: boolean };
  refresh: {
    records: Record<string, ImageRecord | null>;
    drift: Record<string, DriftJson>;
    unadopted: { key: string; image_id: string; why: string }[];
  };
  preflight?: PreflightReport;
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
  if (version === UNCHECKED_FORMAT_VERSION) {
    throw bad(`plan format "${version}" is from an earlier imsync and has no checksum to show it unchanged`);
  }
  if (version !== PLAN_FORMAT_VERSION) {
    throw bad(`plan format ${JSON.stringify(version) ?? 'missing'}, expected "${PLAN_FORMAT_VERSION}"`);
  }
  const [problem] = describeSchemaErrors(validateAgainst('plan', document));
  if (problem) throw bad(`not a valid plan: ${problem.message}`);
  const json = document as PlanJson;
  const { checksum, ...written } = json;
  if (checksum !== checksumOf(written)) {
    throw bad('the plan was changed after it was written (its checksum does not match)');
  }
  const firstEntry = new Map<string, number>();
  json.entries.forEach(({ key }, index) => {
    const first = firstEntry.get(key);
    if (first !== undefined)
      throw bad(`entries ${first} and ${index} are both for key "${key}"; a plan decides once for each key`);
    firstEntry.set(key, index);
  });
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
    ...(json.preflight ? { preflight: copyPreflight(json.preflight) } : {}),
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
    ...(entry.source ? { source: { etag: entry.source.etag, size: entry.source.size } } : {}),
  } as PlanEntry;
}
