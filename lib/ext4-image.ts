/**
 * Storage capped in bytes and inodes: an ext4 file system in a sparse image file on the host's
 * disk, loop-mounted. A plain dir on the host's disk has no cap of its own; the image is the cap
 * (a kept sandbox's upper, snapshots/kept-image.ts; a volume, volumes/). Each caller names the
 * error code its failures carry, so a user reads whose image failed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { errnoOf, WarrenError } from './errors.js';
import type { ErrorCode } from './error-codes.js';

const INODE_BYTES = 256;
/** The image's own inodes: root, lost+found, ext4's reserved ones and a few dirs of the caller's. */
const IMAGE_INODES = 16;
/** Programs run with the host's sbin dirs on PATH: mkfs.ext4 and losetup live there. */
const ENV = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin:/usr/bin:/bin` };

export interface ImageCap {
  sizeBytes: number;
  inodes: number;
}

/**
 * The image's size for `cap.sizeBytes` of files: ext4 puts its inode tables (256 bytes an inode),
 * bitmaps and group descriptors inside the image, so they come on top (measured on ext4: within a
 * few percent of the cap from 8 MiB to 512 MiB).
 */
export function imageBytes(cap: ImageCap): number {
  const bytes = cap.sizeBytes + (cap.inodes + IMAGE_INODES) * INODE_BYTES + (1 << 20) + Math.ceil(cap.sizeBytes / 32);
  return Math.ceil(bytes / 4096) * 4096;
}

function run(code: ErrorCode, what: string, file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    throw new WarrenError(code, `${what}${stderr ? `: ${stderr}` : ''}`, { cause: err });
  }
}

/** Makes `img` (which must not exist): a sparse file, formatted ext4 without a journal or
 * reserved blocks, its root dir owned by the host's root (0:0, mkfs's default). */
export function makeImage(img: string, cap: ImageCap, code: ErrorCode): void {
  if (!Number.isSafeInteger(cap.sizeBytes) || cap.sizeBytes <= 0 || !Number.isSafeInteger(cap.inodes) || cap.inodes <= 0) {
    throw new WarrenError(code, `an image's cap must be whole bytes and inodes, got ${cap.sizeBytes} bytes, ${cap.inodes} inodes`);
  }
  const fd = fs.openSync(img, 'wx', 0o600);
  try {
    fs.ftruncateSync(fd, imageBytes(cap));
  } finally {
    fs.closeSync(fd);
  }
  // no journal: only a host crash can leave it unclean, and the kernel mounts it anyway
  run(code, `format the image '${img}'`, 'mkfs.ext4', ['-q', '-F', '-m', '0', '-I', String(INODE_BYTES), '-N', String(cap.inodes + IMAGE_INODES),
    '-O', '^has_journal', '-E', 'nodiscard', img]);
}

/** The loop devices backed by `img`: a mount of it, anywhere (a sandbox's mount namespace too),
 * holds one until it goes. */
export function imageLoops(img: string, code: ErrorCode): string[] {
  if (!fs.existsSync(img)) return [];
  const out = run(code, `list the loop devices of '${img}'`, 'losetup', ['-n', '-O', 'NAME', '-j', img]);
  return out.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** Whether something is mounted on `dir`: its device differs from its parent's. */
export function isMountPoint(dir: string): boolean {
  const st = fs.lstatSync(dir, { throwIfNoEntry: false });
  return st !== undefined && st.isDirectory() && st.dev !== fs.lstatSync(`${dir}/..`).dev;
}

/** Mounts `source` (an image file, or a loop device already backed by one) on `mnt` with `options`.
 * `mount -o loop` attaches a loop device with autoclear: the last unmount detaches it. */
export function mountImage(source: string, mnt: string, options: string, code: ErrorCode): void {
  const loop = source.startsWith('/dev/') ? [] : ['loop'];
  run(code, `mount '${source}' on '${mnt}'`, 'mount', ['-t', 'ext4', '-o', [...loop, options].join(','), source, mnt]);
}

/** Unmounts `mnt` if something is mounted there. */
export function unmountImage(mnt: string, code: ErrorCode): void {
  if (isMountPoint(mnt)) run(code, `unmount '${mnt}'`, 'umount', [mnt]);
}

/** rmdir, a dir already gone being fine. */
export function rmdirQuiet(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
}
