// Plan output for people: what changed outside imsync, then one line per decision and its
// details, then the counts. It says what apply will do, no more and no less: the entries are the
// decisions themselves (plan/plan.ts). The JSON form is plan/codec.ts's. What the state and the
// cloud said (ids, statuses, reasons) is shown printable, on one line.
import { formatLocation } from '../manifest/diagnostic.js';
import { blockedEntries, hasWork, summarize, type FieldChange, type PlanEntry } from '../plan/plan.js';
import type { Drift } from '../refresh/refresh.js';
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
  if (planned.refreshOnly) {
    const count = plan.refresh.changes.size;
    output.out(
      count === 0
        ? `${color.green('The state matches the cloud.')} Nothing else is planned (--refresh-only).\n`
        : `${color.bold('Refresh only:')} ${count} ${plural(count, 'record')} to update from what the cloud holds; nothing else is planned.\n`,
    );
    return;
  }
  const visible = plan.entries.filter((entry) => entry.action !== 'none');
  const summary = summarize(plan);
  if (visible.length === 0) {
    const recorded = plan.refresh.changes.size > 0 ? ' (besides recording what changed outside imsync)' : '';
    output.out(
      `${color.green('No changes.')} ${summary.none} ${plural(summary.none, 'image')} match the manifests${recorded}.\n`,
    );
    return;
  }
  output.out('imsync will perform the following actions:\n\n');
  for (const entry of visible) output.out(renderEntry(entry, color) + '\n');
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
  output.out(
    `${color.bold('Plan:')} ${changes}; ${blocked} blocked, ${inProgress} in progress, ${summary.none} unchanged.\n`,
  );
  if (!hasWork(plan) && blocked > 0) {
    output.out(`\nNothing to do: every change left is blocked (${blocked}), as said above.\n`);
  }
}

function renderDrift(planned: Planned, output: Output): void {
  const { color } = output;
  const { drift, unadopted } = planned.plan.refresh;
  if (drift.size === 0 && unadopted.length === 0) return;
  output.out(`${color.bold('Changed outside imsync')} (found by refresh):\n`);
  for (const [key, d] of [...drift].sort(([a], [b]) => (a < b ? -1 : 1))) {
    output.out(`  ${color.yellow('!')} ${color.bold(key)} ${describeDrift(d)}\n`);
  }
  for (const { key, imageId, why } of unadopted) {
    output.out(
      `  ${color.dim('?')} image ${printable(imageId)} carries imsync-key=${key} but is not adopted: ${printable(why)}\n`,
    );
  }
  output.out('\n');
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

function renderEntry(entry: PlanEntry, color: Colors): string {
  const name = `${color.bold(entry.key)}${entry.region ? color.dim(` (${entry.region})`) : ''}`;
  const because = entry.drift ? color.dim(` (because ${describeDrift(entry.drift)})`) : '';
  switch (entry.action) {
    case 'import': {
      const fields = Object.entries(entry.manifest.spec).map(([field, value]) => [field, show(value)] as const);
      return `  ${color.green('+')} ${name} will be imported${because}\n${lines(fields)}`;
    }
    case 'retry':
      return `  ${color.green('+')} ${name} will be imported again${lastFailure(entry.recorded, color)}\n${source(entry)}`;
    case 'hold-failed':
      return `  ${color.red('!')} ${name} failed and is not retried until its manifest changes or the next resync${lastFailure(entry.recorded, color)}\n`;
    case 'update':
      return `  ${color.yellow('~')} ${name} will be updated in place${because}\n${changes(entry.changes, color)}`;
    case 'replace':
      return `  ${color.magenta('-/+')} ${name} will be replaced (imported anew, then ${imageOf(entry.recorded)} ${entry.keepOld ? "left alone: it is no longer tagged as imsync's" : 'deleted'})${because}\n${changes(entry.changes, color)}`;
    case 'replace-blocked':
      return `  ${color.red('!')} ${name} must be replaced, which is not allowed: nothing is done (apply with --allow-replace to import it anew and delete ${imageOf(entry.recorded)})\n${changes(entry.changes, color)}`;
    case 'finish-replace':
      return `  ${color.red('-')} ${name}: ${imageOf(entry.recorded)} replaced image ${printable(entry.recorded.supersedes ?? '')}, which will be deleted\n`;
    case 'adopt':
      return `  ${color.cyan('>')} ${name} will be adopted: ${imageOf(entry.recorded)} carries its imsync-key tag, so nothing is imported\n`;
    case 'follow':
      return `  ${color.cyan('=')} ${name} is being imported (${jobOf(entry.recorded)}); apply follows it, never resubmits${thenDelete(entry.then)}\n`;
    case 'settle':
      return `  ${color.cyan('?')} ${name} was submitted without an answer; apply looks it up by its tag before sending anything again${thenDelete(entry.then)}\n`;
    case 'delete':
      return `  ${color.red('-')} ${name} is in no manifest any more; ${imageOf(entry.recorded)} will be deleted (--prune)\n`;
    case 'keep-orphan':
      return `  ${color.dim('-')} ${name} is in no manifest any more; ${imageOf(entry.recorded)} is kept (--prune deletes it)\n`;
    case 'none':
      return '';
  }
}

function thenDelete(then: 'delete' | undefined): string {
  return then === 'delete' ? ', then deletes its image (--prune)' : '';
}

function source(entry: { manifest: { source: Parameters<typeof formatLocation>[0] } }): string {
  return `      ${'from:'.padEnd(6)} ${formatLocation(entry.manifest.source)}\n`;
}

function lastFailure(recorded: FailedRecord, color: Colors): string {
  return `\n      ${color.red('last attempt failed:')} ${printable(`${recorded.error.code} ${recorded.error.reason}`)}`;
}

function changes(list: readonly FieldChange[], color: Colors): string {
  return lines(
    list.map((c) => [
      c.field,
      `${show(c.before)} -> ${show(c.after)}${c.forcesReplacement ? color.red(' # forces replacement') : ''}`,
    ]),
  );
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
