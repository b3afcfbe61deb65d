/**
 * Walking a tree that a sandbox owns (a kept sandbox's upper) by fd, never by path. Host root
 * copies or deletes it, and its owner may swap a dir for a symlink at any moment (rename, or
 * renameat2 RENAME_EXCHANGE): a walk by path that lstat'ed a dir and then read it by name would
 * follow the symlink out to the host. Here every entry is opened with O_PATH|O_NOFOLLOW by its one
 * name inside a dir already held (`/proc/self/fd/<dir>/<name>`: the magic link is that very dir,
 * the name a single component), what it is comes from fstat of that fd, a dir is read through its
 * fd, a file through an fd reopened from the one we checked, and unlink/rmdir name an entry of a
 * held dir. Node has no openat; the /proc/self/fd link is how it gets one.
 */
import fs from 'node:fs';
import { errnoOf, WarrenError } from '../lib/errors.js';

const O_PATH = 0o10000000; // Linux, all architectures Node runs on; Node does not export it
const { O_NOFOLLOW, O_DIRECTORY, O_RDONLY, O_NOCTTY, O_NONBLOCK } = fs.constants;
/** Deeper than any real tree; a bound on the fds one walk holds. */
const MAX_DEPTH = 256;
/** Times a dir is listed again while it does not become empty (its owner keeps adding). */
const MAX_PASSES = 8;

/** Called with each entry's path (relative to the root) once it is held and stat'ed: tests change
 * the tree here, between the open and the use, as a racing sandbox would. */
export type WalkSeam = (rel: string, st: fs.Stats) => void;

export function heldPath(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/** Holds `dir` itself (O_PATH, not following it if it is a symlink); undefined if it is gone. */
export function holdRoot(dir: string): number | undefined {
  try {
    return fs.openSync(dir, O_PATH | O_NOFOLLOW | O_DIRECTORY);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw new WarrenError('WARREN_KEPT_WALK', `open '${dir}'`, { cause: err });
  }
}

/** Holds the entry `name` of a held dir without following it; undefined if it went away. */
export function holdEntry(dirFd: number, name: string): number | undefined {
  try {
    return fs.openSync(heldPath(dirFd, name), O_PATH | O_NOFOLLOW);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw new WarrenError('WARREN_KEPT_WALK', `open '${name}'`, { cause: err });
  }
}

export function listHeld(dirFd: number): string[] {
  return fs.readdirSync(heldPath(dirFd));
}

export function checkDepth(depth: number, rel: string): void {
  if (depth > MAX_DEPTH) throw new WarrenError('WARREN_KEPT_WALK', `'${rel}' is nested deeper than ${MAX_DEPTH} dirs`);
}

/** The target of the symlink `name` in a held dir (readlink does not follow the last name), or
 * undefined if that name is no longer a symlink. */
export function readlinkHeld(dirFd: number, name: string): string | undefined {
  try {
    return fs.readlinkSync(heldPath(dirFd, name));
  } catch (err) {
    if (errnoOf(err) === 'EINVAL' || errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Copies the regular file held by `fd` (stat'ed as `st`) to a new file `to`: read through an fd
 * reopened from the held one, and checked to be the same inode. */
export function copyHeldFile(fd: number, st: fs.Stats, to: string): void {
  const src = fs.openSync(heldPath(fd), O_RDONLY | O_NOCTTY | O_NONBLOCK);
  try {
    const got = fs.fstatSync(src);
    if (!got.isFile() || got.ino !== st.ino || got.dev !== st.dev) {
      throw new WarrenError('WARREN_KEPT_WALK', `'${to}': the file changed while it was copied`);
    }
    const dst = fs.openSync(to, 'wx', 0o600);
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (let n; (n = fs.readSync(src, buf, 0, buf.length, null)) > 0; ) fs.writeSync(dst, buf, 0, n);
    } finally {
      fs.closeSync(dst);
    }
  } finally {
    fs.closeSync(src);
  }
}

function ignoreRaced(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    // it was swapped, moved or refilled since we looked: the next pass over the dir sees it anew
    if (!['ENOENT', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY'].includes(errnoOf(err) ?? '')) throw err;
  }
}

/** What a removal walk carries down: the tree's device (it never crosses into another mount). */
interface Removal {
  dev: number;
  seam?: WalkSeam;
}

function removeEntry(dirFd: number, name: string, rel: string, depth: number, r: Removal): void {
  const fd = holdEntry(dirFd, name);
  if (fd === undefined) return;
  try {
    const st = fs.fstatSync(fd);
    r.seam?.(rel, st);
    if (st.isDirectory()) {
      if (st.dev !== r.dev) throw new WarrenError('WARREN_KEPT_WALK', `'${rel}' is a mount point: not removed`);
      emptyHeld(fd, rel, depth + 1, r);
      ignoreRaced(() => fs.rmdirSync(heldPath(dirFd, name)));
    } else {
      ignoreRaced(() => fs.unlinkSync(heldPath(dirFd, name)));
    }
  } finally {
    fs.closeSync(fd);
  }
}

function emptyHeld(dirFd: number, rel: string, depth: number, r: Removal): void {
  checkDepth(depth, rel);
  for (let pass = 0; ; pass++) {
    const names = listHeld(dirFd);
    if (names.length === 0) return;
    if (pass === MAX_PASSES) throw new WarrenError('WARREN_KEPT_BUSY', `'${rel || '.'}' keeps changing while it is removed`);
    for (const name of names) removeEntry(dirFd, name, rel ? `${rel}/${name}` : name, depth, r);
  }
}

/** Removes `dir` and all below it, never following a symlink nor entering another mount: nothing
 * outside it is deleted, whatever its owner swaps in. `dir` itself is named by path: its parent
 * must be ours. */
export function removeTree(dir: string, seam?: WalkSeam): void {
  const root = holdRoot(dir);
  if (root === undefined) return;
  try {
    emptyHeld(root, '', 0, { dev: fs.fstatSync(root).dev, seam });
  } finally {
    fs.closeSync(root);
  }
  fs.rmdirSync(dir);
}
