/**
 * A volume in use: mounted once on the host, at `<run>/volumes/<name>` (a 0700 dir: only root
 * reaches it; nosuid, nodev), and bound from there into each sandbox that uses it, idmapped
 * through the sandbox's user namespace (sandbox binds' `idmap`). One mount for all its users: two
 * mounts of the image would be two ext4 super blocks over one file, which corrupts it. So a mount
 * is made only when none exists, and from the loop device already backing the image if a sandbox
 * that is ending still holds one (the kernel then hands back that same super block).
 *
 * Who uses it: a record per use, `<run>/volumes/<name>.users/<pid>-<n>` (its pid and sandbox),
 * that the user holds an flock on for as long as its sandbox may run. The kernel drops the flock
 * when the user dies, SIGKILL included, so a record nobody holds is stale whatever its pid says
 * (a pid may be reused; a lock is not). The last user to let go unmounts the host mount; the loop
 * device detaches itself (autoclear) once the last sandbox's mount of it is gone too. What a
 * killed user leaves mounted, the next user's release or `warren gc` unmounts. Everything in the
 * run dir: a reboot ends every use and every mount, and leaves no record.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMountPoint, mountImage, rmdirQuiet, unmountImage, type ImageCap } from '../lib/ext4-image.js';
import { errnoOf, isWarrenError, WarrenError } from '../lib/errors.js';
import { runDirOfThisBoot } from '../lib/run-dir.js';
import { unlinkQuiet } from '../lib/leases.js';
import { holdRecord, lockVolumes, recordHeld } from './lock.js';
import { checkVolumeName, dropVolumeFiles, findVolume, makeVolume, readVolume, volumeImage, volumeLoops, type Volume } from './store.js';

export interface VolumeDirs {
  state: string;
  run: string;
}

export interface VolumeUser {
  pid: number;
  /** The sandbox, as its user named it (an id or a kept sandbox's name). */
  sandbox: string;
}

/** A volume held for one sandbox: bind `mnt` into it (idmapped); release after it ended. */
export interface VolumeUse extends Disposable {
  readonly volume: Volume;
  readonly mnt: string;
  /** Names the sandbox in the record, once it has an id (`warren volume ls` shows it). */
  label(sandbox: string): void;
  release(): void;
}

const MOUNT_OPTIONS = 'nosuid,nodev,discard';
let uses = 0;

function mountDir(run: string, name: string): string {
  return path.join(run, 'volumes', checkVolumeName(name));
}

function usersDir(run: string, name: string): string {
  return `${mountDir(run, name)}.users`;
}

function readUsers(run: string, name: string): Array<VolumeUser & { file: string; live: boolean }> {
  runDirOfThisBoot(run, { create: false });
  const dir = usersDir(run, name);
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return files.map((f) => {
    const file = path.join(dir, f);
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      // gone meanwhile: dead
    }
    const [pid = '', ...rest] = text.trim().split(' ');
    return { file, pid: Number(pid), sandbox: rest.join(' '), live: recordHeld(file) };
  });
}

/** The volume's live users. */
export function volumeUsers(dirs: VolumeDirs, name: string): VolumeUser[] {
  return readUsers(dirs.run, name)
    .filter((u) => u.live)
    .map(({ pid, sandbox }) => ({ pid, sandbox }));
}

/** Mounts the image on the host unless it is mounted: from a loop device that still backs it (a
 * sandbox ending holds one), else from the image on a new one. */
function ensureMounted(dirs: VolumeDirs, name: string): string {
  const mnt = mountDir(dirs.run, name);
  fs.mkdirSync(path.dirname(mnt), { recursive: true, mode: 0o700 });
  fs.mkdirSync(mnt, { recursive: true, mode: 0o700 });
  if (isMountPoint(mnt)) return mnt;
  const [loop] = volumeLoops(dirs.state, name);
  if (loop) {
    try {
      mountImage(loop, mnt, MOUNT_OPTIONS, 'WARREN_VOLUME_IMAGE');
      return mnt;
    } catch (err) {
      // it detached between the look and the mount: its last user went, so a new one is safe
      if (!isWarrenError(err, 'WARREN_VOLUME_IMAGE') || volumeLoops(dirs.state, name).includes(loop)) throw err;
    }
  }
  mountImage(volumeImage(dirs.state, name), mnt, MOUNT_OPTIONS, 'WARREN_VOLUME_IMAGE');
  return mnt;
}

/** With the lock held: drops stale records, and unmounts when no live user is left. Returns
 * whether it unmounted. */
function settle(dirs: VolumeDirs, name: string): boolean {
  const users = readUsers(dirs.run, name);
  for (const u of users) if (!u.live) unlinkQuiet(u.file);
  if (users.some((u) => u.live)) return false;
  const mnt = mountDir(dirs.run, name);
  const mounted = isMountPoint(mnt);
  unmountImage(mnt, 'WARREN_VOLUME_IMAGE');
  rmdirQuiet(mnt);
  rmdirQuiet(usersDir(dirs.run, name));
  return mounted;
}

/**
 * Holds the volume for one sandbox: makes it first when there is none and `create` gives its cap
 * (`warren run -v NAME:/path` makes it on first use, as Docker does), mounts it on the host if no
 * one has, and records the use. `sandbox` names the user until `label` says better.
 */
export function useVolume(dirs: VolumeDirs, name: string, opts: { create?: ImageCap; sandbox: string }): VolumeUse {
  checkVolumeName(name);
  runDirOfThisBoot(dirs.run);
  using _lock = lockVolumes(dirs.state);
  const volume = findVolume(dirs.state, name) ?? (opts.create ? makeVolume(dirs.state, name, opts.create) : readVolume(dirs.state, name));
  fs.mkdirSync(usersDir(dirs.run, name), { recursive: true, mode: 0o700 });
  const file = path.join(usersDir(dirs.run, name), `${process.pid}-${uses++}`);
  const fd = holdRecord(file, `${process.pid} ${opts.sandbox}\n`);
  let mnt: string;
  try {
    mnt = ensureMounted(dirs, name);
  } catch (err) {
    fs.closeSync(fd);
    unlinkQuiet(file);
    settle(dirs, name);
    throw err;
  }
  let held = true;
  const release = () => {
    if (!held) return;
    using _lock = lockVolumes(dirs.state);
    held = false;
    fs.closeSync(fd);
    unlinkQuiet(file);
    settle(dirs, name);
  };
  const label = (sandbox: string) => {
    if (!held) return;
    const text = Buffer.from(`${process.pid} ${sandbox}\n`);
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, text, 0, text.length, 0);
  };
  return { volume, mnt, label, release, [Symbol.dispose]: release };
}

/** `warren volume create`: WARREN_VOLUME_EXISTS when the name is taken. */
export function createVolume(dirs: VolumeDirs, name: string, cap: ImageCap): Volume {
  checkVolumeName(name);
  using _lock = lockVolumes(dirs.state);
  return makeVolume(dirs.state, name, cap);
}

/** How long rm waits for a sandbox that is ending to let go of the image. */
const IDLE_WAIT_MS = 2000;

/**
 * Removes the volume and its data. Refused while a sandbox uses it: a live record, or, when
 * its user was killed, a loop device the sandbox's mount still holds for the moment it takes to
 * die (waited out up to 2 s).
 */
export function removeVolume(dirs: VolumeDirs, name: string): void {
  checkVolumeName(name);
  using _lock = lockVolumes(dirs.state);
  readVolume(dirs.state, name);
  const users = volumeUsers(dirs, name);
  if (users.length > 0) {
    const who = users.map((u) => `${u.sandbox} (pid ${u.pid})`).join(', ');
    throw new WarrenError('WARREN_VOLUME_IN_USE', `volume '${name}' is in use by ${who}: stop them first`);
  }
  settle(dirs, name);
  const until = Date.now() + IDLE_WAIT_MS;
  for (let loops = volumeLoops(dirs.state, name); loops.length > 0; loops = volumeLoops(dirs.state, name)) {
    if (Date.now() >= until) throw new WarrenError('WARREN_VOLUME_IN_USE', `volume '${name}' is still mounted by a sandbox that is ending (${loops.join(', ')}): try again`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
  dropVolumeFiles(dirs.state, name);
}

/** For `warren gc`: drops the records of dead users and unmounts each volume no live sandbox
 * uses (its data stays). Returns the names it unmounted. */
export function sweepVolumeMounts(dirs: VolumeDirs): string[] {
  runDirOfThisBoot(dirs.run, { create: false });
  let entries: string[];
  try {
    entries = fs.readdirSync(path.join(dirs.run, 'volumes'));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
  const names = new Set(entries.map((e) => e.replace(/\.users$/, '')));
  using _lock = lockVolumes(dirs.state);
  return [...names].filter((name) => settle(dirs, name));
}
