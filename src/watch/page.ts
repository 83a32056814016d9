// GET /: the status page, rendered from the /status document. The table is HTML from the server,
// filtered and sorted by the query string (`?phase=failed&q=web&sort=-updated`) with plain links
// and a form, so it works without JavaScript. With it, the page's inline script filters and sorts
// in place and follows GET /events, drawing with the very functions the server renders with: their
// source is put in the page, so they use only each other, PAGE_PHASES, COLUMNS and standard
// JavaScript. Every text from outside is escaped; nothing is loaded from elsewhere, and the
// Content-Security-Policy runs only the page's own script and style (a nonce per response).
import { PHASES, type Phase } from '../state/model.js';
import type { ImageStatus, LeaderStatus, SourceStatus, StandbyStatus, StatusDocument } from './status-document.js';

const PAGE_PHASES: readonly Phase[] = PHASES;

/** The table's columns; those with `firstDescending` sort, in that direction at the first click. */
const COLUMNS = [
  { id: 'key', label: 'Key', firstDescending: false },
  { id: 'phase', label: 'Phase', firstDescending: false },
  { id: 'progress', label: 'Progress', firstDescending: true },
  { id: 'elapsed', label: 'Elapsed', firstDescending: true },
  { id: 'image', label: 'Image / job' },
  { id: 'error', label: 'Last error', firstDescending: false },
  { id: 'revision', label: 'Revision' },
  { id: 'updated', label: 'Updated', firstDescending: true },
] as const;

export type SortColumn = Extract<(typeof COLUMNS)[number], { firstDescending: boolean }>['id'];

/** Which images the table shows, in which order: what the query string says. */
export interface PageView {
  /** '' for every phase. */
  readonly phase: Phase | '';
  /** Found, case aside, in the key, ids, job status, error or revision. */
  readonly q: string;
  readonly sort: SortColumn;
  readonly descending: boolean;
}

export interface PageResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The answer to GET /?`query` with `document` as /status has it; `now` in ms since the epoch. */
export function statusPage(document: StatusDocument, query: string, nonce: string, now: number): PageResponse {
  if (document.role === 'standby') return htmlResponse(standbyPage(document, nonce), nonce);
  const parsed = parseView(query);
  if ('error' in parsed) {
    return { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `${parsed.error}\n` };
  }
  return htmlResponse(leaderPage(document, parsed.view, nonce, now), nonce);
}

function htmlResponse(body: string, nonce: string): PageResponse {
  return {
    status: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': [
        "default-src 'none'",
        `script-src 'nonce-${nonce}'`,
        `style-src 'nonce-${nonce}'`,
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
      ].join('; '),
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    },
    body,
  };
}

function leaderPage(document: LeaderStatus, view: PageView, nonce: string, now: number): string {
  const phases = PAGE_PHASES.map(
    (phase) => `<option value="${phase}"${view.phase === phase ? ' selected' : ''}>${phase}</option>`,
  ).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(pageTitle(document))}</title>
<style nonce="${nonce}">${CSS}</style>
</head>
<body>
<header><h1>imsync watch</h1><p id="live" role="status">not live: reload for the latest</p></header>
<main id="page" data-now="${now}">
<div id="overview">${renderOverview(document)}</div>
<section>
<h2>Images</h2>
<form id="filter" method="get">
<label>Phase <select name="phase"><option value="">all</option>${phases}</select></label>
<label>Search <input type="search" name="q" value="${escapeHtml(view.q)}"></label>
<input type="hidden" name="sort" value="${sortParam(view)}">
<button type="submit">Filter</button>
</form>
<div id="images">${renderImages(document, view, now)}</div>
</section>
</main>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`;
}

function standbyPage(document: StandbyStatus, nonce: string): string {
  const { leader } = document;
  const who = leader
    ? `<strong>${escapeHtml(`${leader.command} (pid ${leader.pid} on ${leader.host}, since ${leader.since})`)}</strong> leads`
    : 'Another daemon leads (the lock names no holder)';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>imsync watch: standing by</title>
<style nonce="${nonce}">${CSS}</style>
</head>
<body>
<header><h1>imsync watch: standing by</h1></header>
<main>
<p>This replica stands by, ready to lead when the state's lock is free. ${who}: the images are on its status page.</p>
<dl class="facts"><dt>Source</dt><dd>${renderSource(document.source)}</dd><dt>State</dt><dd><code>${escapeHtml(document.state)}</code></dd></dl>
</main>
</body>
</html>
`;
}

const CSS = `
:root { color-scheme: light dark; --bad: #c62828; --ok: #2e7d32; --run: #1565c0; --muted: #6b7280; --line: #8884; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 1rem 1.5rem 3rem; max-width: 96rem; }
header { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
h1 { font-size: 1.4rem; margin: 0; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
code { font: 12.5px ui-monospace, monospace; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 0 .6em; border: 1px solid currentColor; border-radius: 1em; font-size: 12px; }
.ok { color: var(--ok); } .bad, .error { color: var(--bad); } .muted, #live { color: var(--muted); }
#live.ok { color: var(--ok); } #live.bad { color: var(--bad); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: .5rem 0; }
dt { font-weight: 600; } dd { margin: 0; } ul { margin: 0; padding-left: 1.2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td { white-space: nowrap; } td[data-col="error"] { white-space: normal; min-width: 18rem; }
thead th { position: sticky; top: 0; background: Canvas; }
th a { color: inherit; } th[aria-sort] a { text-decoration: none; }
td.phase { font-weight: 600; }
tr.phase-failed td.phase { color: var(--bad); } tr.phase-succeeded td.phase { color: var(--ok); }
tr.phase-submitting td.phase, tr.phase-submitted td.phase { color: var(--run); }
progress { width: 5rem; vertical-align: middle; }
form { display: flex; gap: 1rem; align-items: end; flex-wrap: wrap; margin: .5rem 0; }
.counts a[aria-current] { font-weight: 700; text-decoration: none; }
`;

// ---------------------------------------------------------------------------------------------
// Run by the server and, their source put in the page, by the browser: pure, self-contained.

/** Text as HTML content or a double-quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!,
  );
}

/** The view a query string asks for, or what is wrong with it. */
export function parseView(query: string): { view: PageView } | { error: string } {
  const params = new URLSearchParams(query);
  const phase = params.get('phase') ?? '';
  if (phase !== '' && !PAGE_PHASES.includes(phase as Phase)) {
    const names = PAGE_PHASES.join(', ');
    return { error: `phase must be one of ${names}, or empty for all; not ${JSON.stringify(phase)}` };
  }
  const sort = params.get('sort') || 'key';
  const column = COLUMNS.find((c) => c.id === sort.replace(/^-/, '') && 'firstDescending' in c);
  if (!column) {
    const names = COLUMNS.filter((c) => 'firstDescending' in c).map((c) => c.id);
    return {
      error: `sort must be one of ${names.join(', ')}, with - before it for descending order; not ${JSON.stringify(sort)}`,
    };
  }
  return {
    view: {
      phase: phase as Phase | '',
      q: params.get('q') ?? '',
      sort: column.id as SortColumn,
      descending: sort[0] === '-',
    },
  };
}

function sortParam(view: PageView): string {
  return `${view.descending ? '-' : ''}${view.sort}`;
}

/** The query string of `view`, without what is the default. */
function viewQuery(view: PageView): string {
  const params = new URLSearchParams();
  if (view.phase !== '') params.set('phase', view.phase);
  if (view.q !== '') params.set('q', view.q);
  if (view.sort !== 'key' || view.descending) params.set('sort', sortParam(view));
  return `?${params.toString()}`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const [h, m, s] = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60];
  const two = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${two(m)}m`;
  return m > 0 ? `${m}m ${two(s)}s` : `${s}s`;
}

/** An ISO time to the second: 2025-03-01 12:00:05Z. */
function formatTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function inFlight(image: ImageStatus): boolean {
  return image.phase === 'submitting' || image.phase === 'submitted';
}

/** How long the current attempt has run (or ran), when this daemon saw it start. */
function elapsedOf(image: ImageStatus, now: number): number | undefined {
  if (image.attempt_started_at === null) return undefined;
  const end = inFlight(image) ? now : Date.parse(image.attempt_ended_at ?? image.updated_at);
  return end - Date.parse(image.attempt_started_at);
}

function sortValue(column: SortColumn, key: string, image: ImageStatus, now: number): string | number | undefined {
  switch (column) {
    case 'key':
      return key;
    case 'phase':
      return PAGE_PHASES.indexOf(image.phase);
    case 'progress':
      return image.progress_percent ?? undefined;
    case 'elapsed':
      return elapsedOf(image, now);
    case 'error':
      return image.error ? `${image.error.code} ${image.error.reason}` : undefined;
    case 'updated':
      return image.updated_at;
  }
}

/** The images `view` shows, in its order; what has no value for the sort column comes last. */
function visibleImages(document: LeaderStatus, view: PageView, now: number): [string, ImageStatus][] {
  const q = view.q.toLowerCase();
  const found = (key: string, image: ImageStatus) =>
    [
      key,
      image.region,
      image.image_id,
      image.job_id,
      image.job_status,
      image.revision,
      image.error?.code,
      image.error?.reason,
    ].some((text) => text != null && text.toLowerCase().includes(q));
  const rows = Object.entries(document.images)
    .filter(([key, image]) => (view.phase === '' || image.phase === view.phase) && (q === '' || found(key, image)))
    .map(([key, image]) => ({ key, image, value: sortValue(view.sort, key, image, now) }));
  const direction = view.descending ? -1 : 1;
  rows.sort((a, b) => {
    if (a.value !== b.value) {
      if (a.value === undefined) return 1;
      if (b.value === undefined) return -1;
      return (a.value < b.value ? -1 : 1) * direction;
    }
    return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  });
  return rows.map((row) => [row.key, row.image]);
}

function pageTitle(document: LeaderStatus): string {
  const images = Object.values(document.images);
  const failed = images.filter((image) => image.phase === 'failed').length;
  const running = images.filter(inFlight).length;
  const parts = [
    `${images.length} images`,
    ...(running ? [`${running} running`] : []),
    ...(failed ? [`${failed} failed`] : []),
  ];
  return `imsync watch: ${parts.join(', ')}`;
}

function commitHtml(commit: string): string {
  return `<code title="${escapeHtml(commit)}">${escapeHtml(commit.slice(0, 12))}</code>`;
}

function timeHtml(iso: string): string {
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(formatTime(iso))}</time>`;
}

function keysHtml(keys: readonly string[]): string {
  return keys.length === 0
    ? '<span class="muted">none</span>'
    : keys.map((key) => `<code>${escapeHtml(key)}</code>`).join(', ');
}

function renderSource(source: SourceStatus): string {
  if (source.kind === 'directory') {
    return `directory ${source.paths.map((path) => `<code>${escapeHtml(path)}</code>`).join(', ')}`;
  }
  const fetched =
    source.fetched_revision === null
      ? '<span class="muted">nothing fetched yet</span>'
      : `fetched ${commitHtml(source.fetched_revision)}${source.last_fetch_at === null ? '' : ` (last fetch ${timeHtml(source.last_fetch_at)})`}`;
  const applied =
    source.applied_revision === null
      ? '<span class="muted">none applied yet</span>'
      : `applied ${commitHtml(source.applied_revision)}`;
  const error =
    source.fetch_error === null ? '' : `<div class="error">fetch failed: ${escapeHtml(source.fetch_error)}</div>`;
  return (
    `git <code>${escapeHtml(source.url)}</code> ref <code>${escapeHtml(source.ref)}</code>` +
    `${source.path === '' ? '' : ` path <code>${escapeHtml(source.path)}</code>`}, every ${source.interval_seconds} s; ` +
    `${fetched}; ${applied}${error}`
  );
}

function renderReconcile(last: LeaderStatus['last_reconcile']): string {
  if (last === null) return '<span class="muted">none has ended yet</span>';
  const took = (Date.parse(last.finished_at) - Date.parse(last.started_at)) / 1000;
  const good = last.result === 'applied';
  const summary = last.summary
    ? `: imported ${last.summary.imported}, adopted ${last.summary.adopted}, updated ${last.summary.updated}, ` +
      `deleted ${last.summary.deleted}, failed ${last.summary.failed}, blocked ${last.summary.blocked}, ` +
      `still running ${last.summary.still_running}`
    : '';
  return (
    `<span class="badge ${good ? 'ok' : 'bad'}">${escapeHtml(last.result)}</span> ` +
    `at ${timeHtml(last.finished_at)} (${took.toFixed(1)} s)` +
    `${last.revision === null ? '' : `, revision ${commitHtml(last.revision)}`}${summary}` +
    `${last.error === null ? '' : `<div class="error">${escapeHtml(last.error)}</div>`}`
  );
}

/** Everything above the table: the daemon, its source, the last reconcile, what the plan left, the diagnostics. */
export function renderOverview(document: LeaderStatus): string {
  const drift = Object.entries(document.drift);
  const driftHtml =
    drift.length === 0
      ? '<span class="muted">none</span>'
      : `<ul>${drift
          .map(
            ([key, found]) =>
              `<li><code>${escapeHtml(key)}</code> ${escapeHtml(found.kind)} out of band: image <code>${escapeHtml(found.image_id)}</code>` +
              `${found.fields ? ` (${found.fields.map(escapeHtml).join(', ')})` : ''}</li>`,
          )
          .join('')}</ul>`;
  const diagnostics =
    document.diagnostics.length === 0
      ? '<p class="muted">none: every manifest is valid</p>'
      : `<p class="error">Nothing is applied until these are fixed.</p><table><thead><tr><th>Code</th><th>Message</th><th>Where</th></tr></thead><tbody>${document.diagnostics
          .map(
            (d) =>
              `<tr><td><code>${escapeHtml(d.code)}</code></td><td>${escapeHtml(d.message)}</td>` +
              `<td>${d.where === null ? '' : `<code>${escapeHtml(d.where)}</code>`}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  return (
    `<p><span class="badge ${document.ready ? 'ok' : 'bad'}">${document.ready ? 'ready' : 'not ready'}</span> ` +
    `<span class="badge">${document.reconciling ? 'reconciling' : 'idle'}</span></p>` +
    `<dl class="facts"><dt>Source</dt><dd>${renderSource(document.source)}</dd>` +
    `<dt>State</dt><dd><code>${escapeHtml(document.state)}</code></dd>` +
    `<dt>Last reconcile</dt><dd>${renderReconcile(document.last_reconcile)}</dd></dl>` +
    `<h2>Found by the last plan</h2>` +
    `${document.refused === null ? '' : `<p class="error">The plan was refused: ${escapeHtml(document.refused)}</p>`}` +
    `<dl class="facts"><dt>Drift</dt><dd>${driftHtml}</dd>` +
    `<dt>Blocked replacements</dt><dd>${keysHtml(document.blocked_replacements)}</dd>` +
    `<dt>Orphans</dt><dd>${keysHtml(document.orphans)}</dd>` +
    `<dt>Held failures</dt><dd>${keysHtml(document.held_failures)}</dd></dl>` +
    `<h2>Manifest diagnostics</h2>${diagnostics}`
  );
}

function renderRow(key: string, image: ImageStatus, now: number): string {
  const percent = image.progress_percent;
  const progress =
    (percent === null ? '' : `<progress max="100" value="${percent}"></progress> ${percent}%`) +
    (image.job_status === null ? '' : ` <span class="muted">${escapeHtml(image.job_status)}</span>`);
  const elapsed = elapsedOf(image, now);
  const since =
    inFlight(image) && image.attempt_started_at !== null ? ` data-since="${escapeHtml(image.attempt_started_at)}"` : '';
  const ids = [
    ...(image.image_id === null ? [] : [`<code>${escapeHtml(image.image_id)}</code>`]),
    ...(image.job_id === null ? [] : [`job <code>${escapeHtml(image.job_id)}</code>`]),
  ];
  const error =
    image.error === null
      ? ''
      : `<code class="error">${escapeHtml(image.error.code)}</code> ${escapeHtml(image.error.reason)}`;
  return (
    `<tr data-key="${escapeHtml(key)}" class="phase-${escapeHtml(image.phase)}">` +
    `<td data-col="key"><code>${escapeHtml(key)}</code>${image.region === null ? '' : `<br><span class="muted">${escapeHtml(image.region)}</span>`}</td>` +
    `<td data-col="phase" class="phase">${escapeHtml(image.phase)}</td>` +
    `<td data-col="progress">${progress}</td>` +
    `<td data-col="elapsed"${since}>${elapsed === undefined ? '' : formatDuration(elapsed)}</td>` +
    `<td data-col="image">${ids.join('<br>')}</td>` +
    `<td data-col="error">${error}</td>` +
    `<td data-col="revision">${image.revision === null ? '' : commitHtml(image.revision)}</td>` +
    `<td data-col="updated">${timeHtml(image.updated_at)}</td></tr>`
  );
}

/** The phase links, the table's header with its sort links, and the rows `view` shows. */
export function renderImages(document: LeaderStatus, view: PageView, now: number): string {
  const all = Object.values(document.images);
  const link = (phase: Phase | '', label: string, count: number) =>
    `<a href="${escapeHtml(viewQuery({ ...view, phase }))}"${view.phase === phase ? ' aria-current="true"' : ''}>${label} (${count})</a>`;
  const counts = [
    link('', 'all', all.length),
    ...PAGE_PHASES.map((phase) => link(phase, phase, all.filter((image) => image.phase === phase).length)),
  ].join(' · ');
  const header = COLUMNS.map((column) => {
    if (!('firstDescending' in column)) return `<th>${column.label}</th>`;
    const id = column.id;
    const sorted = view.sort === id;
    const next = { ...view, sort: id, descending: sorted ? !view.descending : column.firstDescending };
    const mark = sorted ? (view.descending ? ' ▼' : ' ▲') : '';
    const aria = sorted ? ` aria-sort="${view.descending ? 'descending' : 'ascending'}"` : '';
    return `<th${aria}><a href="${escapeHtml(viewQuery(next))}">${column.label}${mark}</a></th>`;
  }).join('');
  const rows = visibleImages(document, view, now);
  const body =
    rows.length === 0
      ? `<tr><td colspan="${COLUMNS.length}" class="muted">${all.length === 0 ? 'no image is recorded yet' : 'no image matches'}</td></tr>`
      : rows.map(([key, image]) => renderRow(key, image, now)).join('');
  return (
    `<p class="counts">${counts}</p><p class="muted">${rows.length} of ${all.length} shown</p>` +
    `<table><thead><tr>${header}</tr></thead><tbody>${body}</tbody></table>`
  );
}

// ---------------------------------------------------------------------------------------------
// The page's script: the functions above, then what only a browser runs.

const BROWSER_MAIN = `
const page = document.getElementById('page');
const overview = document.getElementById('overview');
const images = document.getElementById('images');
const form = document.getElementById('filter');
const live = document.getElementById('live');
// Elapsed times on the daemon's clock, not this computer's.
const skew = Number(page.dataset.now) - Date.now();
const now = () => Date.now() + skew;
let view = parseView(location.search).view;
let status;
let drawing = false;
const draw = () => {
  drawing = false;
  overview.innerHTML = renderOverview(status);
  images.innerHTML = renderImages(status, view, now());
  document.title = pageTitle(status);
};
const redraw = () => {
  if (!drawing) (drawing = true), requestAnimationFrame(draw);
};
const show = (next) => {
  view = next;
  form.elements.phase.value = view.phase;
  form.elements.q.value = view.q;
  form.elements.sort.value = sortParam(view);
  history.replaceState(null, '', viewQuery(view));
  redraw();
};
const fromForm = () => ({ ...view, phase: form.elements.phase.value, q: form.elements.q.value });
// Until the first status arrives, the form and the links load the page, as without JavaScript.
form.addEventListener('input', () => status && show(fromForm()));
form.addEventListener('submit', (event) => {
  if (status) event.preventDefault(), show(fromForm());
});
images.addEventListener('click', (event) => {
  const link = event.target.closest('a[href^="?"]');
  if (link && status) event.preventDefault(), show(parseView(link.search).view);
});
// A replica that stops leading (or starts) has another page.
const leads = (next) => next.role === 'leader' || (location.reload(), false);
const events = new EventSource('events');
events.addEventListener('status', (event) => {
  const next = JSON.parse(event.data);
  if (leads(next)) (status = next), redraw();
});
events.addEventListener('delta', (event) => {
  const { images: changed, removed_images: removed, ...rest } = JSON.parse(event.data);
  if (!leads(rest)) return;
  const merged = { ...status.images, ...changed };
  for (const key of removed) delete merged[key];
  status = { ...rest, images: merged };
  redraw();
});
events.addEventListener('open', () => {
  live.textContent = 'live';
  live.className = 'ok';
});
events.addEventListener('error', () => {
  live.textContent =
    events.readyState === EventSource.CLOSED
      ? 'not live: the daemon refused (too many open pages?); reload to try again'
      : 'not live: the daemon does not answer; reconnecting';
  live.className = 'bad';
});
setInterval(() => {
  for (const cell of images.querySelectorAll('[data-since]'))
    cell.textContent = formatDuration(now() - Date.parse(cell.dataset.since));
}, 1000);
`;

/** The renderers' source, with the constants they read: what the page's script draws with. */
export const BROWSER_RENDERERS = [
  `const PAGE_PHASES = ${JSON.stringify(PAGE_PHASES)};`,
  `const COLUMNS = ${JSON.stringify(COLUMNS)};`,
  ...[
    escapeHtml,
    parseView,
    sortParam,
    viewQuery,
    formatDuration,
    formatTime,
    inFlight,
    elapsedOf,
    sortValue,
    visibleImages,
    pageTitle,
    commitHtml,
    timeHtml,
    keysHtml,
    renderSource,
    renderReconcile,
    renderOverview,
    renderRow,
    renderImages,
  ].map(String),
].join('\n');

const SCRIPT = `(() => {\n'use strict';\n${BROWSER_RENDERERS}\n${BROWSER_MAIN}})();`;
