/**
 * The few libc calls snapshots/ needs that Node's fs lacks: mknod and xattrs for overlay's marks,
 * flock for a kept sandbox's lock. Bound with koffi on first use.
 */
import { createRequire } from 'node:module';
import type koffiApi from 'koffi';
import { WarrenError } from '../lib/errors.js';

export interface Libc {
  mknod(path: string, mode: number, dev: number): number;
  lgetxattr(path: string, name: string, value: Buffer, size: number): number;
  getxattr(path: string, name: string, value: Buffer, size: number): number;
  lsetxattr(path: string, name: string, value: Buffer, size: number, flags: number): number;
  flock(fd: number, op: number): number;
  errno(): number;
}

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const EWOULDBLOCK = 11;

let libc: Libc | undefined;

export function libcCalls(): Libc {
  if (libc) return libc;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof koffiApi;
    const lib = koffi.load('libc.so.6');
    libc = {
      mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)') as Libc['mknod'],
      lgetxattr: lib.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)') as Libc['lgetxattr'],
      getxattr: lib.func('intptr_t getxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)') as Libc['getxattr'],
      lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)') as Libc['lsetxattr'],
      flock: lib.func('int flock(int fd, int op)') as Libc['flock'],
      errno: () => koffi.errno(),
    };
    return libc;
  } catch (cause) {
    throw new WarrenError('WARREN_LAYER_LIBC', 'bind libc for overlay marks and locks', { cause });
  }
}
