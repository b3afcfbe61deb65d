/**
 * The registry's tables, migrated with `PRAGMA user_version`: MIGRATIONS[i] takes a database at
 * version i to i + 1, in one transaction with the version bump, so a crash leaves the old schema
 * or the new, never half. Append a migration to change the schema; never edit a shipped one.
 *
 *   functions        one row per name that has (or is being given) a version
 *   versions         (fn, version): the bundle's layer, limits, egress, vars and crons of each deploy
 *   deployments      every change of the live version, in order (rollback targets come from it)
 *   secrets          (fn, key) -> value, plain text: the file is 0600 and the state dir root's
 *   version_numbers  the last number given per name; outlives its function (registry.ts says why)
 */
import { WarrenError } from '../lib/errors.js';
import type { Database } from './sqlite.js';

const V1 = `
CREATE TABLE functions (
  name TEXT PRIMARY KEY,
  created_at TEXT NOT NULL,
  -- the version traffic goes to; NULL while the first deploy loads
  live INTEGER
) STRICT;

CREATE TABLE versions (
  fn TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  digest TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  memory_bytes INTEGER NOT NULL,
  cpus REAL NOT NULL,
  timeout_ms INTEGER NOT NULL,
  concurrency INTEGER NOT NULL,
  -- JSON: "none", "public" or an array of CIDRs
  egress TEXT NOT NULL,
  -- JSON object of strings
  vars TEXT NOT NULL,
  PRIMARY KEY (fn, version)
) STRICT;

CREATE TABLE deployments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  fn TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
  at TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),
  from_version INTEGER,
  to_version INTEGER NOT NULL
) STRICT;
CREATE INDEX deployments_by_fn ON deployments (fn, id);

CREATE TABLE secrets (
  fn TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (fn, key)
) STRICT;

CREATE TABLE version_numbers (
  fn TEXT PRIMARY KEY,
  last INTEGER NOT NULL
) STRICT;
`;

/** Cron triggers (runner/crons.ts): a version made before them has none. */
const V2 = `
ALTER TABLE versions ADD COLUMN crons TEXT NOT NULL DEFAULT '[]'; -- JSON array of cron expressions
`;

const MIGRATIONS: readonly string[] = [V1, V2];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the schema up to SCHEMA_VERSION; a read-only opener can only check it is there. */
export function migrate(db: Database, file: string, readonly: boolean): void {
  const have = db.pragma('user_version', { simple: true }) as number;
  if (have > SCHEMA_VERSION) {
    throw new WarrenError('WARREN_REGISTRY_OPEN', `registry '${file}' has schema version ${have}, this warren knows up to ${SCHEMA_VERSION}: a newer warren made it`);
  }
  if (have === SCHEMA_VERSION) return;
  if (readonly) {
    throw new WarrenError('WARREN_REGISTRY_OPEN', `registry '${file}' has schema version ${have}, not ${SCHEMA_VERSION}: start warren serve once to migrate it`);
  }
  for (let v = have; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
