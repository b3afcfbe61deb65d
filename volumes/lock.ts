/**
 * One lock for every volume of a state dir, `<state>/volumes/.lock`: make, mount, use, unmount and
 * remove are each a few steps across files, mounts and loop devices that another warren process
 * must never see half done (a mount made twice would attach the image to two loop devices: two
 * ext4 super blocks over one file corrupt it). Each holds it for milliseconds (a make formats a
 * sparse image), so one lock for all is simpler than one per volume and costs nothing. An flock:
 * the kernel drops it when its holder dies, so a SIGKILLed warren never blocks the next.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WarrenError } from '../lib/errors.js';
import { EWOULDBLOCK, LOCK_EX, LOCK_NB, libc } from '../lib/libc.js';
import { volumesDir } from './store.js';

export interface VolumesLock extends Disposable {
  release(): void;
}

/** Takes the lock, waiting up to `waitMs` for another holder to let go. */
export function lockVolumes(stateDir: string, waitMs = 30_000): VolumesLock {
  fs.mkdirSync(volumesDir(stateDir), { recursive: true, mode: 0o700 });
  const file = path.join(volumesDir(stateDir), '.lock');
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw new WarrenError('WARREN_VOLUME_LOCK', `open '${file}'`, { cause: err });
  }
  const until = Date.now() + waitMs;
  while (libc().flock(fd, LOCK_EX | LOCK_NB) < 0) {
    const errno = libc().errno();
    if (errno !== EWOULDBLOCK || Date.now() >= until) {
      fs.closeSync(fd);
      const why = errno === EWOULDBLOCK ? `another warren process held it for ${waitMs / 1000} s` : `errno ${errno}`;
      throw new WarrenError('WARREN_VOLUME_LOCK', `lock '${file}': ${why}`);
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  let open = true;
  const release = () => {
    if (open) fs.closeSync(fd);
    open = false;
  };
  return { release, [Symbol.dispose]: release };
}

/**
 * Whether a use record's owner lives: the owner holds an flock on its record for as long as its
 * sandbox may run, so a record we can lock is a dead owner's. Our own test lock goes at once.
 */
export function recordHeld(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    if (libc().flock(fd, LOCK_EX | LOCK_NB) === 0) return false;
    return libc().errno() === EWOULDBLOCK;
  } finally {
    fs.closeSync(fd);
  }
}

/** Makes `file` with `text` and holds an flock on it until the returned fd is closed. */
export function holdRecord(file: string, text: string): number {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  if (libc().flock(fd, LOCK_EX | LOCK_NB) < 0) {
    const errno = libc().errno();
    fs.closeSync(fd);
    throw new WarrenError('WARREN_VOLUME_LOCK', `lock '${file}': errno ${errno}`);
  }
  fs.writeSync(fd, text);
  return fd;
}
