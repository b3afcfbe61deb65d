/**
 * The server's state dir on a small filesystem of the soak's own (an ext4 image on a loop device),
 * so that the disk-full fault can fill it without touching the host's disk: fill() writes a file
 * until ENOSPC, free() removes it. unmount() is idempotent; a mount left by a killed soak is
 * taken over by the next one (mount() unmounts it first).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, WarrenError } from '../../lib/errors.js';

/** The node image (~100 MiB), the registry, bundles and logs, with room to spare. */
export const STATE_FS_BYTES = 512 * 1024 * 1024;
const FILLER = '.soak-filler';
const CHUNK = 1024 * 1024;

function run(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new WarrenError('WARREN_SOAK_SETUP', `run '${cmd} ${args.join(' ')}': ${(err as { stderr?: string }).stderr?.trim() ?? ''}`, { cause: err });
  }
}

export function isMounted(dir: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
}

export class StateFs {
  readonly image: string;
  readonly dir: string;

  constructor(image: string, dir: string) {
    this.image = image;
    this.dir = dir;
  }

  /** A fresh, empty filesystem at `dir` (whatever an earlier run left is discarded). */
  mount(bytes = STATE_FS_BYTES): void {
    this.unmount();
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.rmSync(this.image, { force: true });
    fs.writeFileSync(this.image, '');
    fs.truncateSync(this.image, bytes);
    run('mkfs.ext4', ['-q', '-F', '-m', '0', this.image]);
    run('mount', ['-o', 'loop', this.image, this.dir]);
    fs.chmodSync(this.dir, 0o700);
  }

  /** Writes a file until the filesystem is full; returns the bytes written. */
  fill(): number {
    const fd = fs.openSync(path.join(this.dir, FILLER), 'w');
    const chunk = Buffer.alloc(CHUNK, 0x55);
    let written = 0;
    try {
      for (;;) {
        try {
          written += fs.writeSync(fd, chunk);
        } catch (err) {
          if (errnoOf(err) === 'ENOSPC') break;
          throw err;
        }
      }
      // the last blocks: smaller writes until not even a byte fits
      for (let size = CHUNK >> 1; size >= 1; size >>= 1) {
        try {
          for (;;) written += fs.writeSync(fd, chunk, 0, size);
        } catch (err) {
          if (errnoOf(err) !== 'ENOSPC') throw err;
        }
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    return written;
  }

  free(): void {
    fs.rmSync(path.join(this.dir, FILLER), { force: true });
  }

  /** The bytes free now (statfs). */
  available(): number {
    const s = fs.statfsSync(this.dir);
    return s.bavail * s.bsize;
  }

  /** Unmounts (detaching the loop device) and removes the image. Idempotent. */
  unmount(): void {
    if (isMounted(this.dir)) run('umount', [this.dir]);
    fs.rmSync(this.image, { force: true });
  }
}
