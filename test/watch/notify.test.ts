// Notifications: what is sent for each happening (tables, the README's examples among them), how
// it is signed and shown to Slack, and how it is delivered (retries, backoff, drops, shutdown) on a
// fake clock with a fake poster. The real posts are in test/e2e/watch-notify.test.ts.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PlanEntry } from '../../src/plan/plan.js';
import { verifyWebhook, WebhookSecret } from '../../src/source/webhook.js';
import type { LastReconcile } from '../../src/watch/daemon.js';
import type { NotificationResult } from '../../src/watch/metrics.js';
import {
  bodyFor,
  DEFAULT_DELIVERY,
  deliveryHeaders,
  FAILING_AFTER,
  NO_STREAK,
  notificationFor,
  Notifier,
  NotifyTargetError,
  parseNotifyTargets,
  summaryOf,
  verdictOf,
  type Happening,
  type Notification,
  type NotifyTarget,
  type Poster,
  type Streak,
} from '../../src/watch/notify.js';
import { FakeClock } from '../support/fake-clock.js';
import { quiesce } from '../support/fake-time.js';
import { repoRoot } from '../support/run-cli.js';

const HOST = 'imsync-0';
const TIME = '2026-11-26T10:00:00.000Z';
const NOW = Date.parse(TIME);
const COMMIT = '4f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39';
const REVISION = { url: 'https://git.example.com/acme/golden-images.git', ref: 'main', commit: COMMIT };

/** A blocked entry as the plan makes it; only what a notification reads is filled in. */
function blockedEntry(action: 'replace-blocked' | 'keep-orphan' | 'hold-failed'): PlanEntry {
  return {
    action,
    key: 'web',
    recorded: { phase: 'succeeded', imageId: 'c8b1e5a2-3f4d-4b6e-9a7c-1d2e3f4a5b6c' },
    changes: [
      { field: 'image_url', before: 'golden:web.qcow2', after: 'golden:web-v2.qcow2', forcesReplacement: true },
      { field: 'description', before: null, after: 'v2', forcesReplacement: false },
    ],
  } as unknown as PlanEntry;
}

interface Row {
  readonly happening: Happening;
  readonly sent: Notification | undefined;
  /** Shown in the README as the example of its type. */
  readonly readme?: true;
}

const rows: Record<string, Row> = {
  'an import that succeeded, with its commit': {
    readme: true,
    happening: {
      kind: 'event',
      revision: REVISION,
      event: {
        type: 'import.succeeded',
        time: TIME,
        key: 'web',
        imageId: 'c8b1e5a2-3f4d-4b6e-9a7c-1d2e3f4a5b6c',
        jobId: 'ff8080828c4e2a47018c5b0a6e1f0042',
        seconds: 312.4,
      },
    },
    sent: {
      type: 'import.succeeded',
      time: TIME,
      host: HOST,
      revision: COMMIT,
      key: 'web',
      image_id: 'c8b1e5a2-3f4d-4b6e-9a7c-1d2e3f4a5b6c',
      job_id: 'ff8080828c4e2a47018c5b0a6e1f0042',
      seconds: 312.4,
    },
  },
  'an import that failed, with its IMG code and reason': {
    readme: true,
    happening: {
      kind: 'event',
      revision: REVISION,
      event: {
        type: 'import.failed',
        time: TIME,
        key: 'db',
        jobId: 'ff8080828c4e2a47018c5b0a6e1f0043',
        code: 'IMG.0072',
        reason: 'The image file format is not supported.',
      },
    },
    sent: {
      type: 'import.failed',
      time: TIME,
      host: HOST,
      revision: COMMIT,
      key: 'db',
      job_id: 'ff8080828c4e2a47018c5b0a6e1f0043',
      code: 'IMG.0072',
      reason: 'The image file format is not supported.',
    },
  },
  'an import refused before it had a job, from a directory (no commit)': {
    happening: {
      kind: 'event',
      event: { type: 'import.failed', time: TIME, key: 'db', code: 'IMG.0015', reason: 'quota exceeded' },
    },
    sent: {
      type: 'import.failed',
      time: TIME,
      host: HOST,
      revision: null,
      key: 'db',
      job_id: null,
      code: 'IMG.0015',
      reason: 'quota exceeded',
    },
  },
  'an image deleted out of band': {
    readme: true,
    happening: {
      kind: 'notice',
      revision: REVISION,
      notice: {
        type: 'drift',
        key: 'web',
        drift: { kind: 'deleted', imageId: 'c8b1e5a2-3f4d-4b6e-9a7c-1d2e3f4a5b6c' },
      },
    },
    sent: {
      type: 'drift.found',
      time: TIME,
      host: HOST,
      revision: COMMIT,
      key: 'web',
      kind: 'deleted',
      image_id: 'c8b1e5a2-3f4d-4b6e-9a7c-1d2e3f4a5b6c',
      fields: [],
    },
  },
  'an image edited out of band, with the fields': {
    happening: {
      kind: 'notice',
      notice: {
        type: 'drift',
        key: 'web',
        drift: { kind: 'edited', imageId: 'image-web', fields: ['description', 'image_tags'] },
      },
    },
    sent: {
      type: 'drift.found',
      time: TIME,
      host: HOST,
      revision: null,
      key: 'web',
      kind: 'edited',
      image_id: 'image-web',
      fields: ['description', 'image_tags'],
    },
  },
  'an image adopted': {
    happening: {
      kind: 'notice',
      notice: { type: 'drift', key: 'web', drift: { kind: 'adopted', imageId: 'image-web' } },
    },
    sent: {
      type: 'drift.found',
      time: TIME,
      host: HOST,
      revision: null,
      key: 'web',
      kind: 'adopted',
      image_id: 'image-web',
      fields: [],
    },
  },
  'a replacement blocked, with the fields that need it': {
    readme: true,
    happening: {
      kind: 'notice',
      revision: REVISION,
      notice: { type: 'blocked', entry: blockedEntry('replace-blocked') },
    },
    sent: {
      type: 'replace.blocked',
      time: TIME,
      host: HOST,
      revision: COMMIT,
      key: 'web',
      image_id: 'c8b1e5a2-3f4d-4b6e-9a7c-1d2e3f4a5b6c',
      fields: ['image_url'],
    },
  },
  'an orphan kept: logged and in /status, not sent': {
    happening: { kind: 'notice', notice: { type: 'blocked', entry: blockedEntry('keep-orphan') } },
    sent: undefined,
  },
  'a failure held: its import.failed was sent': {
    happening: { kind: 'notice', notice: { type: 'blocked', entry: blockedEntry('hold-failed') } },
    sent: undefined,
  },
  'job progress: for logs': {
    happening: {
      kind: 'event',
      event: { type: 'job.progress', time: TIME, key: 'web', status: 'RUNNING', percent: 40 },
    },
    sent: undefined,
  },
  "the executor's replace.blocked: the daemon's notice tells it once": {
    happening: { kind: 'event', event: { type: 'replace.blocked', time: TIME, key: 'web' } },
    sent: undefined,
  },
  'leading after a standby saw another leader': {
    readme: true,
    happening: {
      kind: 'leading',
      previous: {
        host: 'imsync-1',
        pid: 7,
        command: 'imsync watch',
        since: '2026-11-20T08:12:03.000Z',
        id: '0f3c9a1e7b2d4c5a',
      },
    },
    sent: {
      type: 'leader.acquired',
      time: TIME,
      host: HOST,
      revision: null,
      previous_leader: {
        host: 'imsync-1',
        pid: 7,
        command: 'imsync watch',
        since: '2026-11-20T08:12:03.000Z',
        lock_id: '0f3c9a1e7b2d4c5a',
      },
    },
  },
  'leading at start, with nobody seen before': {
    happening: { kind: 'leading' },
    sent: { type: 'leader.acquired', time: TIME, host: HOST, revision: null, previous_leader: null },
  },
  'the lock lost': {
    readme: true,
    happening: {
      kind: 'lost',
      revision: REVISION,
      reason: 'Connection terminated unexpectedly',
    },
    sent: {
      type: 'leader.lost',
      time: TIME,
      host: HOST,
      revision: COMMIT,
      reason: 'Connection terminated unexpectedly',
    },
  },
};

describe('notificationFor: what each happening sends', () => {
  it.each(Object.entries(rows))('%s', (_name, row) => {
    const decision = notificationFor(row.happening, NO_STREAK, HOST, NOW);
    expect(decision.notification).toEqual(row.sent);
    expect(decision.streak).toBe(NO_STREAK);
  });
});

/** A reconcile of `result` that started `second` seconds after NOW and took one second. */
function reconciled(result: LastReconcile['result'], second: number): Happening {
  const time = (s: number) => new Date(NOW + s * 1000).toISOString();
  const error = result === 'error' ? { error: 'GET /v2/cloudimages: 503 APIGW.0308: the system is busy' } : {};
  return {
    kind: 'notice',
    revision: REVISION,
    notice: {
      type: 'reconciled',
      reconcile: { startedAt: time(second), finishedAt: time(second + 1), result, ...error, revision: REVISION },
    },
  };
}

describe('notificationFor: failing reconciles', () => {
  const runs: Record<string, { results: LastReconcile['result'][]; sent: (Partial<Notification> | undefined)[] }> = {
    'two failures, then applied: nothing': {
      results: ['error', 'error', 'applied'],
      sent: [undefined, undefined, undefined],
    },
    [`the ${FAILING_AFTER}rd failure in a row is sent, once; the next success says it recovered`]: {
      results: ['applied', 'error', 'error', 'error', 'error', 'applied', 'applied'],
      sent: [
        undefined,
        undefined,
        undefined,
        {
          type: 'reconcile.failing',
          time: '2026-11-26T10:00:04.000Z',
          failures: 3,
          since: '2026-11-26T10:00:01.000Z',
          error: 'GET /v2/cloudimages: 503 APIGW.0308: the system is busy',
        },
        undefined,
        {
          type: 'reconcile.recovered',
          time: '2026-11-26T10:00:06.000Z',
          failures: 4,
          since: '2026-11-26T10:00:01.000Z',
        },
        undefined,
      ],
    },
    'any result but an error ends a streak, as it ends the backoff: invalid manifests, an interrupted reconcile': {
      results: ['error', 'error', 'invalid', 'error', 'error', 'interrupted', 'error', 'error'],
      sent: [undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined],
    },
    'an interrupted reconcile after the failing one was sent: recovered': {
      results: ['error', 'error', 'error', 'interrupted'],
      sent: [undefined, undefined, { type: 'reconcile.failing' }, { type: 'reconcile.recovered', failures: 3 }],
    },
  };

  it.each(Object.entries(runs))('%s', (_name, { results, sent }) => {
    let streak: Streak = NO_STREAK;
    const notifications = results.map((result, second) => {
      const decision = notificationFor(reconciled(result, second), streak, HOST, NOW);
      streak = decision.streak;
      return decision.notification;
    });
    expect(notifications).toEqual(
      sent.map((expected) =>
        expected === undefined
          ? undefined
          : (expect.objectContaining({ host: HOST, revision: COMMIT, ...expected }) as unknown),
      ),
    );
  });

  it('the README shows the failing and recovered payloads as they are sent', () => {
    let streak: Streak = NO_STREAK;
    const sent = (['error', 'error', 'error', 'applied'] as const).flatMap((result, second) => {
      const decision = notificationFor(reconciled(result, second * 20), streak, HOST, NOW);
      streak = decision.streak;
      return decision.notification ? [decision.notification] : [];
    });
    expect(sent.map((notification) => notification.type)).toEqual(['reconcile.failing', 'reconcile.recovered']);
    for (const notification of sent) expect(readmeExamples().get(notification.type)).toEqual(notification);
  });
});

/** The JSON examples of the README's "Notifications" section, by type. */
function readmeExamples(): Map<string, unknown> {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = /\n### Notifications\n([\s\S]*?)\n### /.exec(readme)?.[1] ?? '';
  const blocks = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => JSON.parse(match[1]!) as Notification);
  return new Map(blocks.map((block) => [block.type, block]));
}

describe('the README', () => {
  it('has an example of every type, each as notificationFor sends it', () => {
    const examples = readmeExamples();
    const shown = Object.values(rows).filter((row) => row.readme);
    for (const row of shown) expect(examples.get(row.sent!.type), row.sent!.type).toEqual(row.sent);
    expect([...examples.keys()].sort()).toEqual(
      [...shown.map((row) => row.sent!.type), 'reconcile.failing', 'reconcile.recovered'].sort(),
    );
  });
});

describe('Slack messages', () => {
  const summaries: Record<string, string> = {
    'import.succeeded': `imsync on imsync-0: web imported, image c8b1e5a2-3f4d-4b6e-9a7c-1d2e3f4a5b6c, in 312 s (commit 4f2a9c1d8e7b)`,
    'import.failed':
      'imsync on imsync-0: import of db failed: IMG.0072 The image file format is not supported. (job ff8080828c4e2a47018c5b0a6e1f0043) (commit 4f2a9c1d8e7b)',
    'drift.found':
      'imsync on imsync-0: web: image deleted out of band (image c8b1e5a2-3f4d-4b6e-9a7c-1d2e3f4a5b6c) (commit 4f2a9c1d8e7b)',
    'replace.blocked':
      'imsync on imsync-0: web: image_url: replacement needed but not allowed (--allow-replace); nothing is done (commit 4f2a9c1d8e7b)',
    'leader.acquired':
      'imsync on imsync-0 leads now: the state lock is its own; imsync watch (pid 7 on imsync-1) led before',
    'leader.lost': 'imsync on imsync-0 lost the state lock and stepped down: Connection terminated unexpectedly',
  };

  it.each(Object.entries(summaries))('%s: one line', (type, summary) => {
    const row = Object.values(rows).find((r) => r.readme && r.sent?.type === type)!;
    expect(summaryOf(row.sent!)).toBe(summary);
    expect(JSON.parse(bodyFor('slack', row.sent!))).toEqual({ text: summary });
    expect(JSON.parse(bodyFor('json', row.sent!))).toEqual(row.sent);
  });

  it("escapes Slack's markup and drops control characters: a reason from IMS links and pings nobody", () => {
    const notification = notificationFor(
      {
        kind: 'event',
        event: {
          type: 'import.failed',
          time: TIME,
          key: 'db',
          code: 'IMG.0001',
          reason: 'see <https://evil.example|here> & <!channel>\n\u001b[31mred',
        },
      },
      NO_STREAK,
      HOST,
      NOW,
    ).notification!;
    const { text } = JSON.parse(bodyFor('slack', notification)) as { text: string };
    expect(text).toBe(
      'imsync on imsync-0: import of db failed: IMG.0001 see &lt;https://evil.example|here&gt; &amp; &lt;!channel&gt; red',
    );
    // The JSON body carries the reason as it is: JSON needs no escaping of its own.
    expect((JSON.parse(bodyFor('json', notification)) as { reason: string }).reason).toContain('<!channel>\n');
  });
});

describe('signatures (Standard Webhooks)', () => {
  const body = bodyFor('json', rows['an import that succeeded, with its commit']!.sent!);
  const id = '6b1f0a4e-8c2d-4e3a-9f5b-7d6c5b4a3e2f';

  it.each([
    [
      'a secret as written: its text is the key',
      'correct horse battery staple',
      Buffer.from('correct horse battery staple'),
    ],
    [
      'a whsec_ secret: the base64 after the prefix is the key',
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64'),
    ],
  ])('%s', (_name, text, key) => {
    const secret = new WebhookSecret(text);
    const headers = deliveryHeaders(body, id, NOW + 999, secret);
    expect(headers).toMatchObject({
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(NOW / 1000),
    });
    // As the README tells a receiver to check it.
    const expected = createHmac('sha256', key)
      .update(`${id}.${NOW / 1000}.${body}`)
      .digest('base64');
    expect(headers['webhook-signature']).toBe(`v1,${expected}`);
    expect(verifyWebhook({ headers, body: Buffer.from(body) }, secret, NOW + 60_000)).toMatchObject({ ok: true });
    // A changed body, or a timestamp moved to replay it, does not verify.
    expect(verifyWebhook({ headers, body: Buffer.from(body.replace('web', 'wep')) }, secret, NOW)).toMatchObject({
      ok: false,
    });
    const moved = { ...headers, 'webhook-timestamp': String(NOW / 1000 + 600) };
    expect(verifyWebhook({ headers: moved, body: Buffer.from(body) }, secret, NOW + 600_000)).toMatchObject({
      ok: false,
    });
  });

  it('without a secret, posts carry the id and timestamp and no signature', () => {
    const headers = deliveryHeaders(body, id, NOW, undefined);
    expect(headers['webhook-id']).toBe(id);
    expect(headers).not.toHaveProperty('webhook-signature');
  });
});

describe('verdictOf: what an answer means', () => {
  it.each([
    [200, 'delivered'],
    [202, 'delivered'],
    [204, 'delivered'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
    [301, 'rejected'],
    [400, 'rejected'],
    [401, 'rejected'],
    [404, 'rejected'],
    [410, 'rejected'],
  ] as const)('%i: %s', (status, verdict) => {
    expect(verdictOf(status)).toBe(verdict);
  });
});

describe('parseNotifyTargets', () => {
  it('posts JSON to a plain URL and Slack messages to slack+URL; logs name only the origin', () => {
    const [ops, slack] = parseNotifyTargets([
      'https://ops.example.com/hooks/imsync?token=s3cret',
      'slack+https://hooks.slack.com/services/T000/B000/XXXXXXXX',
    ]);
    expect(ops).toMatchObject({ format: 'json', label: 'https://ops.example.com' });
    expect(ops!.url.href).toBe('https://ops.example.com/hooks/imsync?token=s3cret');
    expect(slack).toMatchObject({ format: 'slack', label: 'https://hooks.slack.com' });
    expect(slack!.url.href).toBe('https://hooks.slack.com/services/T000/B000/XXXXXXXX');
  });

  it("turns a URL's user part into basic authentication, and takes it out of the URL", () => {
    const [target] = parseNotifyTargets(['http://imsync:p%40ss@127.0.0.1:8080/hook#frag']);
    expect(target!.url.href).toBe('http://127.0.0.1:8080/hook');
    expect(target!.authorization).toBe(`Basic ${Buffer.from('imsync:p@ss').toString('base64')}`);
    expect(target!.label).toBe('http://127.0.0.1:8080');
  });

  it('tells two URLs of one origin apart by their place', () => {
    const labels = parseNotifyTargets(['https://a.example/1', 'https://b.example/', 'https://a.example/2']).map(
      (target) => target.label,
    );
    expect(labels).toEqual(['https://a.example (#1)', 'https://b.example', 'https://a.example (#3)']);
  });

  it.each([
    ['not a URL', 'hooks.slack.com/services/T000/SECRET', /^--notify #2 is not a URL: give https:\/\/HOST\/PATH/],
    ['slack+ with no URL after it', 'slack+SECRET', /^--notify #2 is not a URL/],
    ['another scheme', 'ftp://files.example/SECRET', /^--notify #2 is a ftp: URL: only http:\/\/ and https:\/\//],
    [
      'a user part badly encoded',
      'https://SECRET%zz@ops.example/',
      /^--notify #2 has a user part with a % not followed/,
    ],
  ])('refuses %s, naming its place and never the URL', (_name, value, message) => {
    let thrown: unknown;
    try {
      parseNotifyTargets(['https://ok.example/', value]);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(NotifyTargetError);
    expect((thrown as Error).message).toMatch(message);
    expect((thrown as Error).message).not.toContain('SECRET');
  });
});

// ---------------------------------------------------------------------------------------------
// Delivery.

type Answer = number | Error | 'hang';

interface Post {
  readonly target: string;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly at: number;
}

/** A poster answering from a script per target (200 once it runs out); 'hang' waits for the abort. */
class FakePoster implements Poster {
  readonly posts: Post[] = [];
  private readonly hanging: (() => void)[] = [];

  constructor(
    private readonly clock: FakeClock,
    private readonly script: Record<string, Answer[]>,
  ) {}

  post(target: NotifyTarget, body: string, headers: Readonly<Record<string, string>>, signal: AbortSignal) {
    this.posts.push({ target: target.label, body, headers, at: this.clock.now() });
    const answer = this.script[target.label]?.shift() ?? 200;
    if (answer === 'hang') {
      return new Promise<number>((resolve, reject) => {
        this.hanging.push(() => resolve(200));
        signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      });
    }
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }

  /** Answers 200 to every post left hanging. */
  release(): void {
    for (const resolve of this.hanging.splice(0)) resolve();
  }

  typesTo(target: string): string[] {
    return this.posts
      .filter((post) => post.target === target)
      .map((post) => (JSON.parse(post.body) as Notification).type);
  }
}

/** Wakes each sleeper in turn until none is left: every backoff waited out. */
async function drive(clock: FakeClock): Promise<void> {
  for (;;) {
    await quiesce();
    const next = clock.nextDeadline();
    if (next === undefined) return;
    await clock.advance(next - clock.now());
  }
}

const OPS = 'https://ops.example.com';
const SLACK = 'https://hooks.slack.com';

/** A notifier to OPS (JSON) and SLACK, its posts, logs and counts, on a fake clock; random 0.5. */
function rig(script: Record<string, Answer[]> = {}, options: Partial<typeof DEFAULT_DELIVERY> = {}) {
  const clock = new FakeClock(NOW);
  const poster = new FakePoster(clock, script);
  const logs: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const counts = new Map<string, number>();
  const count = (name: string, by = 1) => counts.set(name, (counts.get(name) ?? 0) + by);
  let ids = 0;
  const notifier = new Notifier(
    parseNotifyTargets(['https://ops.example.com/hook', 'slack+https://hooks.slack.com/services/T/B/X']),
    {
      poster,
      clock,
      random: () => 0.5,
      newId: () => `id-${++ids}`,
      host: HOST,
      secret: new WebhookSecret('correct horse battery staple'),
      log: (level, message, fields = {}) => logs.push({ level, message, fields: fields as Record<string, unknown> }),
      metrics: {
        notified: (result: NotificationResult, by = 1) => count(result, by),
        notificationDropped: () => count('dropped'),
      },
    },
    { ...DEFAULT_DELIVERY, ...options },
  );
  /** An import of `key` succeeded: one notification to each target. */
  const imported = (key: string) =>
    notifier.tell({
      kind: 'event',
      event: {
        type: 'import.succeeded',
        time: new Date(clock.now()).toISOString(),
        key,
        imageId: `image-${key}`,
        seconds: 1,
      },
    });
  const keysTo = (target: string) =>
    poster.posts
      .filter((post) => post.target === target)
      .map((post) => (JSON.parse(post.body) as { key?: string }).key);
  return { clock, poster, logs, counts: () => Object.fromEntries(counts), notifier, imported, keysTo };
}

describe('delivery', () => {
  it('retries 503s with jittered exponential backoff, the same id every time, re-signed; other URLs do not wait', async () => {
    const r = rig({ [OPS]: [503, 503, 200] });
    r.imported('web');
    await quiesce();
    // Slack had it at once; the JSON URL failed once and waits 0.5 x 1 s.
    expect(r.poster.posts.map((post) => [post.target, post.at - NOW])).toEqual([
      [OPS, 0],
      [SLACK, 0],
    ]);
    await r.clock.advance(500);
    await quiesce();
    await r.clock.advance(1000); // 0.5 x 2 s
    await quiesce();
    const tries = r.poster.posts.filter((post) => post.target === OPS);
    expect(tries.map((post) => post.at - NOW)).toEqual([0, 500, 1500]);
    expect(new Set(tries.map((post) => post.headers['webhook-id']))).toEqual(new Set(['id-1']));
    expect(tries.map((post) => post.headers['webhook-timestamp'])).toEqual(
      [0, 0.5, 1.5].map((s) => String(Math.floor(NOW / 1000 + s))),
    );
    for (const post of tries) {
      const verdict = verifyWebhook(
        { headers: post.headers, body: Buffer.from(post.body) },
        new WebhookSecret('correct horse battery staple'),
        post.at,
      );
      expect(verdict).toMatchObject({ ok: true });
    }
    expect(r.counts()).toEqual({ delivered: 2, retried: 2 });
    expect(r.logs.map((line) => [line.message, line.fields.target])).toEqual([
      ['notifications failing; retrying with backoff', OPS],
      ['notifications delivered again', OPS],
    ]);
    expect(r.logs[0]!.fields.error).toBe('answered 503');
  });

  it('retries 408, 429 and posts that got no answer; the backoff grows until one is delivered, then starts again', async () => {
    const r = rig({
      [OPS]: [408, 429, new Error('no answer (ECONNREFUSED)'), new Error('no answer within 10 s'), 200, 503],
    });
    r.imported('web');
    await drive(r.clock);
    r.imported('api');
    await drive(r.clock);
    const times = r.poster.posts.filter((post) => post.target === OPS).map((post) => post.at - NOW);
    // 0.5 x 1, 2, 4, 8 s; then api's 503 waits 0.5 x 1 s again.
    const apiAt = times[5]!;
    expect(times).toEqual([0, 500, 1500, 3500, 7500, apiAt, apiAt + 500]);
    expect(r.keysTo(OPS)).toEqual(['web', 'web', 'web', 'web', 'web', 'api', 'api']);
    expect(r.counts()).toMatchObject({ retried: 5, delivered: 4 });
  });

  it('gives up on a 4xx at once, says so once, and goes on with the next', async () => {
    const r = rig({ [OPS]: [404] });
    r.imported('web');
    r.imported('api');
    await quiesce();
    expect(r.keysTo(OPS)).toEqual(['web', 'api']);
    expect(r.counts()).toEqual({ rejected: 1, delivered: 3 });
    expect(r.logs).toEqual([
      {
        level: 'warn',
        message: 'notification refused by its receiver; it is not sent again',
        fields: { target: OPS, type: 'import.succeeded', status: 404 },
      },
    ]);
  });

  it('gives up after its attempts; the next one waits for the backoff the URL has earned', async () => {
    const r = rig({ [OPS]: [503, 503, 503, 503] }, { maxAttempts: 3 });
    r.imported('web');
    r.imported('api');
    await drive(r.clock);
    const posts = r.poster.posts.filter((post) => post.target === OPS);
    // 0.5 x 1 s, 2 s; given up; 0.5 x 4 s before api, which fails too and waits 0.5 x 8 s.
    expect(posts.map((post) => [(JSON.parse(post.body) as { key: string }).key, post.at - NOW])).toEqual([
      ['web', 0],
      ['web', 500],
      ['web', 1500],
      ['api', 3500],
      ['api', 7500],
    ]);
    expect(r.logs.find((line) => line.message.startsWith('notification given up'))).toEqual({
      level: 'warn',
      message: 'notification given up: 3 attempts failed',
      fields: { target: OPS, type: 'import.succeeded' },
    });
    expect(r.counts()).toEqual({ expired: 1, retried: 3, delivered: 3 });
  });

  it('gives up a notification that waited longer than its maximum age, without posting it', async () => {
    const r = rig({ [OPS]: ['hang'] }, { maxAgeMs: 60_000 });
    r.imported('web');
    r.imported('api');
    await quiesce();
    await r.clock.advance(61_000);
    r.poster.release();
    await quiesce();
    expect(r.keysTo(OPS)).toEqual(['web']);
    expect(r.counts()).toMatchObject({ delivered: 3, expired: 1 });
    expect(r.logs.map((line) => line.message)).toEqual(['notification given up: not delivered within 1 min']);
  });

  it('never waits: a hanging receiver fills its queue, the oldest are dropped and counted, told once', async () => {
    const r = rig({ [OPS]: ['hang'] }, { capacity: 3 });
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) {
      r.imported(key);
      await quiesce();
    }
    // a is in flight; b, c, d filled the queue, and e and f pushed b and c out. Slack had them all.
    expect(r.keysTo(OPS)).toEqual(['a']);
    expect(r.keysTo(SLACK)).toHaveLength(6);
    expect(r.counts()).toEqual({ delivered: 6, dropped: 2 });
    expect(r.logs).toEqual([
      {
        level: 'warn',
        message: 'notifications queue full: the oldest are dropped',
        fields: { target: OPS, capacity: 3 },
      },
    ]);
    r.poster.release();
    await quiesce();
    expect(r.keysTo(OPS)).toEqual(['a', 'd', 'e', 'f']);
  });

  it('at shutdown, gives what is queued one last attempt without backoff, then abandons it; counts what is left', async () => {
    const r = rig({ [OPS]: [503, 503, 'hang'] });
    r.imported('web');
    r.imported('api');
    r.imported('db');
    await quiesce();
    const closed = r.notifier.close(5000);
    await quiesce();
    // web's retry came at once and failed: given up; api's post hangs; db waits behind it.
    expect(r.keysTo(OPS)).toEqual(['web', 'web', 'api']);
    expect(r.poster.posts.at(-1)!.at).toBe(NOW);
    let done = false;
    void closed.then(() => (done = true));
    await r.clock.advance(4999);
    await quiesce();
    expect(done).toBe(false);
    await r.clock.advance(1);
    await closed;
    expect(r.counts()).toEqual({ retried: 1, unsent: 3, delivered: 3 });
    expect(r.logs.at(-1)).toEqual({
      level: 'warn',
      message: 'notifications not sent before shutdown',
      fields: { target: OPS, count: 2 },
    });
    // Nothing is queued after close.
    r.imported('late');
    await quiesce();
    expect(r.keysTo(OPS)).toEqual(['web', 'web', 'api']);
  });

  it('closes at once when everything was delivered', async () => {
    const r = rig();
    r.imported('web');
    await quiesce();
    await r.notifier.close(5000);
    expect(r.clock.now()).toBe(NOW);
    expect(r.counts()).toEqual({ delivered: 2 });
  });
});
