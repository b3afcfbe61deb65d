/**
 * Named volumes (`warren volume create NAME`, `warren run -v NAME:/path`): storage that outlives
 * any sandbox, as Docker's named volumes. Each is `<state>/volumes/<name>/`: `volume.json` (its
 * cap and when it was made) and `data.img`, an ext4 image (lib/ext4-image.ts) whose size and inode
 * count are the volume's cap, so a sandbox writing to it gets ENOSPC and the host's disk does not
 * fill. The image's root dir is owned by 0:0 as stored, as a layer's files are; sandboxes see
 * stored owners through an idmapped mount (use.ts), so it is their root's whatever uid range they
 * map. Every change here is made under the volumes lock (lock.ts) by the caller.
 */
import fs from 'node:fs';
import path from 'node:path';
import { imageLoops, makeImage, type ImageCap } from '../lib/ext4-image.js';
import { errnoOf, WarrenError } from '../lib/errors.js';

export interface Volume {
  name: string;
  sizeBytes: number;
  inodes: number;
  created: string;
}

/** 1 GiB: sparse, so an unused volume costs the host little, and one ext4 keeps cheaply. */
export const DEFAULT_VOLUME_BYTES = 1 << 30;
/** ext4's own default: an inode per 16 KiB of space. */
const BYTES_PER_INODE = 16 << 10;
export const MIN_VOLUME_BYTES = 1 << 20;
/** ext4 with 4 KiB blocks and no 64bit feature stops at 16 TiB. */
export const MAX_VOLUME_BYTES = 2 ** 44 - 2 ** 20;
export const MAX_VOLUME_INODES = 2 ** 31;

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;
const RECORD = 'volume.json';
const IMAGE = 'data.img';

export function checkVolumeName(name: string): string {
  if (!NAME.test(name)) throw new WarrenError('WARREN_VOLUME_NAME', `invalid volume name '${name}': letters, digits, _ . - (at most 64), starting with a letter or digit`);
  return name;
}

export function volumesDir(stateDir: string): string {
  return path.join(stateDir, 'volumes');
}

export function volumeDir(stateDir: string, name: string): string {
  return path.join(volumesDir(stateDir), checkVolumeName(name));
}

export function volumeImage(stateDir: string, name: string): string {
  return path.join(volumeDir(stateDir, name), IMAGE);
}

/** The cap for `sizeBytes` (default 1 GiB) and `inodes` (default one per 16 KiB, as ext4's). */
export function volumeCap(sizeBytes = DEFAULT_VOLUME_BYTES, inodes?: number): ImageCap {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < MIN_VOLUME_BYTES || sizeBytes > MAX_VOLUME_BYTES) {
    throw new WarrenError('WARREN_VOLUME_SIZE', `a volume's size must be from 1 MiB to 16 TiB, got ${sizeBytes} bytes`);
  }
  const n = inodes ?? Math.max(256, Math.floor(sizeBytes / BYTES_PER_INODE));
  if (!Number.isSafeInteger(n) || n < 16 || n > MAX_VOLUME_INODES) {
    throw new WarrenError('WARREN_VOLUME_SIZE', `a volume's inode count must be from 16 to ${MAX_VOLUME_INODES}, got ${n}`);
  }
  return { sizeBytes, inodes: n };
}

function notFound(name: string): WarrenError {
  return new WarrenError('WARREN_VOLUME_NOT_FOUND', `no volume named '${name}' (warren volume ls)`);
}

/** The volume, or undefined when there is none of that name. */
export function findVolume(stateDir: string, name: string): Volume | undefined {
  const file = path.join(volumeDir(stateDir, name), RECORD);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Volume;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw new WarrenError('WARREN_VOLUME_CORRUPT', `read volume '${name}' ('${file}')`, { cause: err });
  }
}

export function readVolume(stateDir: string, name: string): Volume {
  const v = findVolume(stateDir, name);
  if (!v) throw notFound(name);
  return v;
}

export function listVolumes(stateDir: string): Volume[] {
  let names: string[];
  try {
    names = fs.readdirSync(volumesDir(stateDir)).filter((n) => NAME.test(n));
  } catch {
    return [];
  }
  return names.sort().flatMap((n) => findVolume(stateDir, n) ?? []);
}

/** Makes the volume; WARREN_VOLUME_EXISTS if the name is taken. A make that fails leaves nothing. */
export function makeVolume(stateDir: string, name: string, cap: ImageCap): Volume {
  const dir = volumeDir(stateDir, name);
  fs.mkdirSync(volumesDir(stateDir), { recursive: true, mode: 0o700 });
  if (findVolume(stateDir, name)) throw new WarrenError('WARREN_VOLUME_EXISTS', `a volume named '${name}' exists`);
  // a dir without its record is what a make or rm that crashed left: nothing in it is a volume yet
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { mode: 0o700 });
  const volume: Volume = { name, sizeBytes: cap.sizeBytes, inodes: cap.inodes, created: new Date().toISOString() };
  try {
    makeImage(path.join(dir, IMAGE), cap, 'WARREN_VOLUME_IMAGE');
    // the record last: a volume is listed only once its image is whole
    fs.writeFileSync(path.join(dir, `${RECORD}.tmp`), `${JSON.stringify(volume, null, 2)}\n`);
    fs.renameSync(path.join(dir, `${RECORD}.tmp`), path.join(dir, RECORD));
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return volume;
}

/** Bytes the volume's image takes on the host's disk (it is sparse, and mounted with discard, so
 * deleting files inside gives the space back). */
export function volumeUsedBytes(stateDir: string, name: string): number {
  const st = fs.statSync(volumeImage(stateDir, name), { throwIfNoEntry: false });
  return st ? st.blocks * 512 : 0;
}

/** The loop devices backed by the volume's image: a mount of it anywhere holds one. */
export function volumeLoops(stateDir: string, name: string): string[] {
  return imageLoops(volumeImage(stateDir, name), 'WARREN_VOLUME_IMAGE');
}

/** Removes the record, then the image: a crash between leaves an unlisted dir that a make of the
 * name replaces.
 * The dir holds only those two files (the image is never mounted here), so no walk into a
 * sandbox's files is needed. */
export function dropVolumeFiles(stateDir: string, name: string): void {
  const dir = volumeDir(stateDir, name);
  fs.rmSync(path.join(dir, RECORD), { force: true });
  fs.rmSync(dir, { recursive: true, force: true });
}
