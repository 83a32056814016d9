// The live view: what the daemon's events tell of each attempt, and the event streams that carry
// changes of the /status document to the pages, on a real server of 127.0.0.1.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApplyEvent } from '../../src/apply/events.js';
import { EventStreams, LiveView, progressAfter, type AttemptProgress } from '../../src/watch/live.js';
import type { StatusDocument } from '../../src/watch/status-document.js';
import { openEventStream } from '../support/event-stream.js';

const T0 = '2026-11-26T10:00:00.000Z';
const T1 = '2026-11-26T10:00:30.000Z';
const key = 'web';

describe('progressAfter', () => {
  const rows: [name: string, before: AttemptProgress, event: ApplyEvent, after: AttemptProgress][] = [
    [
      'a new attempt starts afresh',
      { attemptId: 'a0', startedAt: T0, endedAt: T1, percent: 100 },
      { type: 'import.submitting', key, time: T1, attemptId: 'a1' },
      { attemptId: 'a1', startedAt: T1 },
    ],
    [
      'the same attempt sent again keeps its start',
      { attemptId: 'a1', startedAt: T0, percent: 10 },
      { type: 'import.submitting', key, time: T1, attemptId: 'a1' },
      { attemptId: 'a1', startedAt: T0, percent: 10 },
    ],
    [
      'progress sets the percent',
      { attemptId: 'a1', startedAt: T0 },
      { type: 'job.progress', key, time: T1, status: 'RUNNING', percent: 35 },
      { attemptId: 'a1', startedAt: T0, percent: 35 },
    ],
    [
      'progress without a percent changes nothing',
      { attemptId: 'a1', startedAt: T0, percent: 35 },
      { type: 'job.progress', key, time: T1, status: 'saving' },
      { attemptId: 'a1', startedAt: T0, percent: 35 },
    ],
    [
      'a job followed from before this daemon: its percent, and no start',
      {},
      { type: 'job.progress', key, time: T1, status: 'RUNNING', percent: 60 },
      { percent: 60 },
    ],
    [
      'success is 100% and an end',
      { attemptId: 'a1', startedAt: T0, percent: 90 },
      { type: 'import.succeeded', key, time: T1, imageId: 'img', seconds: 30 },
      { attemptId: 'a1', startedAt: T0, percent: 100, endedAt: T1 },
    ],
    [
      'a failure is an end at the percent reached',
      { attemptId: 'a1', startedAt: T0, percent: 20 },
      { type: 'import.failed', key, time: T1, code: 'IMG.0057', reason: 'not found' },
      { attemptId: 'a1', startedAt: T0, percent: 20, endedAt: T1 },
    ],
    [
      'a job left running is still running',
      { attemptId: 'a1', startedAt: T0, percent: 20 },
      { type: 'job.left-running', key, time: T1, seconds: 30 },
      { attemptId: 'a1', startedAt: T0, percent: 20 },
    ],
  ];
  it.each(rows)('%s', (_, before, event, after) => {
    expect(progressAfter(before, event)).toEqual(after);
  });
});

describe('LiveView', () => {
  it('tells the fields of the attempt it saw, nulls for another, and its listeners of every change', () => {
    const live = new LiveView();
    let told = 0;
    const stop = live.onChange(() => told++);
    live.event({ type: 'import.submitting', key, time: T0, attemptId: 'a1' });
    live.event({ type: 'job.progress', key, time: T1, status: 'RUNNING', percent: 35 });
    live.event({ type: 'apply.interrupted', time: T1, reason: 'shutdown' });
    live.changed();
    expect(told).toBe(4);
    expect(live.of(key, 'a1')).toEqual({ progress_percent: 35, attempt_started_at: T0, attempt_ended_at: null });
    expect(live.of(key, 'a2')).toEqual({ progress_percent: null, attempt_started_at: null, attempt_ended_at: null });
    expect(live.of('db', 'a1')).toEqual({ progress_percent: null, attempt_started_at: null, attempt_ended_at: null });
    stop();
    live.changed();
    expect(told).toBe(4);
  });
});

describe('EventStreams', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(
      servers.splice(0).map((server) => {
        server.closeAllConnections();
        return new Promise((resolve) => server.close(resolve));
      }),
    );
  });

  /** Streams of the document `current()` returns, on a server of their own. */
  async function streamsOf(current: () => StatusDocument, heartbeatMs = 60_000) {
    const streams = new EventStreams(current, { maxStreams: 4, heartbeatMs, coalesceMs: 20 });
    const server = createServer((req, res) => streams.serve(req, res));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { streams, port: (server.address() as AddressInfo).port };
  }

  const standby = (host: string): StatusDocument => ({
    role: 'standby',
    ready: true,
    leader: { host, pid: 1, command: 'imsync watch', since: T0, lock_id: 'l' },
    source: { kind: 'directory', paths: [] },
    state: 'memory',
  });

  it('sends a comment every heartbeatMs while nothing changes', async () => {
    const { port } = await streamsOf(() => standby('a'), 30);
    const stream = await openEventStream(port);
    expect((await stream.next()).event).toBe('status');
    expect(await stream.next()).toEqual({ event: ':', data: 'heartbeat' });
    expect(await stream.next()).toEqual({ event: ':', data: 'heartbeat' });
    stream.close();
  });

  it('sends changes made together as one delta, to every stream, and forgets the streams closed', async () => {
    let host = 'a';
    const { streams, port } = await streamsOf(() => standby(host));
    const pages = [await openEventStream(port), await openEventStream(port)];
    for (const page of pages) expect(JSON.parse((await page.next()).data)).toMatchObject({ leader: { host: 'a' } });
    host = 'b';
    streams.changed();
    host = 'c';
    streams.changed();
    for (const page of pages) {
      const delta = await page.next();
      expect(delta.event).toBe('delta');
      expect(JSON.parse(delta.data)).toMatchObject({ leader: { host: 'c' }, images: {}, removed_images: [] });
    }
    expect(streams.size).toBe(2);
    for (const page of pages) page.close();
    await waitFor(() => streams.size === 0);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
