/**
 * The Registry over one SQLite connection (open.ts opens it). better-sqlite3 is synchronous, and
 * so is this: each method is one short transaction on a local file. Every SQLite failure leaves
 * as a WarrenError (sqlite.ts), and a method called after close() as WARREN_REGISTRY_CLOSED.
 */
import { WarrenError } from '../lib/errors.js';
import { isDigest } from '../snapshots/index.js';
import { rollbackTarget } from './history.js';
import type { Deployment, DeployKind, NewVersion, Registry, StoredFunction, StoredVersion, VersionEgress } from './registry.js';
import { sqliteError, type Database, type Statement } from './sqlite.js';

interface FunctionRow {
  name: string;
  created_at: string;
  live: number | null;
}

interface VersionRow {
  fn: string;
  version: number;
  digest: string;
  size_bytes: number;
  created_at: string;
  memory_bytes: number;
  cpus: number;
  timeout_ms: number;
  concurrency: number;
  egress: string;
  vars: string;
  crons: string;
}

interface DeploymentRow {
  at: string;
  kind: DeployKind;
  from_version: number | null;
  to_version: number;
}

const SQL = {
  fn: 'SELECT name, created_at, live FROM functions WHERE name = ?',
  liveFns: 'SELECT name, created_at, live FROM functions WHERE live IS NOT NULL ORDER BY name',
  addFn: 'INSERT INTO functions (name, created_at, live) VALUES (?, ?, NULL) ON CONFLICT (name) DO NOTHING',
  setLive: 'UPDATE functions SET live = ? WHERE name = ?',
  removeFn: 'DELETE FROM functions WHERE name = ?',
  nextNumber: 'INSERT INTO version_numbers (fn, last) VALUES (?, 1) ON CONFLICT (fn) DO UPDATE SET last = last + 1 RETURNING last',
  addVersion:
    'INSERT INTO versions (fn, version, digest, size_bytes, created_at, memory_bytes, cpus, timeout_ms, concurrency, egress, vars, crons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  version: 'SELECT * FROM versions WHERE fn = ? AND version = ?',
  versions: 'SELECT * FROM versions WHERE fn = ? ORDER BY version',
  versionCount: 'SELECT count(*) AS n FROM versions WHERE fn = ?',
  removeVersion: 'DELETE FROM versions WHERE fn = ? AND version = ?',
  digests: 'SELECT DISTINCT digest FROM versions',
  addDeployment: 'INSERT INTO deployments (fn, at, kind, from_version, to_version) VALUES (?, ?, ?, ?, ?)',
  deployments: 'SELECT at, kind, from_version, to_version FROM deployments WHERE fn = ? ORDER BY id',
  deployedTo: 'SELECT 1 FROM deployments WHERE fn = ? AND to_version = ? LIMIT 1',
  putSecret: 'INSERT INTO secrets (fn, key, value) VALUES (?, ?, ?) ON CONFLICT (fn, key) DO UPDATE SET value = excluded.value',
  deleteSecret: 'DELETE FROM secrets WHERE fn = ? AND key = ?',
  secretNames: 'SELECT key FROM secrets WHERE fn = ? ORDER BY key',
  secrets: 'SELECT key, value FROM secrets WHERE fn = ? ORDER BY key',
} as const;

type Queries = { [K in keyof typeof SQL]: Statement };

export class SqliteRegistry implements Registry {
  readonly #db: Database;
  readonly #file: string;
  readonly #onClose: () => void;
  readonly #q: Queries;

  /** Takes over `db` (migrated) and calls `onClose` once it is closed. */
  constructor(db: Database, file: string, onClose: () => void) {
    this.#db = db;
    this.#file = file;
    this.#onClose = onClose;
    this.#q = Object.fromEntries(Object.entries(SQL).map(([k, sql]) => [k, db.prepare(sql)])) as Queries;
  }

  addVersion(fn: string, v: NewVersion): StoredVersion {
    if (!isDigest(v.digest)) throw new WarrenError('WARREN_LAYER_INVALID_DIGEST', `invalid bundle digest '${v.digest}' for function '${fn}'`);
    return this.#tx(`add a version of '${fn}'`, () => {
      const createdAt = new Date().toISOString();
      this.#q.addFn.run(fn, createdAt);
      const { last } = this.#q.nextNumber.get(fn) as { last: number };
      const { memoryBytes, cpus, timeoutMs, concurrency } = v.limits;
      const egress = typeof v.egress === 'string' ? v.egress : [...v.egress];
      const vars = { ...v.vars };
      const crons = [...(v.crons ?? [])];
      this.#q.addVersion.run(fn, last, v.digest, v.sizeBytes, createdAt, memoryBytes, cpus, timeoutMs, concurrency, JSON.stringify(egress), JSON.stringify(vars), JSON.stringify(crons));
      return { fn, version: last, digest: v.digest, sizeBytes: v.sizeBytes, createdAt, limits: { memoryBytes, cpus, timeoutMs, concurrency }, egress, vars, crons };
    });
  }

  setLive(fn: string, version: number, kind: DeployKind): StoredVersion {
    return this.#tx(`make version ${version} of '${fn}' live`, () => {
      const target = this.#version(fn, version);
      const from = this.#row(fn)?.live ?? null;
      this.#q.addDeployment.run(fn, new Date().toISOString(), kind, from, version);
      this.#q.setLive.run(version, fn);
      return target;
    });
  }

  discardVersion(fn: string, version: number): void {
    this.#tx(`discard version ${version} of '${fn}'`, () => {
      this.#version(fn, version);
      if (this.#q.deployedTo.get(fn, version) !== undefined) {
        throw new WarrenError('WARREN_REGISTRY_DEPLOYED', `version ${version} of function '${fn}' was live once: only a version that never went live can be discarded`);
      }
      this.#q.removeVersion.run(fn, version);
      const { n } = this.#q.versionCount.get(fn) as { n: number };
      if (this.#row(fn)?.live === null && n === 0) this.#q.removeFn.run(fn);
    });
  }

  getFunction(fn: string): StoredFunction {
    return this.#tx(`read function '${fn}'`, () => this.#function(this.#live(fn)));
  }

  listFunctions(): StoredFunction[] {
    return this.#tx('list functions', () => (this.#q.liveFns.all() as FunctionRow[]).map((row) => this.#function(row)));
  }

  versions(fn: string): StoredVersion[] {
    return this.#tx(`list versions of '${fn}'`, () => {
      this.#live(fn);
      return (this.#q.versions.all(fn) as VersionRow[]).map((row) => this.#parse(row));
    });
  }

  version(fn: string, version: number): StoredVersion {
    return this.#tx(`read version ${version} of '${fn}'`, () => this.#version(fn, version));
  }

  deployments(fn: string): Deployment[] {
    return this.#tx(`read deployments of '${fn}'`, () => {
      this.#live(fn);
      return this.#deployments(fn);
    });
  }

  rollbackTarget(fn: string): StoredVersion | null {
    return this.#tx(`find the rollback target of '${fn}'`, () => {
      this.#live(fn);
      const target = rollbackTarget(this.#deployments(fn));
      return target === null ? null : this.#version(fn, target);
    });
  }

  removeFunction(fn: string): void {
    this.#tx(`remove function '${fn}'`, () => {
      this.#live(fn);
      // versions, deployments and secrets go by ON DELETE CASCADE; version_numbers stays
      this.#q.removeFn.run(fn);
    });
  }

  putSecret(fn: string, key: string, value: string): void {
    this.#tx(`set secret '${key}' of '${fn}'`, () => {
      this.#live(fn);
      this.#q.putSecret.run(fn, key, value);
    });
  }

  deleteSecret(fn: string, key: string): boolean {
    return this.#tx(`delete secret '${key}' of '${fn}'`, () => {
      this.#live(fn);
      return this.#q.deleteSecret.run(fn, key).changes > 0;
    });
  }

  secretNames(fn: string): string[] {
    return this.#tx(`list secrets of '${fn}'`, () => {
      this.#live(fn);
      return this.#secretNames(fn);
    });
  }

  secrets(fn: string): Record<string, string> {
    return this.#tx(`read secrets of '${fn}'`, () => {
      this.#live(fn);
      const rows = this.#q.secrets.all(fn) as { key: string; value: string }[];
      return Object.fromEntries(rows.map((r) => [r.key, r.value]));
    });
  }

  bundleDigests(): Set<string> {
    return this.#tx('list bundle digests', () => new Set((this.#q.digests.all() as { digest: string }[]).map((r) => r.digest)));
  }

  close(): void {
    if (!this.#db.open) return;
    try {
      this.#db.close();
    } finally {
      this.#onClose();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Runs `fn` in one transaction (so what it reads agrees with itself), SQLite's errors as WarrenErrors. */
  #tx<R>(what: string, fn: () => R): R {
    if (!this.#db.open) throw new WarrenError('WARREN_REGISTRY_CLOSED', `registry '${this.#file}' is closed (${what})`);
    try {
      return this.#db.transaction(fn)();
    } catch (err) {
      throw sqliteError(err, this.#file, what);
    }
  }

  #row(fn: string): FunctionRow | undefined {
    return this.#q.fn.get(fn) as FunctionRow | undefined;
  }

  /** The function's row, if users can see it (it has a live version). */
  #live(fn: string): FunctionRow & { live: number } {
    const row = this.#row(fn);
    if (row?.live == null) throw new WarrenError('WARREN_FN_NOT_FOUND', `no function named '${fn}'`);
    return row as FunctionRow & { live: number };
  }

  #version(fn: string, version: number): StoredVersion {
    const row = this.#q.version.get(fn, version) as VersionRow | undefined;
    if (row) return this.#parse(row);
    if (!this.#row(fn)) throw new WarrenError('WARREN_FN_NOT_FOUND', `no function named '${fn}'`);
    throw new WarrenError('WARREN_FN_VERSION_NOT_FOUND', `function '${fn}' has no version ${version}`);
  }

  #function(row: FunctionRow): StoredFunction {
    return { name: row.name, live: this.#version(row.name, row.live as number), createdAt: row.created_at, secrets: this.#secretNames(row.name) };
  }

  #secretNames(fn: string): string[] {
    return (this.#q.secretNames.all(fn) as { key: string }[]).map((r) => r.key);
  }

  #deployments(fn: string): Deployment[] {
    return (this.#q.deployments.all(fn) as DeploymentRow[]).map((r) => ({ at: r.at, kind: r.kind, from: r.from_version, to: r.to_version }));
  }

  #parse(row: VersionRow): StoredVersion {
    const where = `version ${row.version} of '${row.fn}'`;
    const egress = this.#json(row.egress, `egress of ${where}`);
    const vars = this.#json(row.vars, `vars of ${where}`);
    const cidrs = Array.isArray(egress) && egress.every((c) => typeof c === 'string');
    if (egress !== 'none' && egress !== 'public' && !cidrs) this.#corrupt(`egress of ${where} is ${row.egress}`);
    const isVars = typeof vars === 'object' && vars !== null && !Array.isArray(vars) && Object.values(vars).every((v) => typeof v === 'string');
    if (!isVars) this.#corrupt(`vars of ${where} are ${row.vars}`);
    const crons = this.#json(row.crons, `crons of ${where}`);
    if (!Array.isArray(crons) || !crons.every((c) => typeof c === 'string')) this.#corrupt(`crons of ${where} are ${row.crons}`);
    return {
      fn: row.fn,
      version: row.version,
      digest: row.digest,
      sizeBytes: row.size_bytes,
      createdAt: row.created_at,
      limits: { memoryBytes: row.memory_bytes, cpus: row.cpus, timeoutMs: row.timeout_ms, concurrency: row.concurrency },
      egress: egress as VersionEgress,
      vars: vars as Record<string, string>,
      crons: crons as string[],
    };
  }

  #json(text: string, what: string): unknown {
    try {
      return JSON.parse(text);
    } catch (cause) {
      this.#corrupt(`${what} is not JSON`, cause);
    }
  }

  #corrupt(what: string, cause?: unknown): never {
    throw new WarrenError('WARREN_REGISTRY_CORRUPT', `registry '${this.#file}' is damaged: ${what}`, { cause });
  }
}
