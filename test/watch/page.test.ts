// The status page as a pure function of the /status document and the query string: what it shows,
// how the query string filters and sorts it, that every text from outside is escaped wherever it
// lands, and that the browser draws with the very functions the server renders with.
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  BROWSER_RENDERERS,
  escapeHtml,
  formatDuration,
  parseView,
  renderImages,
  renderOverview,
  statusPage,
  type PageView,
} from '../../src/watch/page.js';
import type { ImageStatus, LeaderStatus, StandbyStatus } from '../../src/watch/status-document.js';

const NOW = Date.parse('2026-11-26T10:10:00Z');
const NONCE = 'bm9uY2Utb2YtdGhpcy10ZXN0';

function image(fields: Partial<ImageStatus> = {}): ImageStatus {
  return {
    phase: 'succeeded',
    region: null,
    attempt_id: 'attempt',
    job_id: 'job',
    job_status: null,
    image_id: 'image',
    error: null,
    revision: null,
    created_at: '2026-11-26T10:00:00.000Z',
    updated_at: '2026-11-26T10:05:00.000Z',
    progress_percent: null,
    attempt_started_at: null,
    attempt_ended_at: null,
    ...fields,
  };
}

function leader(images: Record<string, ImageStatus>, fields: Partial<LeaderStatus> = {}): LeaderStatus {
  return {
    role: 'leader',
    ready: true,
    reconciling: false,
    source: { kind: 'directory', paths: ['/srv/manifests'] },
    state: '/var/lib/imsync/imsync.state.json',
    last_reconcile: null,
    drift: {},
    blocked_replacements: [],
    orphans: [],
    held_failures: [],
    refused: null,
    diagnostics: [],
    images,
    ...fields,
  };
}

/** Four images, one of each phase, and a second failed one. */
const FLEET = leader({
  'api-a': image({ phase: 'failed', error: { code: 'IMG.0057', reason: 'object api-a.zvhd2 not found' } }),
  'web-b': image({
    phase: 'submitted',
    job_status: 'RUNNING',
    image_id: null,
    progress_percent: 40,
    attempt_started_at: '2026-11-26T10:08:00.000Z',
    updated_at: '2026-11-26T10:09:00.000Z',
  }),
  'web-a': image({
    phase: 'succeeded',
    progress_percent: 100,
    attempt_started_at: '2026-11-26T10:00:00.000Z',
    attempt_ended_at: '2026-11-26T10:04:30.000Z',
    updated_at: '2026-11-26T10:04:30.000Z',
  }),
  'db-c': image({ phase: 'submitting', job_id: null, image_id: null, updated_at: '2026-11-26T10:01:00.000Z' }),
  'web-z': image({
    phase: 'failed',
    error: { code: 'IMG.0072', reason: 'golden:web.qcow2 is not a RAW or ZVHD2 file' },
    updated_at: '2026-11-26T10:06:00.000Z',
  }),
});

function page(document: LeaderStatus | StandbyStatus, query = '') {
  return statusPage(document, query, NONCE, NOW);
}

/** The page without its script, whose renderers' source has the markup they make. */
function markup(html: string): string {
  return html.replace(/<script\b[^>]*>[\s\S]*?<\/script>/g, '');
}

/** The keys of the table's rows, in order. */
function shownKeys(html: string): string[] {
  return [...markup(html).matchAll(/<tr data-key="([^"]*)"/g)].map((match) => match[1]!);
}

/** The text of each `data-col` cell of the row of `key`, tags removed. */
function cells(html: string, key: string): Record<string, string> {
  const row = new RegExp(`<tr data-key="${key}"[^>]*>(.*?)</tr>`).exec(markup(html))?.[1] ?? '';
  return Object.fromEntries(
    [...row.matchAll(/<td data-col="(\w+)"[^>]*>(.*?)<\/td>/g)].map((m) => [
      m[1]!,
      m[2]!.replace(/<[^>]*>/g, '').trim(),
    ]),
  );
}

describe('escapeHtml', () => {
  const rows: [text: string, escaped: string][] = [
    ['plain text', 'plain text'],
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['a & b', 'a &amp; b'],
    ['&amp; already', '&amp;amp; already'],
    ['"double" quotes', '&quot;double&quot; quotes'],
    ["'single' quotes", '&#39;single&#39; quotes'],
    ['x" onfocus="alert(1)', 'x&quot; onfocus=&quot;alert(1)'],
    ['</td></tr><tr>', '&lt;/td&gt;&lt;/tr&gt;&lt;tr&gt;'],
    ['ünïcödé ✓', 'ünïcödé ✓'],
  ];
  it.each(rows)('%j → %j', (text, escaped) => {
    expect(escapeHtml(text)).toBe(escaped);
  });
});

describe('formatDuration', () => {
  const rows: [ms: number, text: string][] = [
    [0, '0s'],
    [-5000, '0s'],
    [999, '0s'],
    [42_000, '42s'],
    [60_000, '1m 00s'],
    [185_000, '3m 05s'],
    [3_600_000, '1h 00m'],
    [3_723_000, '1h 02m'],
    [90_000_000, '25h 00m'],
  ];
  it.each(rows)('%d ms: %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('the status page', () => {
  it('shows every image with its phase, progress, elapsed time, ids and last error with its code', () => {
    const { status, body } = page(FLEET);
    expect(status).toBe(200);
    expect(cells(body, 'web-b')).toEqual({
      key: 'web-b',
      phase: 'submitted',
      progress: '40% RUNNING',
      elapsed: '2m 00s',
      image: 'job job',
      error: '',
      revision: '',
      updated: '2026-11-26 10:09:00Z',
    });
    // An attempt that ended took what it took; one this daemon did not see start has no time.
    expect(cells(body, 'web-a')).toMatchObject({ phase: 'succeeded', progress: '100%', elapsed: '4m 30s' });
    expect(cells(body, 'db-c')).toMatchObject({ phase: 'submitting', progress: '', elapsed: '', image: '' });
    expect(cells(body, 'web-z')).toMatchObject({
      phase: 'failed',
      error: 'IMG.0072 golden:web.qcow2 is not a RAW or ZVHD2 file',
    });
    // The running one's elapsed time goes on in the browser, from when its attempt started.
    expect(body).toContain('<td data-col="elapsed" data-since="2026-11-26T10:08:00.000Z">2m 00s</td>');
    expect(body).toContain('<progress max="100" value="40"></progress>');
    expect(body).toContain('<title>imsync watch: 5 images, 2 running, 2 failed</title>');
    expect(body).toContain(`data-now="${NOW}"`);
  });

  it('shows the last reconcile, what the plan found and left, the diagnostics and a git source', () => {
    const { body } = page(
      leader(
        {},
        {
          ready: false,
          reconciling: true,
          source: {
            kind: 'git',
            url: 'https://git.example.com/ops/images.git',
            ref: 'main',
            path: 'images',
            interval_seconds: 60,
            fetched_revision: '0123456789abcdef0123456789abcdef01234567',
            applied_revision: 'fedcba9876543210fedcba9876543210fedcba98',
            last_fetch_at: '2026-11-26T10:09:30.000Z',
            fetch_error: 'the server asks for credentials',
          },
          last_reconcile: {
            started_at: '2026-11-26T10:09:00.000Z',
            finished_at: '2026-11-26T10:09:04.500Z',
            result: 'applied',
            error: null,
            revision: 'fedcba9876543210fedcba9876543210fedcba98',
            summary: {
              imported: 2,
              adopted: 1,
              updated: 0,
              deleted: 0,
              failed: 1,
              blocked: 3,
              still_running: 1,
              seconds: 4.5,
            },
          },
          drift: { web: { kind: 'edited', image_id: 'img-web', fields: ['name', 'description'] } },
          blocked_replacements: ['db'],
          orphans: ['old-one', 'old-two'],
          held_failures: ['api'],
          refused: 'deletes 3 images; --max-prune allows 1',
          diagnostics: [{ code: 'SCHEMA', message: 'spec.min_disk must be a number', where: 'images/web.yaml:7:14' }],
        },
      ),
    );
    const text = markup(body).replace(/<[^>]*>/g, '');
    for (const shown of [
      'not ready',
      'reconciling',
      'git https://git.example.com/ops/images.git ref main path images, every 60 s; fetched 0123456789ab (last fetch 2026-11-26 10:09:30Z); applied fedcba987654',
      'fetch failed: the server asks for credentials',
      'applied at 2026-11-26 10:09:04Z (4.5 s), revision fedcba987654: imported 2, adopted 1, updated 0, deleted 0, failed 1, blocked 3, still running 1',
      'The plan was refused: deletes 3 images; --max-prune allows 1',
      'web edited out of band: image img-web (name, description)',
      'Blocked replacementsdb',
      'Orphansold-one, old-two',
      'Held failuresapi',
      'SCHEMAspec.min_disk must be a numberimages/web.yaml:7:14',
      'no image is recorded yet',
    ]) {
      expect(text).toContain(shown);
    }
  });

  it('says so when nothing is wrong: no reconcile yet, no drift, every manifest valid', () => {
    const text = markup(page(leader({})).body).replace(/<[^>]*>/g, '');
    expect(text).toContain('Last reconcilenone has ended yet');
    expect(text).toContain('Driftnone');
    expect(text).toContain('none: every manifest is valid');
    expect(text).toContain('directory /srv/manifests');
  });

  const views: [query: string, keys: string[]][] = [
    ['', ['api-a', 'db-c', 'web-a', 'web-b', 'web-z']],
    ['phase=failed', ['api-a', 'web-z']],
    ['phase=submitted', ['web-b']],
    ['q=WEB', ['web-a', 'web-b', 'web-z']],
    ['q=img.0072', ['web-z']],
    ['q=not+found', ['api-a']],
    ['q=running', ['web-b']],
    ['phase=failed&q=web', ['web-z']],
    ['q=nothing-like-this', []],
    ['sort=-key', ['web-z', 'web-b', 'web-a', 'db-c', 'api-a']],
    ['sort=phase', ['db-c', 'web-b', 'web-a', 'api-a', 'web-z']],
    ['sort=updated', ['db-c', 'web-a', 'api-a', 'web-z', 'web-b']],
    ['sort=-updated', ['web-b', 'web-z', 'api-a', 'web-a', 'db-c']],
    // What has no value for the column comes last, either way.
    ['sort=-progress', ['web-a', 'web-b', 'api-a', 'db-c', 'web-z']],
    ['sort=progress', ['web-b', 'web-a', 'api-a', 'db-c', 'web-z']],
    ['sort=-elapsed', ['web-a', 'web-b', 'api-a', 'db-c', 'web-z']],
    ['sort=error', ['api-a', 'web-z', 'db-c', 'web-a', 'web-b']],
    ['phase=failed&sort=-error', ['web-z', 'api-a']],
  ];
  it.each(views)('?%s shows %j', (query, keys) => {
    const { status, body } = page(FLEET, query);
    expect(status).toBe(200);
    expect(shownKeys(body)).toEqual(keys);
    expect(body).toContain(`${keys.length} of 5 shown`);
  });

  it('links each phase and each sortable column to its view, keeping the rest of the view', () => {
    const { body } = page(FLEET, 'q=web&sort=-updated');
    expect(body).toContain('<a href="?phase=failed&amp;q=web&amp;sort=-updated">failed (2)</a>');
    expect(body).toContain('<a href="?q=web&amp;sort=-updated" aria-current="true">all (5)</a>');
    // The column sorted by turns around; another starts in its own direction.
    expect(body).toContain('<th aria-sort="descending"><a href="?q=web&amp;sort=updated">Updated ▼</a></th>');
    expect(body).toContain('<th><a href="?q=web">Key</a></th>');
    expect(body).toContain('<th><a href="?q=web&amp;sort=-progress">Progress</a></th>');
    expect(body).toContain('<th>Image / job</th>');
    // The form says the view too, so that filtering keeps the order.
    expect(body).toContain('<input type="search" name="q" value="web">');
    expect(body).toContain('<input type="hidden" name="sort" value="-updated">');
    expect(page(FLEET, 'phase=failed').body).toContain('<option value="failed" selected>failed</option>');
  });

  const wrong: [query: string, message: string][] = [
    ['phase=running', 'phase must be one of submitting, submitted, succeeded, failed, or empty for all; not "running"'],
    [
      'sort=size',
      'sort must be one of key, phase, progress, elapsed, error, updated, with - before it for descending order; not "size"',
    ],
    ['sort=image', 'not "image"'],
    ['sort=--key', 'not "--key"'],
  ];
  it.each(wrong)('?%s is refused, saying what is wrong', (query, message) => {
    const { status, headers, body } = page(FLEET, query);
    expect(status).toBe(400);
    expect(headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(body).toContain(message);
  });

  it('runs only its own script and style: a strict policy with the nonce, and nothing from elsewhere', () => {
    const { headers, body } = page(FLEET);
    expect(headers['content-type']).toBe('text/html; charset=utf-8');
    expect(headers['content-security-policy']).toBe(
      `default-src 'none'; script-src 'nonce-${NONCE}'; style-src 'nonce-${NONCE}'; connect-src 'self'; ` +
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    expect([...body.matchAll(/<(script|style)\b[^>]*>/g)].map((m) => m[0])).toEqual([
      `<style nonce="${NONCE}">`,
      `<script nonce="${NONCE}">`,
    ]);
    expect(body).not.toMatch(/\b(src|href)="(https?:)?\/\//);
    expect(body).not.toMatch(/ style="/);
  });

  it('on a standby, says which daemon leads', () => {
    const standby: StandbyStatus = {
      role: 'standby',
      ready: true,
      leader: { host: 'node-a', pid: 4242, command: 'imsync watch', since: '2026-11-26T09:00:00.000Z', lock_id: 'l1' },
      source: { kind: 'directory', paths: ['/srv/manifests'] },
      state: 'postgres://imsync@db.internal/imsync',
    };
    const { status, body } = page(standby, 'sort=nonsense');
    expect(status).toBe(200);
    const text = body.replace(/<[^>]*>/g, '');
    expect(text).toContain('imsync watch (pid 4242 on node-a, since 2026-11-26T09:00:00.000Z) leads');
    expect(text).toContain('postgres://imsync@db.internal/imsync');
    expect(body).not.toContain('<table');
    expect(page({ ...standby, leader: null }).body).toContain('Another daemon leads (the lock names no holder)');
  });
});

/** Every text from outside that the page shows, each made of these. */
const HOSTILE = [
  '<script>window.pwned=1</script>',
  '"><img src=x onerror=alert(1)>',
  "x' autofocus onfocus='alert(1)",
  'x" autofocus onfocus="alert(1)',
  'a & b &amp; </td></tr></table>',
];
const hostile = (i: number) => `${HOSTILE[i % HOSTILE.length]}#${i}`;

function hostileDocument(): LeaderStatus {
  const images: Record<string, ImageStatus> = {};
  for (let i = 0; i < HOSTILE.length; i++) {
    images[hostile(i)] = image({
      phase: i % 2 ? 'failed' : 'submitted',
      region: hostile(i + 1),
      attempt_id: hostile(i + 2),
      job_id: hostile(i + 3),
      job_status: hostile(i + 4),
      image_id: hostile(i),
      error: { code: hostile(i + 1), reason: hostile(i + 2) },
      revision: hostile(i + 3),
      attempt_started_at: hostile(i + 4),
      progress_percent: 50,
    });
  }
  return leader(images, {
    source: {
      kind: 'git',
      url: hostile(0),
      ref: hostile(1),
      path: hostile(2),
      interval_seconds: 60,
      fetched_revision: hostile(3),
      applied_revision: hostile(4),
      last_fetch_at: hostile(5),
      fetch_error: hostile(6),
    },
    state: hostile(7),
    last_reconcile: {
      started_at: '2026-11-26T10:00:00.000Z',
      finished_at: '2026-11-26T10:00:01.000Z',
      result: 'error',
      error: hostile(8),
      revision: hostile(9),
      summary: null,
    },
    drift: { [hostile(10)]: { kind: 'edited', image_id: hostile(11), fields: [hostile(12)] } },
    blocked_replacements: [hostile(13)],
    orphans: [hostile(14)],
    held_failures: [hostile(15)],
    refused: hostile(16),
    diagnostics: [{ code: hostile(17), message: hostile(18), where: hostile(19) }],
  });
}

describe('texts from outside', () => {
  /** No tag, attribute or entity of theirs, and each of them shown as it is. */
  function expectInert(html: string, texts: readonly string[]) {
    expect(html).not.toContain('<script>window');
    expect(html).not.toContain('<img');
    expect(html).not.toMatch(/["'] autofocus/);
    expect(html).not.toContain('</td></tr></table>');
    for (const text of texts) expect(html).toContain(escapeHtml(text));
  }
  const all = Array.from({ length: 20 }, (_, i) => hostile(i));

  it('are escaped everywhere the page shows them: keys, ids, IMS errors, revisions, source, diagnostics', () => {
    const { body } = page(hostileDocument());
    expectInert(body, all);
    expect(body.match(/<script\b/g)).toHaveLength(1);
  });

  it('are escaped in the query string shown back: the search box and every link', () => {
    const { status, body } = page(hostileDocument(), new URLSearchParams({ q: HOSTILE.join(' ') }).toString());
    expect(status).toBe(200);
    expectInert(body, [HOSTILE.join(' ')]);
    expect(body).toContain(`value="${escapeHtml(HOSTILE.join(' '))}"`);
  });

  it('are escaped on a standby page', () => {
    const { body } = page({
      role: 'standby',
      ready: true,
      leader: { host: hostile(0), pid: 1, command: hostile(1), since: hostile(2), lock_id: hostile(3) },
      source: { kind: 'directory', paths: [hostile(4)] },
      state: hostile(5),
    });
    expectInert(body, [hostile(0), hostile(1), hostile(2), hostile(4), hostile(5)]);
  });
});

describe("the browser's renderers", () => {
  /** `call` run on the page's own script source, in a context of nothing but JavaScript and URLSearchParams. */
  function inBrowser(call: string, values: Record<string, unknown>): unknown {
    return runInNewContext(`${BROWSER_RENDERERS}\n${call}`, { URLSearchParams, ...values });
  }
  const view = (query: string) => (parseView(query) as { view: PageView }).view;

  it.each(['', 'phase=failed', 'q=web&sort=-updated', 'sort=elapsed'])('draw ?%s as the server does', (query) => {
    const values = { document: FLEET, view: view(query), now: NOW };
    expect(inBrowser('renderImages(document, view, now)', values)).toBe(renderImages(FLEET, view(query), NOW));
  });

  it('draw the overview and hostile texts as the server does', () => {
    const document = hostileDocument();
    const values = { document, view: view('sort=-progress'), now: NOW };
    expect(inBrowser('renderOverview(document)', values)).toBe(renderOverview(document));
    expect(inBrowser('renderImages(document, view, now)', values)).toBe(
      renderImages(document, view('sort=-progress'), NOW),
    );
  });

  it('read the query string as the server does', () => {
    expect(inBrowser('parseView("?phase=failed&sort=-error")', {})).toEqual(parseView('?phase=failed&sort=-error'));
    expect(inBrowser('parseView("sort=size")', {})).toEqual(parseView('sort=size'));
  });
});
