/**
 * A kept sandbox's upper lives in an ext4 image file, `<state>/kept/<name>/upper.img`, sized as the
 * tmpfs a plain sandbox writes to: the image is the cap on its bytes and inodes, which a plain dir
 * on the host's disk never had (issue 9: 300 MiB and 30,000 files past an 8 MiB / 16,384 inode
 * cap). The spawner's child loop-mounts it in its own mount namespace (rootfs.c), so a sandbox's
 * end or crash leaks no mount. Commit mounts it read-only on the host at `<name>/mnt` for the copy
 * and unmounts it after; a crash in between leaves that mount, which rm and `warren gc` take away.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, WarrenError } from '../lib/errors.js';

const IMAGE = 'upper.img';
const MNT = 'mnt';
const INODE_BYTES = 256;
/** The image's own inodes: root, lost+found, upper, work, work/work and ext4's reserved ones. */
const IMAGE_INODES = 16;
/** Programs run with the host's sbin dirs on PATH: mkfs.ext4 lives there. */
const ENV = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin:/usr/bin:/bin` };

export interface KeptCap {
  sizeBytes: number;
  inodes: number;
}

/**
 * The image's size for `cap.sizeBytes` of files: ext4 puts its inode tables (256 bytes an inode),
 * bitmaps and group descriptors inside the image, so they come on top (measured on ext4: within a
 * few percent of the cap from 8 MiB to 512 MiB).
 */
export function keptImageBytes(cap: KeptCap): number {
  const bytes = cap.sizeBytes + (cap.inodes + IMAGE_INODES) * INODE_BYTES + (1 << 20) + Math.ceil(cap.sizeBytes / 32);
  return Math.ceil(bytes / 4096) * 4096;
}

function run(what: string, file: string, args: string[]): void {
  try {
    execFileSync(file, args, { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    throw new WarrenError('WARREN_KEPT_IMAGE', `${what}${stderr ? `: ${stderr}` : ''}`, { cause: err });
  }
}

/** Makes `dir`/upper.img: a sparse file, formatted ext4 without a journal or reserved blocks. */
export function makeKeptImage(dir: string, cap: KeptCap): void {
  if (!Number.isSafeInteger(cap.sizeBytes) || cap.sizeBytes <= 0 || !Number.isSafeInteger(cap.inodes) || cap.inodes <= 0) {
    throw new WarrenError('WARREN_KEPT_IMAGE', `a kept sandbox's cap must be whole bytes and inodes, got ${cap.sizeBytes} bytes, ${cap.inodes} inodes`);
  }
  const img = path.join(dir, IMAGE);
  const fd = fs.openSync(img, 'wx', 0o600);
  try {
    fs.ftruncateSync(fd, keptImageBytes(cap));
  } finally {
    fs.closeSync(fd);
  }
  // no journal: only a host crash can leave it unclean, and the kernel mounts it anyway
  run(`format the image '${img}'`, 'mkfs.ext4', ['-q', '-F', '-m', '0', '-I', String(INODE_BYTES), '-N', String(cap.inodes + IMAGE_INODES),
    '-O', '^has_journal', '-E', 'nodiscard', img]);
}

export function hasKeptImage(dir: string): boolean {
  return fs.existsSync(path.join(dir, IMAGE));
}

/** The loop devices backed by the image. A sandbox's mount of it holds one until the last of the
 * sandbox's processes is gone (the mount lives in their mount namespace), and so does a mount of
 * it on the host: no loop, nobody can change it. */
export function keptImageLoops(dir: string): string[] {
  const img = path.join(dir, IMAGE);
  if (!fs.existsSync(img)) return [];
  try {
    const out = execFileSync('losetup', ['-n', '-O', 'NAME', '-j', img], { env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n').map((l) => l.trim()).filter(Boolean);
  } catch (err) {
    throw new WarrenError('WARREN_KEPT_IMAGE', `list the loop devices of '${img}'`, { cause: err });
  }
}

/** Whether something is mounted on `dir`/mnt: its device differs from its parent's. */
export function keptImageMounted(dir: string): boolean {
  const mnt = fs.lstatSync(path.join(dir, MNT), { throwIfNoEntry: false });
  return mnt !== undefined && mnt.isDirectory() && mnt.dev !== fs.lstatSync(dir).dev;
}

/** Mounts the image read-only (nosuid, nodev, noexec) at `dir`/mnt and returns the upper in it.
 * `mount -o loop` attaches the loop device with autoclear: the unmount detaches it. */
export function mountKeptImage(dir: string): string {
  const mnt = path.join(dir, MNT);
  fs.mkdirSync(mnt, { recursive: true, mode: 0o700 });
  if (!keptImageMounted(dir)) run(`mount the image of '${dir}'`, 'mount', ['-t', 'ext4', '-o', 'ro,loop,nosuid,nodev,noexec', path.join(dir, IMAGE), mnt]);
  return path.join(mnt, 'upper');
}

/** Unmounts `dir`/mnt if something is mounted there, and removes the mount point. Idempotent. */
export function unmountKeptImage(dir: string): void {
  if (keptImageMounted(dir)) run(`unmount '${path.join(dir, MNT)}'`, 'umount', [path.join(dir, MNT)]);
  try {
    fs.rmdirSync(path.join(dir, MNT));
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
}
