// Plan output for people: what changed outside imsync, then one line per decision and its
// details, then the counts. It says what apply will do, no more and no less: the entries are the
// decisions themselves (plan/plan.ts). The JSON form is plan/codec.ts's. What the state and the
// cloud said (ids, statuses, reasons) is shown printable, on one line. Its wording (the verdict,
// the marks, what each entry says) is the markdown plan's too (render-markdown.ts).
import { formatLocation } from '../manifest/diagnostic.js';
import type { SourceLocation } from '../manifest/types.js';
import {
  blockedEntries,
  hasWork,
  summarize,
  type FieldChange,
  type Plan,
  type PlanAction,
  type PlanEntry,
  type PreflightReport,
} from '../plan/plan.js';
import type { Drift, Refreshed } from '../refresh/refresh.js';
import type { Planned } from '../reconcile/reconcile.js';
import type { FailedRecord, ImageRecord } from '../state/model.js';
import { jsonText, printable } from '../text.js';
import type { Output } from './output.js';
import { plural } from './render-diagnostics.js';

type Colors = Output['color'];

export function renderPlan(planned: Planned, output: Output): void {
  const { plan } = planned;
  const { color } = output;
  renderDrift(planned, output);
  const verdict = planVerdict(planned);
  const said = `${color[verdict.tone](verdict.lead)} ${verdict.rest}\n`;
  const visible = visibleEntries(plan);
  if (planned.refreshOnly || visible.length === 0) {
    renderPreflight(plan, output);
    output.out(said);
    return;
  }
  output.out('imsync will perform the following actions:\n\n');
  for (const entry of visible) output.out(renderEntry(entry, color) + '\n');
  renderPreflight(plan, output);
  output.out(said);
  const blocked = onlyBlocked(plan);
  if (blocked !== undefined) output.out(`\n${blocked}, as said above.\n`);
}

/** The entries a plan shows: all but `none`. */
export function visibleEntries(plan: Plan): Exclude<PlanEntry, { action: 'none' }>[] {
  return plan.entries.filter((entry): entry is Exclude<PlanEntry, { action: 'none' }> => entry.action !== 'none');
}

/** The plan in one sentence: its first words, stressed (`tone`), then the rest. */
export interface Verdict {
  readonly lead: string;
  readonly tone: 'green' | 'bold';
  readonly rest: string;
}

export function planVerdict(planned: Planned): Verdict {
  const { plan } = planned;
  const summary = summarize(plan);
  if (planned.refreshOnly) {
    const count = plan.refresh.changes.size;
    return count === 0
      ? { lead: 'The state matches the cloud.', tone: 'green', rest: 'Nothing else is planned (--refresh-only).' }
      : {
          lead: 'Refresh only:',
          tone: 'bold',
          rest: `${count} ${plural(count, 'record')} to update from what the cloud holds; nothing else is planned.`,
        };
  }
  if (visibleEntries(plan).length === 0) {
    const recorded = plan.refresh.changes.size > 0 ? ' (besides recording what changed outside imsync)' : '';
    return {
      lead: 'No changes.',
      tone: 'green',
      rest: `${summary.none} ${plural(summary.none, 'image')} match the manifests${recorded}.`,
    };
  }
  const count = (n: number, what: string) => `${n} to ${what}`;
  const changes = [
    count(summary.import + summary.retry + summary.replace, 'import'),
    count(summary.update, 'update'),
    count(summary.replace, 'replace'),
    count(summary.adopt, 'adopt'),
    count(summary.delete + summary['finish-replace'], 'delete'),
  ].join(', ');
  const blocked = blockedEntries(plan).length;
  const inProgress = summary.follow + summary.settle;
  return {
    lead: 'Plan:',
    tone: 'bold',
    rest: `${changes}; ${blocked} blocked, ${inProgress} in progress, ${summary.none} unchanged.`,
  };
}

/** Said when the plan shows entries but apply has nothing to do: they are all blocked. */
export function onlyBlocked(plan: Plan): string | undefined {
  const blocked = blockedEntries(plan).length;
  return !hasWork(plan) && blocked > 0 ? `Nothing to do: every change left is blocked (${blocked})` : undefined;
}

/** Said of changes a run connected to one region leaves to runs connected to theirs. */
export function leftElsewhere(regions: readonly string[], run: 'plan' | 'apply'): string {
  return `changes in other regions (${regions.join(', ')}) are left for ${run === 'apply' ? 'an apply' : 'a plan'} connected there (--region, with that region's project id)`;
}

/** What the checks of the image files found: each problem and warning with its manifest, or one line. */
function renderPreflight(plan: Plan, output: Output): void {
  const { color } = output;
  const line = preflightLine(plan);
  if (line !== undefined) output.out(`${color.dim(line)}\n\n`);
  const report = plan.preflight;
  if (report === undefined || report.problems.length + report.warnings.length === 0) return;
  output.out(`${color.bold('Pre-flight')} (the image files in OBS, ${preflightCounts(report)}):\n`);
  for (const problem of report.problems) {
    output.out(
      `  ${color.red('✗')} ${color.bold(problem.key ?? 'account')} ${printable(problem.reason)} [${problem.code}]\n`,
    );
  }
  for (const warning of report.warnings) {
    output.out(`  ${color.yellow('!')} ${color.bold(warning.key ?? 'account')} ${printable(warning.reason)}\n`);
  }
  output.out('\n');
}

/** The pre-flight in one line when it found nothing to say: skipped, or all fine. Undefined otherwise. */
export function preflightLine(plan: Plan): string | undefined {
  const report = plan.preflight;
  if (report === undefined || report.problems.length + report.warnings.length > 0) return undefined;
  const imports = plan.entries.filter((e) => e.action === 'import' || e.action === 'retry' || e.action === 'replace');
  if (imports.length === 0) return undefined;
  if (report.skipped !== undefined) return `Pre-flight: the image files were ${report.skipped}.`;
  return `Pre-flight: the image ${plural(report.files, 'file')} in OBS ${report.files === 1 ? 'passes' : 'pass'} every check (${preflightCounts(report)}).`;
}

export function preflightCounts(report: PreflightReport): string {
  const cached = report.cached > 0 ? `, ${report.cached} answered from the cache` : '';
  return `${report.files} ${plural(report.files, 'file')} looked at, ${report.requests} ${plural(report.requests, 'request')} to OBS${cached}`;
}

function renderDrift(planned: Planned, output: Output): void {
  const { color } = output;
  const { drift, unadopted } = planned.plan.refresh;
  if (drift.size === 0 && unadopted.length === 0) return;
  output.out(`${color.bold('Changed outside imsync')} (found by refresh):\n`);
  for (const [key, d] of [...drift].sort(([a], [b]) => (a < b ? -1 : 1))) {
    output.out(`  ${color.yellow('!')} ${color.bold(key)} ${describeDrift(d)}\n`);
  }
  for (const image of unadopted) output.out(`  ${color.dim('?')} ${describeUnadopted(image)}\n`);
  output.out('\n');
}

export function describeUnadopted({ key, imageId, why }: Refreshed['unadopted'][number]): string {
  return `image ${printable(imageId)} carries imsync-key=${key} but is not adopted: ${printable(why)}`;
}

export function describeDrift(drift: Drift): string {
  const image = `image ${printable(drift.imageId)}`;
  switch (drift.kind) {
    case 'deleted':
      return `${image} was deleted`;
    case 'edited':
      return `${image} was edited (${drift.fields.map((f) => (f === 'ownership' ? 'its imsync-key tag' : f)).join(', ')})`;
    case 'adopted':
      return `${image} carries its imsync-key tag and has no record: adopted`;
  }
}

/** How a terminal colours a mark. */
type Tone = 'green' | 'yellow' | 'magenta' | 'red' | 'cyan' | 'dim';

/** Each action's mark, as the README's table of actions shows it; `none` is shown by no line. */
export const MARKS: Readonly<Record<Exclude<PlanAction, 'none'>, { readonly mark: string; readonly tone: Tone }>> = {
  import: { mark: '+', tone: 'green' },
  retry: { mark: '+', tone: 'green' },
  'hold-failed': { mark: '!', tone: 'red' },
  update: { mark: '~', tone: 'yellow' },
  replace: { mark: '-/+', tone: 'magenta' },
  'replace-blocked': { mark: '!', tone: 'red' },
  'finish-replace': { mark: '-', tone: 'red' },
  adopt: { mark: '>', tone: 'cyan' },
  follow: { mark: '=', tone: 'cyan' },
  settle: { mark: '?', tone: 'cyan' },
  delete: { mark: '-', tone: 'red' },
  'keep-orphan': { mark: '-', tone: 'dim' },
};

/** A `field: value` line under an entry: a field of an import's spec, or a change (`was -> value`). */
export interface FieldLine {
  readonly field: string;
  readonly value: string;
  readonly was?: string;
  readonly forcesReplacement?: boolean;
}

/**
 * How the plan words one decision, whoever shows it (this terminal plan, the markdown one): what
 * is said after the key and region, and the lines under it. Ids and reasons are printable already.
 */
export interface EntryWording {
  readonly says: string;
  /** What a refresh found that explains the decision. */
  readonly because?: string;
  /** The last attempt's failure: its code and reason. */
  readonly failure?: string;
  readonly fields: readonly FieldLine[];
  /** Where the manifest of an import made again is. */
  readonly from?: SourceLocation;
}

export function entryWording(entry: Exclude<PlanEntry, { action: 'none' }>): EntryWording {
  const because = entry.drift ? { because: `because ${describeDrift(entry.drift)}` } : {};
  switch (entry.action) {
    case 'import': {
      const fields = Object.entries(entry.manifest.spec).map(([field, value]) => ({ field, value: show(value) }));
      return { says: ' will be imported', ...because, fields };
    }
    case 'retry':
      return {
        says: ' will be imported again',
        failure: lastFailure(entry.recorded),
        fields: [],
        from: entry.manifest.source,
      };
    case 'hold-failed':
      return {
        says: ' failed and is not retried until its manifest changes or the next resync',
        failure: lastFailure(entry.recorded),
        fields: [],
      };
    case 'update':
      return { says: ' will be updated in place', ...because, fields: changes(entry.changes) };
    case 'replace':
      return {
        says: ` will be replaced (imported anew, then ${imageOf(entry.recorded)} ${entry.keepOld ? "left alone: it is no longer tagged as imsync's" : 'deleted'})`,
        ...because,
        fields: changes(entry.changes),
      };
    case 'replace-blocked':
      return {
        says: ` must be replaced, which is not allowed: nothing is done (apply with --allow-replace to import it anew and delete ${imageOf(entry.recorded)})`,
        fields: changes(entry.changes),
      };
    case 'finish-replace':
      return {
        says: `: ${imageOf(entry.recorded)} replaced image ${printable(entry.recorded.supersedes ?? '')}, which will be deleted`,
        fields: [],
      };
    case 'adopt':
      return {
        says: ` will be adopted: ${imageOf(entry.recorded)} carries its imsync-key tag, so nothing is imported`,
        fields: [],
      };
    case 'follow':
      return {
        says: ` is being imported (${jobOf(entry.recorded)}); apply follows it, never resubmits${thenDelete(entry.then)}`,
        fields: [],
      };
    case 'settle':
      return {
        says: ` was submitted without an answer; apply looks it up by its tag before sending anything again${thenDelete(entry.then)}`,
        fields: [],
      };
    case 'delete':
      return { says: ` is in no manifest any more; ${imageOf(entry.recorded)} will be deleted (--prune)`, fields: [] };
    case 'keep-orphan':
      return {
        says: ` is in no manifest any more; ${imageOf(entry.recorded)} is kept (--prune deletes it)`,
        fields: [],
      };
  }
}

function renderEntry(entry: Exclude<PlanEntry, { action: 'none' }>, color: Colors): string {
  const { mark, tone } = MARKS[entry.action];
  const wording = entryWording(entry);
  const name = `${color.bold(entry.key)}${entry.region ? color.dim(` (${entry.region})`) : ''}`;
  const because = wording.because ? color.dim(` (${wording.because})`) : '';
  const failure = wording.failure ? `      ${color.red('last attempt failed:')} ${wording.failure}\n` : '';
  const fields = lines(
    wording.fields.map(({ field, value, was, forcesReplacement }) => [
      field,
      `${was === undefined ? '' : `${was} -> `}${value}${forcesReplacement ? color.red(' # forces replacement') : ''}`,
    ]),
  );
  const from = wording.from ? `      ${'from:'.padEnd(6)} ${formatLocation(wording.from)}\n` : '';
  return `  ${color[tone](mark)} ${name}${wording.says}${because}\n${failure}${fields}${from}`;
}

function thenDelete(then: 'delete' | undefined): string {
  return then === 'delete' ? ', then deletes its image (--prune)' : '';
}

function lastFailure(recorded: FailedRecord): string {
  return printable(`${recorded.error.code} ${recorded.error.reason}`);
}

function changes(list: readonly FieldChange[]): FieldLine[] {
  return list.map((c) => ({
    field: c.field,
    was: show(c.before),
    value: show(c.after),
    ...(c.forcesReplacement ? { forcesReplacement: true } : {}),
  }));
}

/** `field: value` lines, the values aligned. */
function lines(fields: readonly (readonly [string, string])[]): string {
  if (fields.length === 0) return '';
  const width = Math.max(...fields.map(([field]) => field.length)) + 1;
  return fields.map(([field, value]) => `      ${`${field}:`.padEnd(width)} ${value}\n`).join('');
}

function show(value: unknown): string {
  if (value === undefined || value === null) return '(none)';
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${show(v)}`)
      .join(', ')}}`;
  }
  return jsonText(value);
}

function imageOf(record: ImageRecord): string {
  return record.imageId ? `image ${printable(record.imageId)}` : `its ${record.phase} import`;
}

function jobOf(record: ImageRecord): string {
  return printable(
    record.jobId
      ? `job ${record.jobId} ${record.phase === 'submitted' ? (record.jobStatus ?? '') : ''}`.trim()
      : `image ${record.imageId ?? ''}`.trim(),
  );
}
