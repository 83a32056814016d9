// Opens the state store a location names: a PostgreSQL URL, or else a file path.
import { FileStateStore } from './file-store.js';
import { PostgresStateStore } from './postgres/store.js';
import { isPostgresLocation, postgresTarget } from './postgres/url.js';
import type { StateStore } from './store.js';

export { LocationError } from './postgres/url.js';

/** Throws LocationError for a URL that cannot be used; nothing is connected to until the store is used. */
export function openStore(location: string, env: NodeJS.ProcessEnv): StateStore {
  if (isPostgresLocation(location)) return new PostgresStateStore(postgresTarget(location, env));
  return new FileStateStore(location);
}
