/**
 * `warren commit NAME IMAGE`, like `docker commit`: a kept sandbox's upper becomes a new layer on
 * top of the layers it ran on. Ownership goes back from the sandbox's host uid range to 0-based ids
 * (an id outside the range becomes nobody), and overlay's marks stay as they are: whiteouts for
 * deleted files and opaque dirs, so a deletion in the sandbox stays a deletion in the image.
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkDepth, copyHeldFile, holdEntry, holdRoot, listHeld, readlinkHeld, type WalkSeam } from './held-tree.js';
import { writeImage, type Image } from './image.js';
import { assertKeptIdle, keptDir, lockKept, readKept } from './kept.js';
import { hasKeptImage, mountKeptImage, unmountKeptImage } from './kept-image.js';
import { isOpaqueFd, isWhiteout, makeWhiteout, markOpaque } from './overlay-marks.js';
import { LayerStore } from './store.js';
import { UID_RANGE } from '../lib/uid-range.js';

const NOBODY = 65534;

function shift(id: number, base: number): number {
  if (id === 0) return 0; // overlay made it with the mounter's creds: whiteouts, copied-up dirs
  return id >= base && id < base + UID_RANGE ? id - base : NOBODY;
}

/** One entry of the upper, held by `fd`, to `to`; false if it is not part of an image. */
function copyEntry(fd: number, st: fs.Stats, dirFd: number, name: string, to: string, rel: string, depth: number, base: number, seam?: WalkSeam): boolean {
  const mode = st.mode & 0o1777; // never setuid or setgid in an image
  if (st.isDirectory()) {
    fs.mkdirSync(to);
    if (isOpaqueFd(fd)) markOpaque(to);
    copyDir(fd, to, rel, depth + 1, base, seam);
    fs.chmodSync(to, mode);
  } else if (st.isFile()) {
    copyHeldFile(fd, st, to);
    fs.chmodSync(to, mode);
  } else if (st.isSymbolicLink()) {
    const target = readlinkHeld(dirFd, name);
    if (target === undefined) return false; // swapped since: only a running sandbox can, and commit refuses those
    fs.symlinkSync(target, to);
  } else if (isWhiteout(st)) {
    makeWhiteout(to);
  } else {
    return false; // fifos and sockets are not part of an image, as docker commit drops sockets
  }
  fs.lchownSync(to, shift(st.uid, base), shift(st.gid, base));
  return true;
}

/** Copies the held dir's entries into `dst` (a new layer: ours, so written by path). */
function copyDir(dirFd: number, dst: string, rel: string, depth: number, base: number, seam?: WalkSeam): void {
  checkDepth(depth, rel);
  for (const name of listHeld(dirFd)) {
    const fd = holdEntry(dirFd, name);
    if (fd === undefined) continue;
    try {
      const st = fs.fstatSync(fd);
      const sub = rel ? `${rel}/${name}` : name;
      seam?.(sub, st);
      copyEntry(fd, st, dirFd, name, path.join(dst, name), sub, depth, base, seam);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Copies a sandbox's upper dir into `dst` by fd (held-tree.ts): nothing outside `upper` is read. */
export function copyUpper(upper: string, dst: string, base: number, seam?: WalkSeam): void {
  const root = holdRoot(upper);
  if (root === undefined) return; // the sandbox never started: an empty layer
  try {
    copyDir(root, dst, '', 0, base, seam);
  } finally {
    fs.closeSync(root);
  }
}

export async function commitKept(stateDir: string, name: string, image: string): Promise<Image> {
  // a running sandbox could change its upper under the copy: refuse, and keep it from starting
  using _lock = lockKept(stateDir, name);
  const kept = readKept(stateDir, name);
  const dir = keptDir(stateDir, name);
  // its image, mounted read-only for the copy and unmounted after (a crash's mount: rm, warren gc)
  const imaged = hasKeptImage(dir);
  if (imaged) {
    unmountKeptImage(dir); // a crashed commit's
    assertKeptIdle(dir, name);
  }
  const upper = imaged ? mountKeptImage(dir) : path.join(dir, 'upper');
  let digest: string;
  try {
    digest = await new LayerStore(stateDir).add(async (layer) => copyUpper(upper, layer, kept.uidBase));
  } finally {
    if (imaged) unmountKeptImage(dir);
  }
  const committed: Image = { name: image, layers: [digest, ...kept.layers], created: new Date().toISOString() };
  await writeImage(stateDir, committed);
  return committed;
}
