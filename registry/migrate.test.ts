/**
 * A state dir made before cron triggers (schema version 1, no crons column) opens in this warren:
 * its functions and versions come through with no crons, and new versions keep theirs. A reader
 * (`warren image gc` beside an old server) is told to let the server migrate first. No root needed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { openRegistry } from './index.js';
import { openDatabase } from './sqlite.js';

// schema version 1 exactly as it shipped: a fixture, never to follow later changes of schema.ts
const SHIPPED_V1 = `
CREATE TABLE functions (name TEXT PRIMARY KEY, created_at TEXT NOT NULL, live INTEGER) STRICT;
CREATE TABLE versions (
  fn TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE, version INTEGER NOT NULL,
  digest TEXT NOT NULL, size_bytes INTEGER NOT NULL, created_at TEXT NOT NULL,
  memory_bytes INTEGER NOT NULL, cpus REAL NOT NULL, timeout_ms INTEGER NOT NULL,
  concurrency INTEGER NOT NULL, egress TEXT NOT NULL, vars TEXT NOT NULL,
  PRIMARY KEY (fn, version)
) STRICT;
CREATE TABLE deployments (
  id INTEGER PRIMARY KEY AUTOINCREMENT, fn TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
  at TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),
  from_version INTEGER, to_version INTEGER NOT NULL
) STRICT;
CREATE INDEX deployments_by_fn ON deployments (fn, id);
CREATE TABLE secrets (
  fn TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE, key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (fn, key)
) STRICT;
CREATE TABLE version_numbers (fn TEXT PRIMARY KEY, last INTEGER NOT NULL) STRICT;
INSERT INTO functions VALUES ('old', '2026-11-01T00:00:00.000Z', 1);
INSERT INTO versions VALUES ('old', 1, '${'a'.repeat(64)}', 10, '2026-11-01T00:00:00.000Z', 134217728, 1, 30000, 16, '"none"', '{"K":"v"}');
INSERT INTO deployments (fn, at, kind, from_version, to_version) VALUES ('old', '2026-11-01T00:00:00.000Z', 'deploy', NULL, 1);
INSERT INTO version_numbers VALUES ('old', 1);
PRAGMA user_version = 1;
`;

t.test('a registry of schema 1 gains the crons column and keeps its functions', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-registry-migrate-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const raw = openDatabase(path.join(dir, 'registry.db'), false);
  raw.exec(SHIPPED_V1);
  raw.close();

  t.throws(() => openRegistry(dir, { readonly: true }), { code: 'WARREN_REGISTRY_OPEN', message: /schema version 1, not 2: start warren serve once to migrate it/ });

  const r = openRegistry(dir);
  t.teardown(() => r.close());
  const old = r.getFunction('old').live;
  t.match(old, { version: 1, vars: { K: 'v' }, crons: [] }, 'a version made before crons has none');
  const v = r.addVersion('old', {
    digest: 'b'.repeat(64),
    sizeBytes: 1,
    limits: { memoryBytes: 1 << 27, cpus: 1, timeoutMs: 1000, concurrency: 1 },
    egress: 'none',
    vars: {},
    crons: ['*/5 * * * *', '* * * * * *'],
  });
  r.setLive('old', v.version, 'deploy');
  t.same(r.getFunction('old').live.crons, ['*/5 * * * *', '* * * * * *']);
  t.same(r.versions('old').map((x) => x.crons), [[], ['*/5 * * * *', '* * * * * *']]);
  r.close();
  const again = openRegistry(dir, { readonly: true });
  t.same(again.getFunction('old').live.crons, ['*/5 * * * *', '* * * * * *'], 'migrated once: a reader opens it now');
  again.close();
});
