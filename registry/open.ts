/**
 * Opening the registry at `<stateDir>/registry.db`.
 *
 * One writer per state dir: `warren serve` holds an exclusive flock on `<stateDir>/registry.lock`
 * for as long as its registry is open, and a second server on the same state dir is refused at
 * once (WARREN_REGISTRY_LOCKED) instead of both deploying into one registry and one pool of
 * leases. The kernel drops the lock when its holder dies, so a SIGKILLed server blocks nothing.
 * A read-only opener (`warren image gc` asking which layers versions name) takes no lock: SQLite's
 * WAL lets it read beside the writer.
 *
 * Secrets are in the file, so it and its -wal and -shm are 0600 whatever the umask: the db file
 * is made 0600 before SQLite opens it (SQLite gives -wal and -shm the db file's mode), and all
 * three are chmodded after, which also tightens a file some earlier version left looser.
 *
 * Order: the lock before the db file is touched (so our own open/close of it cannot drop a
 * running server's SQLite locks, which are POSIX locks: closing any fd of a file drops them all).
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { errnoOf, WarrenError } from '../lib/errors.js';
import { EWOULDBLOCK, LOCK_EX, LOCK_NB, libc } from '../lib/libc.js';
import type { Registry } from './registry.js';
import { migrate } from './schema.js';
import { openDatabase, sqliteError, type Database } from './sqlite.js';
import { SqliteRegistry } from './sqlite-registry.js';

export const REGISTRY_FILE = 'registry.db';
const LOCK_FILE = 'registry.lock';
const PRIVATE = 0o600;

export interface OpenRegistryOptions {
  /** Read without the writer's lock, beside a running `warren serve`; writes fail. */
  readonly?: boolean;
}

/**
 * Opens (making it if need be) the registry of `stateDir`. A writable open also forgets what a
 * crashed deploy left: versions that never went live, and functions that never had a live one
 * (nothing else can be deploying: the lock says this is the only writer).
 */
export function openRegistry(stateDir: string, opts: OpenRegistryOptions = {}): Registry {
  const file = join(stateDir, REGISTRY_FILE);
  const readonly = opts.readonly === true;
  let unlock = () => {};
  let db: Database | undefined;
  try {
    if (!readonly) {
      fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      unlock = lockStateDir(stateDir);
      makePrivate(file);
    }
    db = openDatabase(file, readonly);
    if (!readonly) db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    migrate(db, file, readonly);
    if (!readonly) {
      for (const sidecar of [`${file}-wal`, `${file}-shm`]) chmodIfThere(sidecar);
      forgetUnfinishedDeploys(db);
    }
    return new SqliteRegistry(db, file, unlock);
  } catch (err) {
    db?.close();
    unlock();
    throw openError(err, file);
  }
}

/** The layers the registry of `stateDir` names (none when it has none), read beside a running server. */
export function registryBundleDigests(stateDir: string): Set<string> {
  if (!fs.existsSync(join(stateDir, REGISTRY_FILE))) return new Set();
  const registry = openRegistry(stateDir, { readonly: true });
  try {
    return registry.bundleDigests();
  } finally {
    registry.close();
  }
}

function forgetUnfinishedDeploys(db: Database): void {
  db.transaction(() => {
    db.exec('DELETE FROM versions WHERE NOT EXISTS (SELECT 1 FROM deployments d WHERE d.fn = versions.fn AND d.to_version = versions.version)');
    db.exec('DELETE FROM functions WHERE live IS NULL');
  })();
}

/** Takes the state dir's writer lock; returns its release (idempotent). */
function lockStateDir(stateDir: string): () => void {
  const file = join(stateDir, LOCK_FILE);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, PRIVATE);
  } catch (cause) {
    throw new WarrenError('WARREN_REGISTRY_OPEN', `open lock file '${file}': ${(cause as Error).message}`, { cause });
  }
  try {
    if (libc().flock(fd, LOCK_EX | LOCK_NB) < 0) {
      const errno = libc().errno();
      if (errno === EWOULDBLOCK) {
        throw new WarrenError('WARREN_REGISTRY_LOCKED', `state dir '${stateDir}' is in use by another warren serve (it holds '${file}'): give each server its own --state-dir`);
      }
      throw new WarrenError('WARREN_REGISTRY_OPEN', `lock '${file}': errno ${errno}`);
    }
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  let held = true;
  return () => {
    if (held) fs.closeSync(fd);
    held = false;
  };
}

function makePrivate(file: string): void {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, PRIVATE);
  try {
    fs.fchmodSync(fd, PRIVATE);
  } finally {
    fs.closeSync(fd);
  }
}

function chmodIfThere(file: string): void {
  try {
    fs.chmodSync(file, PRIVATE);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
}

function openError(err: unknown, file: string): unknown {
  const translated = sqliteError(err, file, 'open');
  if (translated instanceof WarrenError) return translated;
  const reason = err instanceof Error ? err.message : String(err);
  return new WarrenError('WARREN_REGISTRY_OPEN', `open registry '${file}': ${reason}`, { cause: err });
}
