import pc from 'picocolors';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ApplyEvent } from '../../src/apply/events.js';
import type { Output } from '../../src/cli/output.js';
import { createProgressRenderer, progressMode } from '../../src/cli/render-apply.js';
import { fakeOutput } from '../support/fake-output.js';

const T0 = Date.parse('2026-11-26T10:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

const JOB = {
  web: 'ff8080819a3c4e7d019a3c5b2e8a0012',
  app: 'ff8080819a3c4e7d019a3c5b2f1b0013',
  db: 'ff8080819a3c4e7d019a3c5b30c40014',
  legacy: 'ff8080819a20aa01019a21b7c6d50001',
};
const IMAGE = {
  web: '4f0c6a52-2d1e-4f43-9b7a-0c1d2e3f4a5b',
  app: '7b3e1f00-8c2d-4b6a-a1e2-3f4a5b6c7d8e',
  cache: '0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d',
  monitor: 'd1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a',
};
const BITMAP = 'The bitmap file of the image is invalid.';

/** An apply of 4 imports, 1 update and 1 import followed from an earlier run that is still going at the end. */
const EVENTS: readonly ApplyEvent[] = [
  { type: 'apply.started', time: at(0), imports: 4, updates: 1, deletes: 0, following: 1, parallelism: 4 },
  { type: 'job.progress', time: at(0.1), key: 'legacy-win', jobId: JOB.legacy, status: 'RUNNING' },
  { type: 'import.submitting', time: at(0.2), key: 'web-base', attemptId: 'a-web' },
  { type: 'import.submitting', time: at(0.2), key: 'app-base', attemptId: 'a-app' },
  { type: 'import.submitting', time: at(0.2), key: 'db-bms', attemptId: 'a-db' },
  { type: 'import.submitting', time: at(0.2), key: 'cache-base', attemptId: 'a-cache' },
  { type: 'import.submitted', time: at(0.6), key: 'web-base', jobId: JOB.web },
  { type: 'import.submitted', time: at(0.7), key: 'app-base', jobId: JOB.app },
  { type: 'import.submitted', time: at(0.9), key: 'db-bms', jobId: JOB.db },
  { type: 'update.succeeded', time: at(1.2), key: 'monitor-agent', imageId: IMAGE.monitor, fields: ['name', 'tags'] },
  { type: 'job.progress', time: at(5), key: 'web-base', jobId: JOB.web, status: 'INIT' },
  { type: 'job.progress', time: at(5), key: 'app-base', jobId: JOB.app, status: 'RUNNING' },
  { type: 'job.progress', time: at(5), key: 'db-bms', jobId: JOB.db, status: 'RUNNING' },
  { type: 'job.progress', time: at(5.1), key: 'legacy-win', jobId: JOB.legacy, status: 'RUNNING' },
  { type: 'job.progress', time: at(10), key: 'web-base', jobId: JOB.web, status: 'RUNNING' },
  { type: 'job.progress', time: at(10), key: 'app-base', jobId: JOB.app, status: 'RUNNING' },
  { type: 'import.ambiguous', time: at(10.2), key: 'cache-base', attemptId: 'a-cache', reason: 'no answer in 10s' },
  { type: 'import.settled', time: at(11.5), key: 'cache-base', attemptId: 'a-cache', found: true },
  { type: 'job.progress', time: at(12), key: 'cache-base', status: 'saving' },
  { type: 'job.progress', time: at(15), key: 'web-base', jobId: JOB.web, status: 'RUNNING' },
  { type: 'import.succeeded', time: at(17.9), key: 'web-base', imageId: IMAGE.web, jobId: JOB.web, seconds: 17.3 },
  { type: 'import.failed', time: at(18), key: 'db-bms', jobId: JOB.db, code: 'IMG.0057', reason: BITMAP },
  { type: 'import.succeeded', time: at(20.4), key: 'app-base', imageId: IMAGE.app, jobId: JOB.app, seconds: 19.7 },
  { type: 'import.succeeded', time: at(22), key: 'cache-base', imageId: IMAGE.cache, seconds: 21.8 },
  {
    type: 'apply.finished',
    time: at(23.4),
    summary: {
      imported: 3,
      adopted: 0,
      blocked: 0,
      updated: 1,
      deleted: 0,
      failed: 1,
      stillRunning: 1,
      seconds: 23.4,
      stateWrites: 12,
      stateBytes: 9000,
    },
  },
];

/** Events the main sequence does not have: a delete, a failed update, an interruption. */
const OTHER_EVENTS: readonly ApplyEvent[] = [
  { type: 'delete.succeeded', time: at(1), key: 'old-web', imageId: IMAGE.web },
  {
    type: 'action.failed',
    time: at(2),
    key: 'monitor-agent',
    action: 'update',
    code: 'IMG.0010',
    reason: 'The image does not exist.',
  },
  { type: 'apply.interrupted', time: at(3), reason: 'SIGINT' },
];

function fakeTerminal(): { stream: NodeJS.WriteStream; chunks: string[] } {
  const chunks: string[] = [];
  const stream = { isTTY: true, columns: 100, rows: 40, write: (chunk: string) => chunks.push(chunk) > 0 };
  return { stream: stream as unknown as NodeJS.WriteStream, chunks };
}

const frames = (chunks: readonly string[]) =>
  chunks.map((chunk) => stripVTControlCharacters(chunk)).filter((chunk) => chunk.startsWith('Imports:'));

describe('progressMode', () => {
  it('is json with --json, else live on a terminal and plain elsewhere', () => {
    expect(progressMode(true, true)).toBe('json');
    expect(progressMode(false, true)).toBe('live');
    expect(progressMode(false, false)).toBe('plain');
  });
});

describe('a run that stops waiting (--wait-timeout)', () => {
  it('says a job is still running, and an import IMS never answered is not settled, each left for the next apply', () => {
    const { output, text } = fakeOutput();
    const renderer = createProgressRenderer('plain', output);
    renderer.emit({ type: 'job.left-running', time: at(1), key: 'slow', jobId: JOB.web, seconds: 30 });
    renderer.emit({ type: 'job.left-running', time: at(2), key: 'unanswered', seconds: 30 });
    renderer.close();
    expect(text()).toContain('slow  still running after 30s (--wait-timeout): recorded, and the next apply follows it');
    expect(text()).toContain(
      'unanswered  not settled after 30s (--wait-timeout): IMS has not shown whether it took the import; recorded, and the next apply looks for it by its tag',
    );
  });
});

describe('json mode', () => {
  it('writes every event as one JSON object per line, with snake_case fields', () => {
    const { output, text } = fakeOutput();
    const renderer = createProgressRenderer('json', output);
    EVENTS.forEach(renderer.emit);
    renderer.close();

    const lines = text().trimEnd().split('\n');
    expect(lines).toHaveLength(EVENTS.length);
    const objects = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const object of objects) {
      for (const field of Object.keys(object)) expect(field).toMatch(/^[a-z]+(_[a-z]+)*$/);
    }
    expect(objects[0]).toEqual({
      type: 'apply.started',
      time: '2026-11-26T10:00:00.000Z',
      imports: 4,
      updates: 1,
      deletes: 0,
      following: 1,
      parallelism: 4,
    });
    expect(objects[2]).toEqual({ type: 'import.submitting', time: at(0.2), key: 'web-base', attempt_id: 'a-web' });
    expect(objects[6]).toEqual({ type: 'import.submitted', time: at(0.6), key: 'web-base', job_id: JOB.web });
    expect(objects[9]).toEqual({
      type: 'update.succeeded',
      time: at(1.2),
      key: 'monitor-agent',
      image_id: IMAGE.monitor,
      fields: ['name', 'tags'],
    });
    expect(objects[16]).toEqual({
      type: 'import.ambiguous',
      time: at(10.2),
      key: 'cache-base',
      attempt_id: 'a-cache',
      reason: 'no answer in 10s',
    });
    expect(objects[17]).toEqual({
      type: 'import.settled',
      time: at(11.5),
      key: 'cache-base',
      attempt_id: 'a-cache',
      found: true,
    });
    expect(objects[18]).toEqual({
      type: 'job.progress',
      time: at(12),
      key: 'cache-base',
      job_id: null,
      status: 'saving',
      percent: null,
    });
    expect(objects[21]).toEqual({
      type: 'import.failed',
      time: at(18),
      key: 'db-bms',
      job_id: JOB.db,
      code: 'IMG.0057',
      reason: BITMAP,
    });
    expect(objects[23]).toEqual({
      type: 'import.succeeded',
      time: at(22),
      key: 'cache-base',
      image_id: IMAGE.cache,
      job_id: null,
      seconds: 21.8,
    });
    expect(objects.at(-1)).toEqual({
      type: 'apply.finished',
      time: at(23.4),
      summary: {
        imported: 3,
        adopted: 0,
        blocked: 0,
        updated: 1,
        deleted: 0,
        failed: 1,
        still_running: 1,
        seconds: 23.4,
        state_writes: 12,
        state_bytes: 9000,
      },
    });
  });

  it('maps the other events too: deletes, failed actions, interruption', () => {
    const { output, text } = fakeOutput();
    const renderer = createProgressRenderer('json', output);
    for (const event of OTHER_EVENTS) renderer.emit(event);
    expect(
      text()
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown),
    ).toEqual([
      { type: 'delete.succeeded', time: at(1), key: 'old-web', image_id: IMAGE.web },
      {
        type: 'action.failed',
        time: at(2),
        key: 'monitor-agent',
        action: 'update',
        code: 'IMG.0010',
        reason: 'The image does not exist.',
      },
      { type: 'apply.interrupted', time: at(3), reason: 'SIGINT' },
    ]);
  });
});

describe('plain mode', () => {
  it('prints a line per meaningful event, status changes only, then the summary and the failures again', () => {
    const { output, text } = fakeOutput();
    const renderer = createProgressRenderer('plain', output);
    EVENTS.forEach(renderer.emit);
    renderer.close();

    expect(text().split('\n')).toEqual([
      '   0.0s  apply started: 4 to import, 1 to update, 0 to delete, 1 to follow from an earlier run (4 at a time)',
      `   0.1s  legacy-win  job RUNNING`,
      `   0.6s  web-base  submitted (job ${JOB.web})`,
      `   0.7s  app-base  submitted (job ${JOB.app})`,
      `   0.9s  db-bms  submitted (job ${JOB.db})`,
      `   1.2s  monitor-agent  updated image ${IMAGE.monitor} (name, tags)`,
      `   5.0s  web-base  job INIT`,
      `   5.0s  app-base  job RUNNING`,
      `   5.0s  db-bms  job RUNNING`,
      `  10.0s  web-base  job RUNNING`,
      '  10.2s  cache-base  no answer to the import (no answer in 10s); looking it up by its tag before anything is sent again',
      '  11.5s  cache-base  found by its tag: the import did arrive; following it',
      '  12.0s  cache-base  image saving',
      `  17.9s  web-base  imported as image ${IMAGE.web} in 17.3s`,
      `  18.0s  db-bms  FAILED IMG.0057: ${BITMAP} (job ${JOB.db})`,
      `  20.4s  app-base  imported as image ${IMAGE.app} in 19.7s`,
      `  22.0s  cache-base  imported as image ${IMAGE.cache} in 21.8s`,
      '',
      'Apply complete: 3 imported, 1 updated, 0 deleted, 1 failed in 23.4s; 1 still running: apply again to follow them.',
      '',
      'Failures:',
      `  db-bms  import  IMG.0057: ${BITMAP} (job ${JOB.db})`,
      '',
    ]);
  });

  it('says when the import was never received, lists failed updates, and names an interrupted apply', () => {
    const { output, text } = fakeOutput();
    const renderer = createProgressRenderer('plain', output);
    renderer.emit({ type: 'import.settled', time: at(0), key: 'web-base', attemptId: 'a', found: false });
    for (const event of OTHER_EVENTS) renderer.emit(event);
    renderer.emit({
      type: 'apply.finished',
      time: at(3.2),
      summary: {
        imported: 0,
        adopted: 0,
        blocked: 0,
        updated: 0,
        deleted: 1,
        failed: 1,
        stillRunning: 0,
        seconds: 3.2,
        stateWrites: 2,
        stateBytes: 800,
      },
    });
    expect(text().split('\n')).toEqual([
      '   0.0s  web-base  not found by its tag: the import never arrived and will be sent again',
      `   1.0s  old-web  deleted image ${IMAGE.web}`,
      '   2.0s  monitor-agent  update FAILED IMG.0010: The image does not exist.',
      '   3.0s  interrupted (SIGINT): imports already submitted go on, and the next apply follows them',
      '',
      'Apply interrupted: 0 imported, 0 updated, 1 deleted, 1 failed in 3.2s.',
      '',
      'Failures:',
      '  monitor-agent  update  IMG.0010: The image does not exist.',
      '',
    ]);
  });

  it('colours successes green, failures red and ambiguity yellow', () => {
    const chunks: string[] = [];
    const output: Output = { out: (t) => void chunks.push(t), err: () => {}, color: pc.createColors(true) };
    const renderer = createProgressRenderer('plain', output);
    EVENTS.forEach(renderer.emit);
    const text = chunks.join('');
    expect(text).toContain(`\x1b[32mimported\x1b[39m as image ${IMAGE.web}`);
    expect(text).toContain('\x1b[31mFAILED\x1b[39m IMG.0057');
    expect(text).toContain('\x1b[33mno answer to the import (no answer in 10s)\x1b[39m');
  });
});

describe('live mode', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('keeps permanent lines above the view, ends on the final frame, then prints the summary', () => {
    const { output, text } = fakeOutput();
    const { stream, chunks } = fakeTerminal();
    let clock = T0;
    const renderer = createProgressRenderer('live', output, () => clock, stream);
    for (const event of EVENTS) {
      clock = Date.parse(event.time);
      vi.advanceTimersByTime(0);
      renderer.emit(event);
    }
    renderer.close();

    const terminal = stripVTControlCharacters(chunks.join(''));
    const failure = `  18.0s  db-bms  FAILED IMG.0057: ${BITMAP} (job ${JOB.db})\n`;
    expect(terminal.split(failure)).toHaveLength(2); // once, in the scrollback
    expect(terminal).toContain('  10.2s  cache-base  no answer to the import (no answer in 10s)');
    expect(terminal).not.toContain('submitted (job'); // progress lives in the view only

    const last = frames(chunks).at(-1);
    expect(last).toBe(
      [
        'Imports: 0 waiting, 0 submitting, 1 running, 0 settling, 3 succeeded, 1 failed',
        '  elapsed 23s, about 0s left',
        '  legacy-win  RUNNING        23s  job …c6d50001',
        '',
      ].join('\n'),
    );
    expect(terminal.lastIndexOf(failure)).toBeLessThan(terminal.lastIndexOf('Imports:'));
    expect(text()).toBe(
      [
        '',
        'Apply complete: 3 imported, 1 updated, 0 deleted, 1 failed in 23.4s; 1 still running: apply again to follow them.',
        '',
        'Failures:',
        `  db-bms  import  IMG.0057: ${BITMAP} (job ${JOB.db})`,
        '',
      ].join('\n'),
    );
  });

  it('shows each import in flight with its status and time since submission', () => {
    const { output } = fakeOutput();
    const { stream, chunks } = fakeTerminal();
    let clock = T0;
    const renderer = createProgressRenderer('live', output, () => clock, stream);
    for (const event of EVENTS.slice(0, 17)) {
      clock = Date.parse(event.time);
      renderer.emit(event);
    }
    clock = T0 + 10_300;
    vi.advanceTimersByTime(100); // the trailing frame after the burst
    expect(frames(chunks).at(-1)).toBe(
      [
        'Imports: 0 waiting, 0 submitting, 4 running, 1 settling, 0 succeeded, 0 failed',
        '  elapsed 10s',
        '  legacy-win  RUNNING        10s  job …c6d50001',
        '  cache-base  looking up     10s',
        '  web-base    RUNNING         9s  job …2e8a0012',
        '  app-base    RUNNING         9s  job …2f1b0013',
        '  db-bms      RUNNING         9s  job …30c40014',
        '',
      ].join('\n'),
    );
    clock = T0 + 75_000;
    vi.advanceTimersByTime(1000); // no event, yet the times keep counting
    const patch = stripVTControlCharacters(chunks.at(-1) ?? '');
    expect(patch).toContain('  legacy-win  RUNNING      1m14s  job …c6d50001');
    expect(patch).toContain('  db-bms      RUNNING      1m14s  job …30c40014');
    renderer.close();
  });

  it('draws at most one frame per 100 ms, and caps the list of imports in flight', () => {
    const { output } = fakeOutput();
    const { stream, chunks } = fakeTerminal();
    let clock = T0;
    const renderer = createProgressRenderer('live', output, () => clock, stream);
    renderer.emit({
      type: 'apply.started',
      time: at(0),
      imports: 60,
      updates: 0,
      deletes: 0,
      following: 0,
      parallelism: 50,
    });
    expect(frames(chunks)).toHaveLength(1);
    chunks.length = 0; // from here on every write is a frame: progress is not kept above the view
    for (let i = 0; i < 50; i++) {
      clock = T0 + 1 + i;
      renderer.emit({ type: 'import.submitted', time: at((1 + i) / 1000), key: `image-${i}`, jobId: `job-${i}` });
    }
    expect(chunks).toHaveLength(0); // within 100 ms of the first frame
    clock = T0 + 100;
    vi.advanceTimersByTime(100);
    expect(chunks).toHaveLength(1); // one trailing frame for the whole burst
    const drawn = frames(chunks);
    const last = drawn.at(-1)?.split('\n') ?? [];
    expect(last[0]).toBe('Imports: 10 waiting, 0 submitting, 50 running, 0 settling, 0 succeeded, 0 failed');
    expect(last[1]).toBe('  elapsed 0s');
    expect(last.slice(2, 4)).toEqual([
      '  image-0   submitted       0s  job job-0',
      '  image-1   submitted       0s  job job-1',
    ]);
    expect(last.slice(-2)).toEqual(['  … and 35 more', '']);
    expect(last).toHaveLength(2 + 15 + 1 + 1);
    renderer.close();
  });
});

describe('progress: percent, time left and heartbeat', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  const progress: ApplyEvent[] = [
    { type: 'apply.started', time: at(0), imports: 2, updates: 0, deletes: 0, following: 0, parallelism: 4 },
    { type: 'import.submitting', time: at(0), key: 'web', attemptId: 'a-web' },
    { type: 'import.submitted', time: at(0), key: 'web', jobId: JOB.web },
    { type: 'import.submitting', time: at(0), key: 'db', attemptId: 'a-db' },
    { type: 'import.submitted', time: at(0), key: 'db', jobId: JOB.db },
    { type: 'job.progress', time: at(60), key: 'web', jobId: JOB.web, status: 'RUNNING', percent: 50 },
    { type: 'job.progress', time: at(60), key: 'db', jobId: JOB.db, status: 'RUNNING', percent: 20 },
  ];

  it('live: each import with its percent; the time left from the slowest percent', () => {
    const { output } = fakeOutput();
    const { stream, chunks } = fakeTerminal();
    let clock = T0;
    const renderer = createProgressRenderer('live', output, () => clock, stream);
    for (const event of progress) {
      clock = Date.parse(event.time);
      renderer.emit(event);
    }
    vi.advanceTimersByTime(100);
    // db: 20% in 60 s, so 240 s left; web: 50%, 60 s left.
    expect(frames(chunks).at(-1)).toBe(
      [
        'Imports: 0 waiting, 0 submitting, 2 running, 0 settling, 0 succeeded, 0 failed',
        '  elapsed 1m00s, about 4m00s left',
        `  web  RUNNING 50%   1m00s  job …2e8a0012`,
        `  db   RUNNING 20%   1m00s  job …30c40014`,
        '',
      ].join('\n'),
    );
    renderer.close();
  });

  it('plain: a heartbeat line at least every 30 s while imports run, with percents and the time left', () => {
    const { output, text } = fakeOutput();
    let clock = T0;
    const renderer = createProgressRenderer('plain', output, () => clock);
    for (const event of progress) renderer.emit(event);
    clock = T0 + 29_000;
    vi.advanceTimersByTime(29_000);
    expect(text()).not.toContain('running (');
    clock = T0 + 61_000;
    vi.advanceTimersByTime(2_000);
    expect(
      text()
        .split('\n')
        .filter((line) => line.includes('running (')),
    ).toEqual(['  61.0s  2 running (web 50%, db 20%), 0 done; elapsed 1m01s, about 4m04s left']);
    clock = T0 + 80_000;
    vi.advanceTimersByTime(19_000);
    expect(
      text()
        .split('\n')
        .filter((line) => line.includes('running (')),
    ).toHaveLength(1); // 30 s not yet up
    renderer.close();
  });
});

describe('texts from IMS', () => {
  /** A reason as a hostile or broken answer may word it: a title change, a screen clear, a forged line. */
  const HOSTILE = '\u001b]0;owned\u0007\u001b[2Jdisk\r\n   9.9s  db-bms  imported \u009b31mred\u001b[0m';
  const failed: ApplyEvent = {
    type: 'import.failed',
    time: at(1),
    key: 'db-bms',
    jobId: JOB.db,
    code: 'IMG.0057',
    reason: HOSTILE,
  };

  it('plain: shows a reason on one printable line, its escapes gone', () => {
    const { output, text } = fakeOutput();
    const renderer = createProgressRenderer('plain', output);
    renderer.emit(failed);
    renderer.close();
    expect(text()).toBe(`   0.0s  db-bms  FAILED IMG.0057: disk    9.9s  db-bms  imported red (job ${JOB.db})\n`);
  });

  it('live: keeps the same line above the view, its escapes gone', () => {
    vi.useFakeTimers();
    try {
      const { output } = fakeOutput();
      const { stream, chunks } = fakeTerminal();
      const renderer = createProgressRenderer('live', output, () => T0, stream);
      renderer.emit(failed);
      renderer.close();
      const written = chunks.join('');
      expect(written).not.toContain('\u001b]');
      expect(written).not.toContain('\u001b[2J');
      expect(written).not.toContain('\u009b');
      expect(written).toContain('FAILED IMG.0057: disk    9.9s  db-bms  imported red');
    } finally {
      vi.useRealTimers();
    }
  });

  it('json: keeps the reason as it was, every control character escaped', () => {
    const { output, text } = fakeOutput();
    createProgressRenderer('json', output).emit(failed);
    // eslint-disable-next-line no-control-regex -- control characters are what it looks for
    expect(text()).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect((JSON.parse(text()) as { reason: string }).reason).toBe(HOSTILE);
  });
});
