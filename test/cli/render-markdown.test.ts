// The plan as a pull-request comment: the exact markdown of each kind of plan, paths from the
// repository's root, and text from outside that can break no table and make no HTML.
import { describe, expect, it } from 'vitest';
import {
  markdownCode,
  markdownText,
  MAX_COMMENT,
  renderMarkdownPlan,
  shownLocation,
  type MarkdownContext,
} from '../../src/cli/render-markdown.js';
import type { Diagnostic } from '../../src/manifest/diagnostic.js';
import { planChanges } from '../../src/plan/plan.js';
import { planOfEveryAction } from '../support/plans.js';
import { manifest, systemSpec } from '../support/specs.js';
import { emptyState, failed, imported } from '../support/states.js';

const context: MarkdownContext = {
  region: 'ap-southeast-1',
  state: 'postgres://imsync@db.example.com/platform?schema=imsync',
  root: '/repo',
  cwd: '/repo',
};

/** Text as a hostile manifest, state or answer may hold: a row ended, a tag, a forged line, escapes. */
const HOSTILE = 'a|b <img src=x onerror=alert(1)> `c` *d* _e_ [f](g) \\| &lt; @here #1 $x$ ~~s~~\n- forged\u001b[2J';

describe('markdownText', () => {
  it.each([
    ['a table cell separator', 'a|b', 'a\\|b'],
    ['an HTML tag', '<b>x</b>', '&lt;b&gt;x&lt;/b&gt;'],
    ['an HTML comment', '<!-- x -->', '&lt;!-- x --&gt;'],
    ['an entity', '&lt;', '&amp;lt;'],
    ['a code span', '`x`', '\\`x\\`'],
    ['emphasis', '*a* _b_', '\\*a\\* \\_b\\_'],
    ['a link', '[a](http://b)', '\\[a\\](http://b)'],
    ['a backslash before a separator', '\\|', '\\\\\\|'],
    ['strikethrough and math', '~~a~~ $x$', '\\~\\~a\\~\\~ \\$x\\$'],
    ['a mention and an issue reference', '@team #12', '@&#8203;team #&#8203;12'],
    ['newlines, on one line', 'one\ntwo\r\nthree\u2028four', 'one two three four'],
    ['terminal escapes', 'a\u001b]0;owned\u0007b\u001b[2Jc\u009b31md', 'abcd'],
    [
      'plain text, as it is',
      'web-base (ap-southeast-1): 40 -> 80, "ok".',
      'web-base (ap-southeast-1): 40 -&gt; 80, "ok".',
    ],
  ])('escapes %s', (_what, text, shown) => {
    expect(markdownText(text)).toBe(shown);
  });
});

describe('markdownCode', () => {
  it.each([
    ['a location, as it is', 'postgres://imsync@db/platform?schema=a_b', '`postgres://imsync@db/platform?schema=a_b`'],
    ['markdown and HTML, left to the code span', '<b>*x*</b> @team', '`<b>*x*</b> @team`'],
    ['backticks, behind a longer fence', 'a`b``c', '```a`b``c```'],
    ['a backtick at an end, spaced from the fence', '`a', '`` `a ``'],
    ['newlines and escapes, on one printable line', 'a\nb\u001b[2Jc', '`a bc`'],
  ])('writes %s', (_what, text, shown) => {
    expect(markdownCode(text)).toBe(shown);
  });
});

describe('shownLocation', () => {
  it.each([
    [
      'a path from the current directory, below the root',
      '/repo/infra',
      'images/bad.yaml',
      'infra/images/bad.yaml:3:19',
    ],
    ['a path from the root', '/repo', 'infra/bad.yaml', 'infra/bad.yaml:3:19'],
    ['an absolute path in the repository', '/elsewhere', '/repo/infra/bad.yaml', 'infra/bad.yaml:3:19'],
    ['a path outside the repository', '/repo', '/other/bad.yaml', '../other/bad.yaml:3:19'],
  ])('shows %s from the root', (_what, cwd, file, shown) => {
    expect(shownLocation({ file, line: 3, column: 19 }, { root: '/repo', cwd })).toBe(shown);
  });
});

describe('renderMarkdownPlan', () => {
  it('shows every action: the verdict, where, a row for each, the drift and a collapsed group of each', () => {
    const planned = { plan: planOfEveryAction(), elsewhere: ['eu-west-101'] };
    expect(renderMarkdownPlan({ planned }, context)).toBe(
      [
        '### imsync plan\n',
        '\n',
        '**Plan:** 3 to import, 1 to update, 1 to replace, 1 to adopt, 2 to delete; 3 blocked, 2 in progress, 1 unchanged.\n',
        '\n',
        'Region: ap-southeast-1 · State: `postgres://imsync@db.example.com/platform?schema=imsync`\n',
        '\n',
        "- Changes in other regions (eu-west-101) are left for a plan connected there (--region, with that region's project id).\n",
        '\n',
        '| action | count |\n',
        '| :-- | --: |\n',
        '| `+` import | 1 |\n',
        '| `+` retry | 1 |\n',
        '| `!` hold-failed | 1 |\n',
        '| `~` update | 1 |\n',
        '| `-/+` replace | 1 |\n',
        '| `!` replace-blocked | 1 |\n',
        '| `-` finish-replace | 1 |\n',
        '| `>` adopt | 1 |\n',
        '| none (unchanged) | 1 |\n',
        '| `=` follow | 1 |\n',
        '| `?` settle | 1 |\n',
        '| `-` delete | 1 |\n',
        '| `-` keep-orphan | 1 |\n',
        '\n',
        '#### Changed outside imsync (found by refresh)\n',
        '\n',
        '- `!` **a-import** image img-a was deleted\n',
        '- `!` **h-adopt** image img-h carries its imsync-key tag and has no record: adopted\n',
        '- `?` image img-stray carries imsync-key=stray but is not adopted: no manifest has this key\n',
        '\n',
        '<details><summary><code>+</code> import (1)</summary>\n',
        '\n',
        '- **a-import** (ap-southeast-1) will be imported (because image img-a was deleted)\n',
        '  - name: "a-import"\n',
        '  - image\\_url: "golden-images:a-import.zvhd2"\n',
        '  - os\\_version: "Ubuntu 22.04 server 64bit"\n',
        '  - min\\_disk: 40\n',
        '\n',
        '</details>\n',
        '\n',
        '<details><summary><code>+</code> retry (1)</summary>\n',
        '\n',
        '- **b-retry** (ap-southeast-1) will be imported again\n',
        '  - last attempt failed: IMG.0010 The object does not exist in OBS.\n',
        '  - from: manifests/test.yaml:1:1\n',
        '\n',
        '</details>\n',
        '\n',
        '<details><summary><code>!</code> hold-failed (1)</summary>\n',
        '\n',
        '- **c-hold-failed** (ap-southeast-1) failed and is not retried until its manifest changes or the next resync\n',
        '  - last attempt failed: IMG.0057 Quota exceeded.\n',
        '\n',
        '</details>\n',
        '\n',
        '<details><summary><code>~</code> update (1)</summary>\n',
        '\n',
        '- **d-update** (ap-southeast-1) will be updated in place\n',
        '  - description: "old" -> "new"\n',
        '\n',
        '</details>\n',
        '\n',
        '<details><summary><code>-/+</code> replace (1)</summary>\n',
        '\n',
        '- **e-replace** (ap-southeast-1) will be replaced (imported anew, then image img-e deleted)\n',
        '  - min\\_disk: 40 -> 80 **forces replacement**\n',
        '\n',
        '</details>\n',
        '\n',
        '<details><summary><code>!</code> replace-blocked (1)</summary>\n',
        '\n',
        '- **f-replace-blocked** (ap-southeast-1) must be replaced, which is not allowed: nothing is done (apply with --allow-replace to import it anew and delete image img-f)\n',
        '  - image\\_url: "golden-images:f-replace-blocked.zvhd2" -> "golden-images:f2.zvhd2" **forces replacement**\n',
        '\n',
        '</details>\n',
        '\n',
        '<details><summary><code>-</code> finish-replace (1)</summary>\n',
        '\n',
        '- **g-finish-replace** (ap-southeast-1): image img-g-new replaced image img-g-old, which will be deleted\n',
        '\n',
        '</details>\n',
        '\n',
        '<details><summary><code>&gt;</code> adopt (1)</summary>\n',
        '\n',
        '- **h-adopt** (ap-southeast-1) will be adopted: image img-h carries its imsync-key tag, so nothing is imported\n',
        '\n',
        '</details>\n',
        '\n',
        '<details><summary><code>=</code> follow (1)</summary>\n',
        '\n',
        '- **j-follow** (ap-southeast-1) is being imported (job job-j INIT); apply follows it, never resubmits\n',
        '\n',
        '</details>\n',
        '\n',
        '<details><summary><code>?</code> settle (1)</summary>\n',
        '\n',
        '- **k-settle** (ap-southeast-1) was submitted without an answer; apply looks it up by its tag before sending anything again\n',
        '\n',
        '</details>\n',
        '\n',
        '<details><summary><code>-</code> delete (1)</summary>\n',
        '\n',
        '- **l-delete** (ap-southeast-1) is in no manifest any more; image img-l will be deleted (--prune)\n',
        '\n',
        '</details>\n',
        '\n',
        '<details><summary><code>-</code> keep-orphan (1)</summary>\n',
        '\n',
        '- **m-keep-orphan** (ap-southeast-1) is in no manifest any more; image img-m is kept (--prune deletes it)\n',
        '\n',
        '</details>\n',
      ].join(''),
    );
  });

  it('says there are no changes, and the regions of the entries when no region is configured', () => {
    let state = imported(emptyState(), 'web', systemSpec('web'), 'ap-southeast-1');
    state = imported(state, 'db', systemSpec('db'), 'eu-west-101');
    const manifests = [
      manifest('web', systemSpec('web'), 'ap-southeast-1'),
      manifest('db', systemSpec('db'), 'eu-west-101'),
    ];
    const planned = { plan: planChanges(manifests, state), elsewhere: [] };
    const { region: _, ...unconfigured } = { ...context, state: 'imsync.state.json' };
    const shown = renderMarkdownPlan({ planned }, unconfigured);
    expect(shown).toMatch(
      /^### imsync plan\n\n\*\*No changes\.\*\* 2 images match the manifests\.\n\nRegions: ap-southeast-1, eu-west-101 · State: `imsync\.state\.json`\n\n\| action \| count \|\n/,
    );
    expect(shown).toContain('| none (unchanged) | 2 |\n');
    expect(shown).not.toContain('<details>');
  });

  it('says when every change left is blocked, and why a pruning plan is refused', () => {
    const state = imported(emptyState(), 'web', systemSpec('web'), 'ap-southeast-1', 'img-web');
    const blocked = planChanges([manifest('web', systemSpec('web', { min_disk: 80 }), 'ap-southeast-1')], state);
    expect(renderMarkdownPlan({ planned: { plan: blocked, elsewhere: [] } }, context)).toContain(
      '**Plan:** 0 to import, 0 to update, 0 to replace, 0 to adopt, 0 to delete; 1 blocked, 0 in progress, 0 unchanged. Nothing to do: every change left is blocked (1).\n',
    );
    const refusal = '--prune would delete 12 images, more than --max-prune 10';
    const refused = renderMarkdownPlan({ planned: { plan: blocked, elsewhere: [], refusal } }, context);
    expect(refused).toContain('\n- **Refused:** --prune would delete 12 images, more than --max-prune 10.\n');
  });

  it('says what --refresh-only records, with no table of actions', () => {
    const state = imported(emptyState(), 'web', systemSpec('web'));
    const plan = { ...planChanges([], state), entries: [] };
    expect(renderMarkdownPlan({ planned: { plan, elsewhere: [], refreshOnly: true } }, context)).toBe(
      '### imsync plan\n\n**The state matches the cloud.** Nothing else is planned (--refresh-only).\n\nRegion: ap-southeast-1 · State: `postgres://imsync@db.example.com/platform?schema=imsync`\n',
    );
  });

  it('shows invalid manifests as a table of problems, paths from the repository root', () => {
    const diagnostics: Diagnostic[] = [
      {
        code: 'FIELD_FORMAT',
        message: 'metadata.name "Bad" is not valid.',
        source: { file: 'images/bad.yaml', line: 3, column: 19 },
      },
      { code: 'PATH_NOT_FOUND', message: 'gone/: no such file or directory' },
    ];
    expect(renderMarkdownPlan({ diagnostics }, { ...context, cwd: '/repo/infra' })).toBe(
      [
        '### imsync plan\n',
        '\n',
        '**Invalid manifests:** nothing can be applied (2 errors in 1 file).\n',
        '\n',
        'Region: ap-southeast-1 · State: `postgres://imsync@db.example.com/platform?schema=imsync`\n',
        '\n',
        '| where | code | problem |\n',
        '| :-- | :-- | :-- |\n',
        '| infra/images/bad.yaml:3:19 | FIELD\\_FORMAT | metadata.name "Bad" is not valid. |\n',
        '|  | PATH\\_NOT\\_FOUND | gone/: no such file or directory |\n',
      ].join(''),
    );
  });

  it('keeps hostile keys, ids, reasons, messages and paths inside their cells and items, making no HTML', () => {
    let state = failed(emptyState(), `web${HOSTILE}`, systemSpec('web'), { code: 'IMG.0057', reason: HOSTILE });
    state = imported(state, `orphan${HOSTILE}`, systemSpec('orphan'), `region${HOSTILE}`, `img${HOSTILE}`);
    const plan = planChanges([manifest(`web${HOSTILE}`, systemSpec('web', { description: HOSTILE }))], state, {
      refresh: {
        changes: new Map(),
        drift: new Map([[`web${HOSTILE}`, { kind: 'deleted', imageId: `gone${HOSTILE}` }]]),
        unadopted: [{ key: `stray${HOSTILE}`, imageId: `stray${HOSTILE}`, why: HOSTILE }],
      },
    });
    const diagnostics: Diagnostic[] = [
      { code: 'FIELD_FORMAT', message: HOSTILE, source: { file: `dir${HOSTILE}/bad.yaml`, line: 1, column: 1 } },
    ];
    const hostileContext = { ...context, state: `state${HOSTILE}`, region: `region${HOSTILE}` };
    const planShown = renderMarkdownPlan({ planned: { plan, elsewhere: [`eu${HOSTILE}`] } }, hostileContext);
    const problemsShown = renderMarkdownPlan({ diagnostics }, hostileContext);

    // The state's location is code, read as it is (markdownCode): what is left is markdown.
    const stateLine = ` · State: ${markdownCode(hostileContext.state)}\n`;
    for (const shown of [planShown, problemsShown].map((text) => text.replace(stateLine, '\n'))) {
      // eslint-disable-next-line no-control-regex -- control characters are what it looks for
      expect(shown).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
      // The only tags are the comment's own; no text from outside opens one, or a comment.
      expect(new Set(shown.match(/<[^<]*?>/g))).toEqual(
        new Set(
          shown.includes('<details>')
            ? ['<details>', '<summary>', '</summary>', '<code>', '</code>', '</details>']
            : [],
        ),
      );
      // No line of text from outside: every line is one the comment makes.
      for (const line of shown.split('\n')) {
        expect(line, line).toMatch(
          /^(|#+ .*|\*\*.*|(Regions?|State): .*|- .*| {2}- .*|\| .* \||<details>.*|<\/details>)$/,
        );
      }
      // Every table row has its cells, escaped separators left in them.
      for (const row of shown.split('\n').filter((line) => line.startsWith('|'))) {
        expect(row.match(/(?<!\\)\|/g), row).toHaveLength(shown.includes('| where |') ? 4 : 3);
      }
      expect(shown).not.toMatch(/@here|#1\b/);
    }
    expect(planShown).toContain('web' + markdownText(HOSTILE));
    expect(problemsShown).toContain(
      `| dir${markdownText(HOSTILE)}/bad.yaml:1:1 | FIELD\\_FORMAT | ${markdownText(HOSTILE)} |`,
    );
  });

  it(`stops the details short of ${MAX_COMMENT} characters, saying how many entries it left out`, () => {
    const manifests = Array.from({ length: 3000 }, (_, i) => manifest(`image-${String(i).padStart(4, '0')}`));
    const planned = { plan: planChanges(manifests, emptyState()), elsewhere: [] };
    const shown = renderMarkdownPlan({ planned }, context);
    expect(shown.length).toBeLessThanOrEqual(MAX_COMMENT);
    expect(shown).toContain('| `+` import | 3000 |\n');
    const listed = shown.match(/^- \*\*image-\d{4}\*\* will be imported$/gm)!.length;
    const omitted = Number(
      /\n_(\d+) more items not shown, to keep this comment under 60000 characters; `imsync plan` shows them all\._\n$/.exec(
        shown,
      )?.[1],
    );
    expect(listed).toBeGreaterThan(100);
    expect(listed + omitted).toBe(3000);
    expect(shown).toMatch(/\n<\/details>\n\n_\d+ more items/);
  });
});
