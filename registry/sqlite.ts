/**
 * better-sqlite3, loaded on first use (warren commands that never open the registry do not pay
 * for the native addon), typed for the few calls the registry makes (the package ships no types),
 * and its errors turned into WarrenErrors.
 */
import { createRequire } from 'node:module';
import { WarrenError } from '../lib/errors.js';

export interface Statement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface Database {
  readonly open: boolean;
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(sql: string, opts?: { simple: true }): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  close(): void;
}

type DatabaseClass = new (file: string, opts?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number }) => Database;

let DatabaseImpl: DatabaseClass | undefined;

/** Opens `file` (made if missing unless read-only). The connection is not used yet: a file that
 * is not a database fails on the first statement. */
export function openDatabase(file: string, readonly: boolean): Database {
  DatabaseImpl ??= createRequire(import.meta.url)('better-sqlite3') as DatabaseClass;
  // 5 s: a read-only reader (warren image gc) waits out a write of `warren serve` instead of failing
  return new DatabaseImpl(file, { readonly, fileMustExist: readonly, timeout: 5000 });
}

const CORRUPT = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT', 'SQLITE_CORRUPT_VTAB', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_INDEX']);

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/**
 * A WarrenError for what SQLite threw while doing `what` with `file`: damage is
 * WARREN_REGISTRY_CORRUPT, anything else of SQLite's (a full disk, an I/O error, a lock held too
 * long) WARREN_REGISTRY_IO. WarrenErrors pass through as they are.
 */
export function sqliteError(err: unknown, file: string, what: string): unknown {
  const code = sqliteCode(err);
  if (code === undefined) return err;
  const reason = err instanceof Error ? err.message : String(err);
  if (CORRUPT.has(code)) {
    return new WarrenError('WARREN_REGISTRY_CORRUPT', `registry '${file}' is damaged or not a sqlite database (${what}: ${reason}); move it away to start with an empty registry`, { cause: err });
  }
  return new WarrenError('WARREN_REGISTRY_IO', `registry '${file}': ${what}: ${reason} (${code})`, { cause: err });
}
