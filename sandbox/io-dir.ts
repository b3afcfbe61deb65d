/**
 * A sandbox's io dir (SandboxOptions.io): `<run>/io/<id>`, where the host and the sandbox meet. It
 * is a tmpfs of its own, capped in size and inodes, owned by the sandbox's root with mode 0700:
 * the sandbox writes into it, and without a cap it could fill the host's /run. The host mounts it
 * before the spawn (the child binds it from the host's mount namespace: rootfs.c take_binds) and
 * unmounts it at release; `warren gc` unmounts what a crashed warren left.
 *
 * mount(2) and umount2(2) through lib/libc.ts, loaded on the first io dir: a `mount` process per create
 * would cost 6-9 ms of a ~1 ms create; the calls cost ~30 us and ~0.5 ms (umount waits for RCU).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getSystemErrorName } from 'node:util';
import { WarrenError, errnoOf } from '../lib/errors.js';
import { libc, type Libc } from '../lib/libc.js';
import { IO_DIRS } from './defaults.js';

/** sys/mount.h */
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;
const MNT_DETACH = 0x2;
const UMOUNT_NOFOLLOW = 0x8;

/** What an io dir holds by default: sockets and small files, not data. */
export const IO_DIR_CAP = { sizeBytes: 1024 * 1024, inodes: 64 } as const;

/** `<run>/io/<id>` with a fresh tmpfs on it, owned by `uid` (the sandbox's root) and mode 0700, so
 * that only it and host root enter. */
export function makeIoDir(run: string, id: string, uid: number, cap: { sizeBytes?: number; inodes?: number } = {}): string {
  const size = cap.sizeBytes ?? IO_DIR_CAP.sizeBytes;
  const inodes = cap.inodes ?? IO_DIR_CAP.inodes;
  // checked, not trusted to the type: they go into mount(2)'s option string
  for (const [name, v] of [['sizeBytes', size], ['inodes', inodes]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new WarrenError('WARREN_IO_BAD_CAP', `io dir ${name} '${String(v)}' is not a positive integer`);
  }
  const dir = path.join(run, IO_DIRS, id);
  // the parent is made on the first miss, not checked on every create (the hot path)
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw new WarrenError('WARREN_IO_MKDIR', `cannot make io dir '${dir}'`, { cause: err });
    fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o711 });
    fs.mkdirSync(dir, { mode: 0o700 });
  }
  let c: Libc;
  try {
    c = libc();
  } catch (err) {
    fs.rmdirSync(dir);
    throw err;
  }
  const data = `size=${size},nr_inodes=${inodes},mode=0700,uid=${uid},gid=${uid}`;
  if (c.mount('tmpfs', dir, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, data) !== 0) {
    const errno = c.errno();
    fs.rmdirSync(dir);
    throw new WarrenError('WARREN_IO_MOUNT', `cannot mount a tmpfs (${data}) on io dir '${dir}': ${getSystemErrorName(-errno)}`);
  }
  return dir;
}

/** Unmounts and removes an io dir; idempotent: a dir with no mount, or no dir, is fine. */
export function removeIoDir(dir: string): void {
  const c = libc();
  // detached: a process of the sandbox still inside it must not keep the host's dir in place
  if (c.umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW) !== 0) {
    const errno = c.errno();
    const { EINVAL, ENOENT } = os.constants.errno;
    if (errno !== EINVAL && errno !== ENOENT) throw new WarrenError('WARREN_IO_UMOUNT', `cannot unmount io dir '${dir}': ${getSystemErrorName(-errno)}`);
  }
  // a tmpfs mounted twice (never by warren) would show through: remove what is left either way
  fs.rmSync(dir, { recursive: true, force: true });
}
