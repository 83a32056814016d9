// A client of a server-sent event stream for tests: GET on a connection of its own, each event
// (and each comment, as `:`) read as it comes.
import { request, type IncomingHttpHeaders } from 'node:http';

export interface StreamEvent {
  /** The event's name ('message' when it has none), or ':' for a comment. */
  readonly event: string;
  readonly data: string;
}

export interface EventStreamClient {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The whole body, for an answer that is not a stream. */
  readonly body: Promise<string>;
  /** The next event not read yet; rejects when the stream ends first. */
  next(): Promise<StreamEvent>;
  /** Resolves when the server has ended the stream. */
  readonly ended: Promise<void>;
  close(): void;
}

export function openEventStream(
  port: number,
  path = '/events',
  host = `127.0.0.1:${port}`,
): Promise<EventStreamClient> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      headers: { host, accept: 'text/event-stream' },
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const queued: StreamEvent[] = [];
      const waiting: { resolve: (event: StreamEvent) => void; reject: (error: Error) => void }[] = [];
      let buffer = '';
      let whole = '';
      let over = false;
      const push = (event: StreamEvent) => {
        const waiter = waiting.shift();
        if (waiter) waiter.resolve(event);
        else queued.push(event);
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        whole += chunk;
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split('\n');
          for (const line of lines.filter((l) => l.startsWith(':'))) push({ event: ':', data: line.slice(1).trim() });
          const field = (name: string) =>
            lines.filter((l) => l.startsWith(`${name}:`)).map((l) => l.slice(name.length + 1).replace(/^ /, ''));
          const data = field('data');
          if (data.length > 0) push({ event: field('event')[0] ?? 'message', data: data.join('\n') });
        }
      });
      const ended = new Promise<void>((done) =>
        res.on('close', () => {
          over = true;
          for (const waiter of waiting.splice(0)) waiter.reject(new Error('the stream ended'));
          done();
        }),
      );
      resolve({
        status: res.statusCode!,
        headers: res.headers,
        body: ended.then(() => whole),
        next: () => {
          const event = queued.shift();
          if (event) return Promise.resolve(event);
          if (over) return Promise.reject(new Error('the stream ended'));
          return new Promise((resolveNext, rejectNext) => waiting.push({ resolve: resolveNext, reject: rejectNext }));
        },
        ended,
        close: () => req.destroy(),
      });
    });
    req.end();
  });
}
