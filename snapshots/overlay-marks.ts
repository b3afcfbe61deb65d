/**
 * overlayfs's marks in an upper dir, which Node's fs cannot read or make: a deleted file is a
 * whiteout (a character device 0/0), a directory replaced as a whole is opaque (the xattr
 * trusted.overlay.opaque = "y"). A committed layer keeps them as they are, so that the kernel
 * reads them again when the layer is a lower one. libc through koffi, loaded on first use.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import type koffiApi from 'koffi';
import { WarrenError } from '../lib/errors.js';

const OPAQUE = 'trusted.overlay.opaque';
const S_IFCHR = 0o020000;

interface Libc {
  mknod(path: string, mode: number, dev: number): number;
  lgetxattr(path: string, name: string, value: Buffer, size: number): number;
  lsetxattr(path: string, name: string, value: Buffer, size: number, flags: number): number;
  errno(): number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof koffiApi;
    const lib = koffi.load('libc.so.6');
    libc = {
      mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)') as Libc['mknod'],
      lgetxattr: lib.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)') as Libc['lgetxattr'],
      lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)') as Libc['lsetxattr'],
      errno: () => koffi.errno(),
    };
    return libc;
  } catch (cause) {
    throw new WarrenError('WARREN_LAYER_LIBC', 'bind libc for overlay whiteouts', { cause });
  }
}

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

export function markOpaque(dir: string): void {
  if (load().lsetxattr(dir, OPAQUE, Buffer.from('y'), 1, 0) < 0) {
    throw new WarrenError('WARREN_LAYER_OPAQUE', `mark '${dir}' opaque: errno ${load().errno()}`);
  }
}
