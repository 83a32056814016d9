// Plan output: a Terraform-like diff for people, and the documented JSON form (README, "Plan JSON").
import { formatLocation } from '../manifest/diagnostic.js';
import { summarize, type FieldChange, type Plan, type PlanEntry } from '../plan/plan.js';
import type { ImageRecord } from '../state/model.js';
import type { Output } from './output.js';
import { plural } from './render-diagnostics.js';

export const PLAN_FORMAT_VERSION = '1';

export function renderPlan(plan: Plan, output: Output): void {
  const { color } = output;
  const visible = plan.entries.filter((entry) => entry.action !== 'none');
  const summary = summarize(plan);
  if (visible.length === 0) {
    output.out(
      `${color.green('No changes.')} ${summary.unchanged} ${plural(summary.unchanged, 'image')} match the manifests.\n`,
    );
    return;
  }
  output.out('imsync will perform the following actions:\n\n');
  for (const entry of visible) output.out(renderEntry(entry, output.color) + '\n');
  const changes = [
    `${summary.import} to import`,
    `${summary.update} to update`,
    `${summary.replace} to replace`,
    `${summary.orphan} orphaned`,
  ].join(', ');
  output.out(`${color.bold('Plan:')} ${changes}; ${summary.inProgress} in progress, ${summary.unchanged} unchanged.\n`);
}

type Colors = Output['color'];

function renderEntry(entry: PlanEntry, color: Colors): string {
  const region = entry.region ? color.dim(` (${entry.region})`) : '';
  switch (entry.action) {
    case 'import': {
      const retry = lastFailure(entry.recorded, color);
      const fields = Object.entries(entry.manifest.spec).map(([field, value]) => [field, show(value)] as const);
      return `  ${color.green('+')} ${color.bold(entry.key)}${region} will be imported${retry}\n${lines(fields)}`;
    }
    case 'update':
      return `  ${color.yellow('~')} ${color.bold(entry.key)}${region} will be updated in place\n${lines(entry.changes.map((c) => change(c, color)))}`;
    case 'replace':
      return `  ${color.magenta('-/+')} ${color.bold(entry.key)}${region} will be replaced (imported anew, then the old image deleted)${lastFailure(entry.recorded, color)}\n${lines(entry.changes.map((c) => change(c, color)))}`;
    case 'orphan':
      return `  ${color.red('-')} ${color.bold(entry.key)}${region} is in no manifest any more; ${imageOf(entry.recorded)} is kept unless apply runs with --prune\n`;
    case 'in-progress':
      return `  ${color.cyan('=')} ${color.bold(entry.key)}${region} is being imported (${jobOf(entry.recorded)}); apply follows it, never resubmits\n`;
    case 'none':
      return '';
  }
}

function lastFailure(recorded: ImageRecord | undefined, color: Colors): string {
  return recorded?.error
    ? `\n      ${color.red('last attempt failed:')} ${recorded.error.code} ${recorded.error.reason}`
    : '';
}

function change(c: FieldChange, color: Colors): readonly [string, string] {
  const forces = c.forcesReplacement ? color.red(' # forces replacement') : '';
  return [c.field, `${show(c.before)} -> ${show(c.after)}${forces}`];
}

/** `field: value` lines, the values aligned. */
function lines(fields: readonly (readonly [string, string])[]): string {
  if (fields.length === 0) return '';
  const width = Math.max(...fields.map(([field]) => field.length)) + 1;
  return fields.map(([field, value]) => `      ${`${field}:`.padEnd(width)} ${value}\n`).join('');
}

function show(value: unknown): string {
  if (value === undefined) return '(none)';
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${show(v)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value);
}

function imageOf(record: ImageRecord): string {
  return record.imageId ? `image ${record.imageId}` : `its ${record.phase} import`;
}

function jobOf(record: ImageRecord): string {
  return record.jobId ? `job ${record.jobId} ${record.jobStatus ?? ''}`.trim() : 'submission awaiting confirmation';
}

/** The plan as one JSON document: the `--json` line and the `--out` file. */
export function planToJson(plan: Plan): object {
  const summary = summarize(plan);
  return {
    type: 'plan',
    format_version: PLAN_FORMAT_VERSION,
    basis: plan.basis,
    summary: {
      import: summary.import,
      update: summary.update,
      replace: summary.replace,
      orphan: summary.orphan,
      in_progress: summary.inProgress,
      unchanged: summary.unchanged,
    },
    entries: plan.entries.map(entryToJson),
  };
}

function entryToJson(entry: PlanEntry): object {
  return {
    key: entry.key,
    action: entry.action,
    region: entry.region ?? null,
    ...(entry.action === 'orphan' ? {} : { source: formatLocation(entry.manifest.source), spec: entry.manifest.spec }),
    ...('changes' in entry
      ? {
          changes: entry.changes.map((c) => ({
            field: c.field,
            before: c.before ?? null,
            after: c.after ?? null,
            forces_replacement: c.forcesReplacement,
          })),
        }
      : {}),
    recorded: entry.recorded ? recordToJson(entry.recorded) : null,
  };
}

function recordToJson(record: ImageRecord): object {
  return {
    phase: record.phase,
    attempt_id: record.attemptId,
    job_id: record.jobId ?? null,
    job_status: record.jobStatus ?? null,
    image_id: record.imageId ?? null,
    error: record.error ?? null,
    updated_at: record.updatedAt,
  };
}
