// The plan as a pull-request comment (`plan --format markdown`): a verdict, a table of counts,
// the decisions in collapsed groups and the manifests' problems, each with the terminal plan's
// wording (render-plan.ts). Pure: what it says comes in, the comment goes out. Whatever came from
// outside (keys, ids, reasons, messages, paths) is escaped, so that it cannot end a table row,
// start a list, link, mention or HTML, and stays printable.
import { relative, resolve } from 'node:path';
import { formatLocation, type Diagnostic } from '../manifest/diagnostic.js';
import type { SourceLocation } from '../manifest/types.js';
import { PLAN_ACTIONS, summarize, type PlanAction } from '../plan/plan.js';
import type { Planned } from '../reconcile/reconcile.js';
import { printable } from '../text.js';
import { countDiagnostics, plural } from './render-diagnostics.js';
import {
  describeDrift,
  preflightCounts,
  preflightLine,
  describeUnadopted,
  entryWording,
  leftElsewhere,
  MARKS,
  onlyBlocked,
  planVerdict,
  visibleEntries,
} from './render-plan.js';

/** What the comment says around the plan. */
export interface MarkdownContext {
  /** The connection's region, or the configured one. */
  readonly region?: string;
  /** The state's location as messages name it (a PostgreSQL URL without its password). */
  readonly state: string;
  /** The directory paths are shown from: the manifests' git repository, else the current directory. */
  readonly root: string;
  /** The directory relative paths are relative to. */
  readonly cwd: string;
}

/** A plan, or the problems that kept the manifests from being planned. */
export type MarkdownInput = { readonly planned: Planned } | { readonly diagnostics: readonly Diagnostic[] };

/** GitHub takes comments of up to 65,536 characters: the details stop short of it, saying so. */
export const MAX_COMMENT = 60_000;
/** Room kept for what holds the blocks: headings, groups, the note of what was left out. */
const FRAMING = 2_000;

export function renderMarkdownPlan(input: MarkdownInput, context: MarkdownContext): string {
  const where = (source: SourceLocation) => markdownText(shownLocation(source, context));
  if ('diagnostics' in input) {
    const head = [
      '### imsync plan',
      `**Invalid manifests:** nothing can be applied (${countDiagnostics(input.diagnostics)}).`,
      ...setting(context, context.region === undefined ? [] : [context.region]),
    ];
    const rows = input.diagnostics.map(
      (d) => `| ${d.source ? where(d.source) : ''} | ${markdownText(d.code)} | ${markdownText(d.message)} |\n`,
    );
    return document(head, (budget) => [
      '| where | code | problem |\n| :-- | :-- | :-- |\n' + budget.fit(rows).join(''),
    ]);
  }
  const { planned } = input;
  const { plan } = planned;
  const verdict = planVerdict(planned);
  const blocked = onlyBlocked(plan);
  const warnings = [
    ...(planned.refusal === undefined ? [] : [`**Refused:** ${markdownText(planned.refusal)}.`]),
    ...(planned.elsewhere.length > 0
      ? [`${markdownText(capitalized(leftElsewhere(planned.elsewhere, 'plan')))}.`]
      : []),
  ];
  const regions =
    context.region === undefined
      ? [...new Set(plan.entries.flatMap((entry) => (entry.region === undefined ? [] : [entry.region])))].sort()
      : [context.region];
  const head = [
    '### imsync plan',
    `**${markdownText(verdict.lead)}** ${markdownText(verdict.rest)}${blocked === undefined ? '' : ` ${markdownText(blocked)}.`}`,
    ...setting(context, regions),
    ...(warnings.length === 0 ? [] : [warnings.map((warning) => `- ${warning}\n`).join('')]),
    ...(planned.refreshOnly ? [] : [countsTable(planned)]),
  ];
  return document(head, (budget) => [
    ...preflightFound(planned, budget),
    ...changedOutside(planned, budget),
    ...details(planned, where, budget),
  ]);
}

/** The pre-flight's problems and warnings as a table, or its one line. */
function preflightFound({ plan }: Planned, budget: Budget): string[] {
  const report = plan.preflight;
  const line = preflightLine(plan);
  if (line !== undefined) return [`${markdownText(line)}\n`];
  if (report === undefined || report.problems.length + report.warnings.length === 0) return [];
  const rows = [
    ...report.problems.map((p) => ['`✗`', p] as const),
    ...report.warnings.map((w) => ['`!`', w] as const),
  ].map(
    ([mark, found]) =>
      `| ${mark} | ${markdownText(found.key ?? 'account')} | ${markdownText(found.code)} | ${markdownText(found.reason)} |\n`,
  );
  return [
    `#### Pre-flight (the image files in OBS, ${markdownText(preflightCounts(report))})\n\n| | manifest | code | problem |\n| :-- | :-- | :-- | :-- |\n${budget.fit(rows).join('')}`,
  ];
}

/** What is left of the comment: blocks are let in while they fit. */
interface Budget {
  /** The blocks that fit, in order; the first that does not ends it. */
  fit(blocks: readonly string[]): string[];
}

/** The head, then the sections made within what is left of MAX_COMMENT, then what did not fit. */
function document(head: readonly string[], sections: (budget: Budget) => string[]): string {
  let left = MAX_COMMENT - head.join('\n\n').length - FRAMING;
  let omitted = 0;
  const budget: Budget = {
    fit(blocks) {
      const fitting: string[] = [];
      for (const block of blocks) {
        if (omitted === 0 && block.length <= left) {
          left -= block.length;
          fitting.push(block);
        } else omitted++;
      }
      return fitting;
    },
  };
  const body = sections(budget).filter((section) => section !== '');
  const note =
    omitted > 0
      ? [
          `_${omitted} more ${plural(omitted, 'item')} not shown, to keep this comment under ${MAX_COMMENT} characters; \`imsync plan\` shows them all._`,
        ]
      : [];
  return `${[...head, ...body, ...note].map((block) => block.replace(/\n$/, '')).join('\n\n')}\n`;
}

/** `Region: ap-southeast-1 · State: \`imsync.state.json\``: a location is copied as it is. */
function setting(context: MarkdownContext, regions: readonly string[]): string[] {
  const region =
    regions.length === 0 ? '' : `${plural(regions.length, 'Region')}: ${markdownText(regions.join(', '))} · `;
  return [`${region}State: ${markdownCode(context.state)}`];
}

/** A row for every action the planner makes, in its order, zeros too: comments compare at a glance. */
function countsTable({ plan }: Planned): string {
  const summary = summarize(plan);
  const rows = PLAN_ACTIONS.map((action) => `| ${label(action)} | ${summary[action]} |\n`);
  return `| action | count |\n| :-- | --: |\n${rows.join('')}`;
}

function label(action: PlanAction): string {
  return action === 'none' ? 'none (unchanged)' : `\`${MARKS[action].mark}\` ${action}`;
}

function changedOutside({ plan }: Planned, budget: Budget): string[] {
  const { drift, unadopted } = plan.refresh;
  if (drift.size === 0 && unadopted.length === 0) return [];
  const lines = [
    ...[...drift]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, d]) => `- \`!\` **${markdownText(key)}** ${markdownText(describeDrift(d))}\n`),
    ...unadopted.map((image) => `- \`?\` ${markdownText(describeUnadopted(image))}\n`),
  ];
  return [`#### Changed outside imsync (found by refresh)\n\n${budget.fit(lines).join('')}`];
}

/** One collapsed group per action, in the planner's order, with every entry and what it changes. */
function details({ plan }: Planned, where: (source: SourceLocation) => string, budget: Budget): string[] {
  const entries = visibleEntries(plan);
  return PLAN_ACTIONS.flatMap((action) => {
    if (action === 'none') return [];
    const group = entries.filter((entry) => entry.action === action);
    if (group.length === 0) return [];
    const shown = budget.fit(
      group.map((entry) => {
        const wording = entryWording(entry);
        const region = entry.region === undefined ? '' : ` (${markdownText(entry.region)})`;
        const because = wording.because === undefined ? '' : ` (${markdownText(wording.because)})`;
        const lines = [
          ...(wording.failure === undefined ? [] : [`last attempt failed: ${markdownText(wording.failure)}`]),
          ...wording.fields.map(
            (f) =>
              `${markdownText(f.field)}: ${f.was === undefined ? '' : `${markdownText(f.was)} -> `}${markdownText(f.value)}${f.forcesReplacement ? ' **forces replacement**' : ''}`,
          ),
          ...(wording.from === undefined ? [] : [`from: ${where(wording.from)}`]),
        ];
        return `- **${markdownText(entry.key)}**${region}${markdownText(wording.says)}${because}\n${lines.map((line) => `  - ${line}\n`).join('')}`;
      }),
    );
    if (shown.length === 0) return [];
    const summary = `<code>${htmlText(MARKS[action].mark)}</code> ${action} (${group.length})`;
    // The blank lines end the HTML block, so that what is inside is read as markdown again.
    return [`<details><summary>${summary}</summary>\n\n${shown.join('')}\n</details>\n`];
  });
}

/** `file:line:column` from the repository's root (or the current directory). */
export function shownLocation(source: SourceLocation, context: Pick<MarkdownContext, 'root' | 'cwd'>): string {
  return formatLocation({ ...source, file: relative(context.root, resolve(context.cwd, source.file)) });
}

/**
 * Text shown as it is wherever markdown puts it (a table cell, a list item, bold): printable and
 * on one line, since a newline would end the row or the item; every character that markdown (and
 * GitHub's tables, strikethrough and math) acts on escaped; `<`, `>` and `&` written as entities,
 * so that no tag, comment or entity can be made of it; and a zero-width space after `@` and `#`,
 * so that it mentions nobody and links no issue (as Renovate writes them).
 */
export function markdownText(text: string): string {
  return printable(text).replace(/[\\`*_[\]|~$]|[<>&@#]/g, (char) => ENTITIES[char] ?? `\\${char}`);
}

const ENTITIES: Readonly<Record<string, string>> = {
  '<': '&lt;',
  '>': '&gt;',
  '&': '&amp;',
  '"': '&quot;',
  '@': '@&#8203;',
  '#': '#&#8203;',
};

/**
 * Text as code (read as it is: no markdown, no mention), printable and on one line, between
 * more backticks than it holds in a row, spaced from them when it begins or ends with one.
 * Not for a table cell, where `|` ends the cell even in code.
 */
export function markdownCode(text: string): string {
  const shown = printable(text);
  const fence = '`'.repeat(Math.max(0, ...(shown.match(/`+/g) ?? []).map((run) => run.length)) + 1);
  const padded = /^`|`$/.test(shown) ? ` ${shown} ` : shown;
  return `${fence}${padded}${fence}`;
}

/** Text inside an HTML element, where markdown's backslashes are not read: entities only. */
function htmlText(text: string): string {
  return printable(text).replace(/[<>&"]/g, (char) => ENTITIES[char]!);
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
