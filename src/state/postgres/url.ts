// A PostgreSQL state location (`postgres://user:password@host:port/database?schema=NAME&sslmode=...`)
// as node-postgres' connection settings: pure, so that every mapping is tested without a server.
// The password goes into the settings only; `location`, the URL shown in messages, never has it.
import type { ClientConfig } from 'pg';

export const DEFAULT_SCHEMA = 'imsync';
/** How long connecting may take before the state counts as unreachable (libpq's connect_timeout, in seconds). */
const DEFAULT_CONNECT_TIMEOUT_S = 10;
/** A query unanswered this long fails, rather than leave a command waiting on a server gone silent. */
const QUERY_TIMEOUT_MS = 60_000;
const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;
const SSL_MODES = ['disable', 'no-verify', 'require', 'verify-ca', 'verify-full'] as const;
type SslMode = (typeof SSL_MODES)[number];
const PARAMETERS = ['schema', 'sslmode', 'sslrootcert', 'connect_timeout', 'application_name'];

/** A location that cannot be used; the message never quotes the URL, which may hold a password. */
export class LocationError extends Error {
  override readonly name = 'LocationError';
}

export interface PostgresTarget {
  /** The URL without its password, for messages. */
  readonly location: string;
  /** The schema that holds imsync's tables. */
  readonly schema: string;
  /** node-postgres' settings, TLS included; the CA's contents are read when connecting. */
  readonly client: ClientConfig;
  readonly sslMode: SslMode;
  /** The CA certificate file (sslrootcert or PGSSLROOTCERT) to verify the server against. */
  readonly caFile?: string;
  /** What to scrub from any text shown, should a driver ever quote it. */
  readonly password?: string;
}

export function isPostgresLocation(location: string): boolean {
  return /^postgres(ql)?:/i.test(location);
}

/**
 * The settings a URL names. Without sslmode (nor PGSSLMODE), a server on this machine is reached
 * without TLS and any other with TLS verified in full: a state on the network is never sent in the
 * clear by default. User, password, host, port and database fall back to node-postgres' own
 * defaults (PGUSER, PGPASSWORD, ~/.pgpass, ...) when the URL leaves them out.
 */
export function postgresTarget(text: string, env: NodeJS.ProcessEnv): PostgresTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LocationError('is not a URL such as postgres://imsync@db.example.com:5432/imsync?sslmode=verify-full');
  }
  const unknown = [...url.searchParams.keys()].filter((name) => !PARAMETERS.includes(name));
  if (unknown.length > 0) {
    throw new LocationError(
      `has the parameter ${unknown.join(', ')}, which imsync does not take; it takes ${PARAMETERS.join(', ')} (the password goes before the host)`,
    );
  }
  const schema = url.searchParams.get('schema') ?? DEFAULT_SCHEMA;
  if (!SCHEMA.test(schema)) {
    throw new LocationError(`has schema "${schema}"; a schema name is 1 to 63 lowercase letters, digits and '_'`);
  }
  const host = decoded(url.hostname.replace(/^\[(.*)\]$/, '$1'), 'host');
  const database = decoded(url.pathname.slice(1), 'database name');
  if (database.includes('/')) throw new LocationError('has a path of more than one database name');
  const sslMode = sslModeOf(url.searchParams.get('sslmode') ?? env.PGSSLMODE, host || env.PGHOST);
  const caFile = url.searchParams.get('sslrootcert') ?? env.PGSSLROOTCERT;
  if (sslMode === 'verify-ca' && !caFile) {
    throw new LocationError(
      'has sslmode=verify-ca without sslrootcert=PATH (nor PGSSLROOTCERT): checked against the public CAs, any certificate they issued would pass; give the CA of the database, or use verify-full',
    );
  }
  const password = decoded(url.password, 'password');
  const client: ClientConfig = {
    ...(host === '' ? {} : { host }),
    ...(url.port === '' ? {} : { port: Number(url.port) }),
    ...(database === '' ? {} : { database }),
    ...(url.username === '' ? {} : { user: decoded(url.username, 'user name') }),
    ...(password === '' ? {} : { password }),
    ssl: sslOptions(sslMode),
    connectionTimeoutMillis: connectTimeout(url.searchParams.get('connect_timeout')) * 1000,
    query_timeout: QUERY_TIMEOUT_MS,
    application_name: url.searchParams.get('application_name') ?? 'imsync',
  };
  const shown = new URL(url.href);
  shown.password = '';
  return {
    location: shown.href,
    schema,
    client,
    sslMode,
    ...(caFile ? { caFile } : {}),
    ...(password === '' ? {} : { password }),
  };
}

function sslModeOf(given: string | undefined, host: string | undefined): SslMode {
  if (given === undefined || given === '') return isThisMachine(host) ? 'disable' : 'verify-full';
  if ((SSL_MODES as readonly string[]).includes(given)) return given as SslMode;
  if (given === 'prefer' || given === 'allow') {
    throw new LocationError(
      `has sslmode=${given}, which falls back to no TLS unnoticed; imsync takes ${SSL_MODES.join(', ')}`,
    );
  }
  throw new LocationError(`has sslmode=${given}; imsync takes ${SSL_MODES.join(', ')}`);
}

/** A server on this machine: a loopback address, localhost, a Unix socket, or none named (the socket). */
function isThisMachine(host: string | undefined): boolean {
  if (host === undefined || host === '' || host.startsWith('/')) return true;
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * node-postgres' `ssl` for a mode. `require` verifies the certificate as verify-full does (node-postgres
 * 8 does the same; libpq's `require` would check nothing): encrypting without knowing to whom is
 * asked for by name, `no-verify`. verify-ca checks the chain against the CA given, not the host name.
 */
function sslOptions(mode: SslMode): ClientConfig['ssl'] {
  switch (mode) {
    case 'disable':
      return false;
    case 'no-verify':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'require':
    case 'verify-full':
      return { rejectUnauthorized: true };
  }
}

function connectTimeout(given: string | null): number {
  if (given === null) return DEFAULT_CONNECT_TIMEOUT_S;
  const seconds = Number(given);
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > 3600) {
    throw new LocationError(`has connect_timeout=${given}; give whole seconds from 1 to 3600`);
  }
  return seconds;
}

function decoded(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new LocationError(`has a ${what} with a '%' that is not followed by two hex digits; write '%' as %25`);
  }
}
