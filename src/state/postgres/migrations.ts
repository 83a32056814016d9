// The PostgreSQL state's tables, and the versioned migrations that make them. A migration is never
// edited once released: a change to the tables is a new one at the end of the list.

/** The tables of one state, schema-qualified and quoted, ready to go into SQL. */
export interface Tables {
  readonly schema: string;
  /** One row: the lineage, the serial, the account and the pre-flight's cache. */
  readonly meta: string;
  /** One row per image record, by manifest key. */
  readonly images: string;
  /** One row at most: who holds the writers' lock, for the "locked by" message and force-unlock. */
  readonly lockHolder: string;
  /** States `state rebuild` replaced, kept as they were. */
  readonly aside: string;
  /** The migrations applied, by version. */
  readonly migrations: string;
}

export function tablesOf(schema: string): Tables {
  const table = (name: string) => `${quoted(schema)}.${quoted(name)}`;
  return {
    schema: quoted(schema),
    meta: table('imsync_meta'),
    images: table('imsync_images'),
    lockHolder: table('imsync_lock_holder'),
    aside: table('imsync_aside'),
    migrations: table('imsync_migrations'),
  };
}

function quoted(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/**
 * Migration N (1-based) is MIGRATIONS[N - 1]. Records, the account and the cache are `json`, not
 * `jsonb`: kept as imsync wrote them, byte for byte, so that a state moved back to a file is the file
 * it was.
 */
export const MIGRATIONS: readonly ((tables: Tables) => readonly string[])[] = [
  (t) => [
    `CREATE TABLE ${t.meta} (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      lineage text NOT NULL CHECK (lineage <> ''),
      serial bigint NOT NULL CHECK (serial >= 1),
      account json,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE ${t.images} (
      key text PRIMARY KEY,
      record json NOT NULL,
      serial bigint NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE ${t.lockHolder} (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      lock_id text NOT NULL,
      host text NOT NULL,
      pid integer NOT NULL,
      command text NOT NULL,
      since timestamptz NOT NULL,
      backend_pid integer NOT NULL
    )`,
    `CREATE TABLE ${t.aside} (
      id bigserial PRIMARY KEY,
      kept_at timestamptz NOT NULL DEFAULT now(),
      lineage text,
      serial bigint,
      account json,
      images json NOT NULL
    )`,
  ],
  // The pre-flight's cache of checked files and buckets; null in the rows written before it.
  (t) => [`ALTER TABLE ${t.meta} ADD COLUMN preflight json`, `ALTER TABLE ${t.aside} ADD COLUMN preflight json`],
];
