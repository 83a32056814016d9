// A git smart-HTTP server of a test's own: `git http-backend` (CGI) behind a node server on
// 127.0.0.1, serving the bare repositories under a directory (test/support/git-repo.ts makes
// them), with basic auth when given a user.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const HTTP_BACKEND = '/usr/lib/git-core/git-http-backend';
export const REALM = 'imsync-test';

export interface GitServerOptions {
  /** The directory whose bare repositories are served: `<url>/<name>.git` is `<root>/<name>.git`. */
  readonly root: string;
  /** Given, every request must carry it and the password (basic auth), else gets 401. */
  readonly user?: string;
  readonly password?: string;
}

export interface ServedRequest {
  readonly method: string;
  /** The URL's path, without its query. */
  readonly path: string;
  readonly query: string;
  readonly status: number;
  /** Sent the configured user and password. */
  readonly authenticated: boolean;
  /** The request body's Content-Encoding (git gzips a large negotiation). */
  readonly encoding?: string;
}

export interface GitServer {
  /** http://127.0.0.1:PORT, without a trailing slash. */
  readonly url: string;
  /** Every request answered so far, in order. */
  readonly requests: readonly ServedRequest[];
  close(): Promise<void>;
}

/** The header value that authenticates `user` with `password`. */
export const basicAuthorization = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export async function startGitServer({ root, user, password }: GitServerOptions): Promise<GitServer> {
  const expected = user !== undefined ? basicAuthorization(user, password ?? '') : undefined;
  const requests: ServedRequest[] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const authenticated = expected !== undefined && request.headers.authorization === expected;
    const encoding = request.headers['content-encoding'];
    // Recorded as the status is sent: before the client has read a byte, so before git exits.
    const answer = (status: number, headers: Record<string, string>) => {
      requests.push({
        method: request.method ?? '',
        path: url.pathname,
        query: url.search.slice(1),
        status,
        authenticated,
        ...(encoding !== undefined ? { encoding } : {}),
      });
      response.writeHead(status, headers);
    };
    if (expected !== undefined && !authenticated) {
      request.resume();
      answer(401, { 'WWW-Authenticate': `Basic realm="${REALM}"`, 'Content-Type': 'text/plain' });
      response.end('authentication required\n');
      return;
    }
    serveThroughBackend(request, response, answer, {
      GIT_PROJECT_ROOT: root,
      PATH_INFO: pathInfo(url),
      QUERY_STRING: url.search.slice(1),
      REMOTE_USER: authenticated ? user : undefined,
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      // git keeps its connections alive; close() alone would wait for them to time out.
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** Runs http-backend for one request: the body streamed to its stdin, its stdout a CGI response. */
function serveThroughBackend(
  request: IncomingMessage,
  response: ServerResponse,
  answer: (status: number, headers: Record<string, string>) => void,
  target: { GIT_PROJECT_ROOT: string; PATH_INFO: string; QUERY_STRING: string; REMOTE_USER: string | undefined },
): void {
  const header = (name: string) => {
    const value = request.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  const cgi: Record<string, string | undefined> = {
    ...target,
    GATEWAY_INTERFACE: 'CGI/1.1',
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: request.method,
    CONTENT_TYPE: header('content-type'),
    // Absent for a chunked body: http-backend then reads to the end.
    CONTENT_LENGTH: header('content-length'),
    // http-backend inflates a gzip body itself.
    HTTP_CONTENT_ENCODING: header('content-encoding'),
    // Protocol v2 is asked for with this header and reaches git through this variable.
    GIT_PROTOCOL: header('git-protocol'),
    REMOTE_ADDR: request.socket.remoteAddress,
  };
  const backend = spawn(HTTP_BACKEND, [], {
    env: {
      PATH: process.env.PATH,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      ...Object.fromEntries(Object.entries(cgi).filter(([, value]) => value !== undefined)),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // It may exit before reading all of a body it refuses.
  backend.stdin.on('error', () => undefined);
  request.pipe(backend.stdin);
  let stderr = '';
  backend.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  backend.on('error', (error) => fail(`${HTTP_BACKEND}: ${error.message}`));
  backend.on('close', (code) => {
    if (!response.headersSent) fail(`http-backend exited with ${code} before its headers: ${stderr}`);
  });

  let head = Buffer.alloc(0);
  const readHead = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const text = head.toString('latin1');
    const end = /\r?\n\r?\n/.exec(text);
    if (end === null) return;
    backend.stdout.off('data', readHead);
    const { status, headers } = parseCgiHead(text.slice(0, end.index));
    answer(status, headers);
    response.write(head.subarray(end.index + end[0].length));
    backend.stdout.pipe(response);
  };
  backend.stdout.on('data', readHead);

  function fail(message: string) {
    if (response.headersSent) return void response.destroy();
    answer(502, { 'Content-Type': 'text/plain' });
    response.end(`${message}\n`);
  }
}

/** The decoded path, as CGI gives it (http-backend refuses one with `..` in it); a malformed one as sent. */
function pathInfo(url: URL): string {
  try {
    return decodeURIComponent(url.pathname);
  } catch {
    return url.pathname;
  }
}

/** A CGI response's head: `Status: 404 Not Found` (200 when absent) and the headers to send. */
function parseCgiHead(head: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
    else headers[name] = value;
  }
  return { status, headers };
}
