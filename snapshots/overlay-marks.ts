/**
 * overlayfs's marks in an upper dir, which Node's fs cannot read or make: a deleted file is a
 * whiteout (a character device 0/0), a directory replaced as a whole is opaque (the xattr
 * trusted.overlay.opaque = "y"). A committed layer keeps them as they are, so that the kernel
 * reads them again when the layer is a lower one.
 */
import type fs from 'node:fs';
import { WarrenError } from '../lib/errors.js';
import { libc as load } from '../lib/libc.js';

const OPAQUE = 'trusted.overlay.opaque';
const S_IFCHR = 0o020000;

export function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export function makeWhiteout(path: string): void {
  if (load().mknod(path, S_IFCHR | 0o000, 0) < 0) {
    throw new WarrenError('WARREN_LAYER_WHITEOUT', `make whiteout '${path}': errno ${load().errno()}`);
  }
}

export function isOpaque(dir: string): boolean {
  const buf = Buffer.alloc(8);
  const n = load().lgetxattr(dir, OPAQUE, buf, buf.length);
  return n > 0 && buf[0] === 0x79; // "y"
}

/** The same for a dir held by fd (O_PATH too): its /proc/self/fd link leads to that very dir. */
export function isOpaqueFd(fd: number): boolean {
  const buf = Buffer.alloc(8);
  const n = load().getxattr(`/proc/self/fd/${fd}`, OPAQUE, buf, buf.length);
  return n > 0 && buf[0] === 0x79;
}

export function markOpaque(dir: string): void {
  if (load().lsetxattr(dir, OPAQUE, Buffer.from('y'), 1, 0) < 0) {
    throw new WarrenError('WARREN_LAYER_OPAQUE', `mark '${dir}' opaque: errno ${load().errno()}`);
  }
}
