/**
 * A kept sandbox's upper lives in an ext4 image file, `<state>/kept/<name>/upper.img`, sized as the
 * tmpfs a plain sandbox writes to: the image is the cap on its bytes and inodes, which a plain dir
 * on the host's disk never had (issue 9: 300 MiB and 30,000 files past an 8 MiB / 16,384 inode
 * cap). The spawner's child loop-mounts it in its own mount namespace (rootfs.c), so a sandbox's
 * end or crash leaks no mount. Commit mounts it read-only on the host at `<name>/mnt` for the copy
 * and unmounts it after; a crash in between leaves that mount, which rm and `warren gc` take away.
 * The image itself is lib/ext4-image.ts's, as a volume's is.
 */
import fs from 'node:fs';
import path from 'node:path';
import { imageBytes, imageLoops, isMountPoint, makeImage, mountImage, rmdirQuiet, unmountImage, type ImageCap } from '../lib/ext4-image.js';

const IMAGE = 'upper.img';
const MNT = 'mnt';

export type KeptCap = ImageCap;

/** The image's size for `cap` (lib/ext4-image.ts). */
export function keptImageBytes(cap: KeptCap): number {
  return imageBytes(cap);
}

/** Makes `dir`/upper.img: a sparse file, formatted ext4 without a journal or reserved blocks. */
export function makeKeptImage(dir: string, cap: KeptCap): void {
  makeImage(path.join(dir, IMAGE), cap, 'WARREN_KEPT_IMAGE');
}

export function hasKeptImage(dir: string): boolean {
  return fs.existsSync(path.join(dir, IMAGE));
}

/** The loop devices backed by the image. A sandbox's mount of it holds one until the last of the
 * sandbox's processes is gone (the mount lives in their mount namespace), and so does a mount of
 * it on the host: no loop, nobody can change it. */
export function keptImageLoops(dir: string): string[] {
  return imageLoops(path.join(dir, IMAGE), 'WARREN_KEPT_IMAGE');
}

/** Whether something is mounted on `dir`/mnt. */
export function keptImageMounted(dir: string): boolean {
  return isMountPoint(path.join(dir, MNT));
}

/** Mounts the image read-only (nosuid, nodev, noexec) at `dir`/mnt and returns the upper in it. */
export function mountKeptImage(dir: string): string {
  const mnt = path.join(dir, MNT);
  fs.mkdirSync(mnt, { recursive: true, mode: 0o700 });
  if (!keptImageMounted(dir)) mountImage(path.join(dir, IMAGE), mnt, 'ro,nosuid,nodev,noexec', 'WARREN_KEPT_IMAGE');
  return path.join(mnt, 'upper');
}

/** Unmounts `dir`/mnt if something is mounted there, and removes the mount point. Idempotent. */
export function unmountKeptImage(dir: string): void {
  unmountImage(path.join(dir, MNT), 'WARREN_KEPT_IMAGE');
  rmdirQuiet(path.join(dir, MNT));
}
