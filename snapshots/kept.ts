/**
 * Kept sandboxes (`warren run --name N --keep`): their overlay upper lives on disk under
 * `<state>/kept/<name>/` (upper/ and work/, which the spawner mounts), and a manifest beside it
 * names the image they ran and the host uid their root mapped to, which commit needs to give the
 * files back to uid 0. `warren commit` turns the upper into a layer, `warren kept rm` drops it.
 *
 * A sandbox can change its upper while it runs, so commit and rm must never act on a running one:
 * `warren run --keep` holds an exclusive flock on `<name>.lock` for the sandbox's life, and commit
 * and rm take the same lock first (without waiting). The kernel drops a flock when its holder
 * dies, so a crashed run blocks nothing; and the sandbox dies with it (its init has the spawner's
 * death signal, the spawner its runner's).
 */
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, isWarrenError, WarrenError } from '../lib/errors.js';
import { removeTree } from './held-tree.js';
import { keptImageLoops, keptImageMounted, makeKeptImage, unmountKeptImage, type KeptCap } from './kept-image.js';
import { EWOULDBLOCK, LOCK_EX, LOCK_NB, libc } from '../lib/libc.js';

export interface Kept {
  name: string;
  image: string;
  /** The image's layers (digests, top first) when the sandbox ran: commit stacks on these. */
  layers: string[];
  /** Host uid of the sandbox's root; files in the upper are owned by uidBase + n. */
  uidBase: number;
  created: string;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

export function keptDir(stateDir: string, name: string): string {
  if (!NAME.test(name)) throw new WarrenError('WARREN_KEPT_NAME', `invalid sandbox name '${name}': letters, digits, _ . - (at most 64)`);
  return path.join(stateDir, 'kept', name);
}

/** Held while a kept sandbox runs, or is committed or removed; disposing of it lets go. */
export interface KeptLock extends Disposable {
  release(): void;
}

function notFound(name: string): WarrenError {
  return new WarrenError('WARREN_KEPT_NOT_FOUND', `no kept sandbox named '${name}'`);
}

function tryLock(file: string, name: string, create: boolean): KeptLock | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW | (create ? fs.constants.O_CREAT : 0), 0o600);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw notFound(name);
    throw new WarrenError('WARREN_KEPT_LOCK', `open '${file}'`, { cause: err });
  }
  try {
    if (libc().flock(fd, LOCK_EX | LOCK_NB) < 0) {
      const errno = libc().errno();
      if (errno === EWOULDBLOCK) throw new WarrenError('WARREN_KEPT_RUNNING', `kept sandbox '${name}' is running, or being committed or removed: wait for it to end`);
      throw new WarrenError('WARREN_KEPT_LOCK', `lock '${file}': errno ${errno}`);
    }
    // rm unlinks the lock file while it holds it: a lock on a file unlinked since we opened it
    // guards nothing, so take the one now at that path instead
    const held = fs.fstatSync(fd);
    const now = fs.statSync(file, { throwIfNoEntry: false });
    if (!now || now.ino !== held.ino || now.dev !== held.dev) {
      fs.closeSync(fd);
      return undefined;
    }
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  let open = true;
  const release = () => {
    if (open) fs.closeSync(fd);
    open = false;
  };
  return { release, [Symbol.dispose]: release };
}

/** Takes the kept sandbox's lock without waiting: WARREN_KEPT_RUNNING while a run holds it.
 * Only a claim makes the lock file (and a kept sandbox from before there were locks: it has a
 * manifest), so that commit or rm of a name that does not exist leaves nothing behind. */
export function lockKept(stateDir: string, name: string, opts: { claim?: boolean } = {}): KeptLock {
  const dir = keptDir(stateDir, name);
  const file = `${dir}.lock`;
  if (opts.claim) fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  for (let i = 0; i < 8; i++) {
    const lock = tryLock(file, name, opts.claim === true || fs.existsSync(`${dir}.json`));
    if (lock) return lock;
  }
  throw new WarrenError('WARREN_KEPT_LOCK', `lock '${file}': it keeps being removed`);
}

/**
 * Refuses while a sandbox still uses the image, which the lock alone cannot say: when `warren run`
 * is killed its lock goes at once, and its sandbox a moment later (the death signal has to reach
 * the spawner, then init, then each process). Waits that moment out, then says it runs. Call with
 * the lock held and after unmounting a crashed commit's mount (that holds a loop too).
 */
export function assertKeptIdle(dir: string, name: string, waitMs = 2000): void {
  const until = Date.now() + waitMs;
  for (let loops = keptImageLoops(dir); loops.length > 0; loops = keptImageLoops(dir)) {
    if (Date.now() >= until) throw new WarrenError('WARREN_KEPT_RUNNING', `kept sandbox '${name}' is still running: its image is mounted (${loops.join(', ')})`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}

/** Claims the name (exclusively: two runs cannot keep into one dir), makes the image its changes
 * go to, capped at `cap` (kept-image.ts), and returns the dir and the lock that the run holds for
 * as long as its sandbox may live. */
export function claimKept(stateDir: string, kept: Kept, cap: KeptCap): { dir: string; lock: KeptLock } {
  const dir = keptDir(stateDir, kept.name);
  const lock = lockKept(stateDir, kept.name, { claim: true });
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    lock.release();
    if (errnoOf(err) === 'EEXIST') throw new WarrenError('WARREN_KEPT_EXISTS', `a sandbox named '${kept.name}' exists (warren kept rm ${kept.name})`);
    throw err;
  }
  try {
    // the manifest first: a run that dies while the image is made leaves a name rm can remove
    fs.writeFileSync(`${dir}.json`, `${JSON.stringify(kept, null, 2)}\n`);
    makeKeptImage(dir, cap);
  } catch (err) {
    // the name is free again: nothing of a claim that never ran stays behind
    removeTree(dir);
    fs.rmSync(`${dir}.json`, { force: true });
    fs.rmSync(`${dir}.lock`, { force: true });
    lock.release();
    throw err;
  }
  return { dir, lock };
}

export function readKept(stateDir: string, name: string): Kept {
  const dir = keptDir(stateDir, name);
  try {
    return JSON.parse(fs.readFileSync(`${dir}.json`, 'utf8')) as Kept;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw notFound(name);
    throw new WarrenError('WARREN_KEPT_CORRUPT', `read kept sandbox '${name}'`, { cause: err });
  }
}

export function listKept(stateDir: string): Kept[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(path.join(stateDir, 'kept')).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.map((n) => readKept(stateDir, n.slice(0, -5)));
}

/** Removes its changes and its manifest; the manifest last, so a crash leaves it listed for a
 * retry. Refused while it runs; `held` is the caller's own lock (a run whose sandbox never started). */
export function removeKept(stateDir: string, name: string, held?: KeptLock): void {
  const lock = held ?? lockKept(stateDir, name);
  try {
    readKept(stateDir, name);
    const dir = keptDir(stateDir, name);
    unmountKeptImage(dir); // a crashed commit's mount
    assertKeptIdle(dir, name);
    // by fd: the upper is the sandbox's, and a symlink in it must not aim root's deletes at the host
    removeTree(dir);
    fs.rmSync(`${dir}.json`, { force: true });
    fs.rmSync(`${dir}.lock`, { force: true });
  } finally {
    if (!held) lock.release();
  }
}

/** For `warren gc`: unmounts what a crashed commit left mounted (never a commit in progress, which
 * holds the lock). Returns the names it cleaned. */
export function sweepKeptMounts(stateDir: string): string[] {
  const swept: string[] = [];
  for (const { name } of listKept(stateDir)) {
    const dir = keptDir(stateDir, name);
    if (!keptImageMounted(dir)) continue;
    let lock: KeptLock;
    try {
      lock = lockKept(stateDir, name);
    } catch (err) {
      if (isWarrenError(err, 'WARREN_KEPT_RUNNING')) continue;
      throw err;
    }
    try {
      unmountKeptImage(dir);
      swept.push(name);
    } finally {
      lock.release();
    }
  }
  return swept;
}
