/**
 * The run dir (/run/warren) holds what lives only as long as the processes that made it: leases
 * and claims that name their holder by pid (uid ranges, addresses, a network's users, volumes in
 * use), sandboxes' run dirs, live-restore and layer-use records. All of it is meant to go with a
 * reboot, as /run's contents do where /run is a tmpfs. Where it is not (a VM whose /run lies on
 * its root disk, like the one warren is developed on), a lease from an earlier boot names a pid
 * that some other process has after the reboot: pidAlive() calls it held, and its uid range,
 * address or network stays taken for good.
 *
 * So the run dir says which boot made it: `boot_id` holds /proc/sys/kernel/random/boot_id. The
 * first warren process of a new boot finds another boot's id there and empties the dir first
 * (nothing an earlier boot made can still live: no process, mount or namespace outlives one).
 * It holds an flock on `.boot.lock` meanwhile, so that another starting at the same moment waits
 * and then finds this boot's id. A dir without `boot_id` (new, or kept by a warren before this
 * one) is left as it is and gets one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WarrenError } from './errors.js';
import { libc } from './libc.js';
import { mountedBelow } from './mounts.js';

const BOOT_ID = '/proc/sys/kernel/random/boot_id';
const MARK = 'boot_id';
const LOCK = '.boot.lock';
/** The run dir's own files (not a sandbox's, nor a leftover). */
export const RUN_DIR_MARKS: readonly string[] = [MARK, LOCK];
const LOCK_EX = 2;

export type RunDirClaim = 'current' | 'marked' | 'emptied' | 'mounts-left' | 'absent';

/** This boot's id (a UUID the kernel draws at each boot). */
export function bootId(file = BOOT_ID): string {
  return fs.readFileSync(file, 'utf8').trim();
}

const claimed = new Set<string>();

/** claimRunDir, once per dir and process: every command that uses the run dir calls it first;
 * one that only reads it (`create: false`) makes no dir that is not there. */
export function runDirOfThisBoot(run: string, opts: { create?: boolean } = {}): void {
  if (claimed.has(run)) return;
  if (claimRunDir(run, bootId(), opts) !== 'absent') claimed.add(run);
}

/**
 * Makes `run` this boot's: creates it (mode 0700; 'absent' when `create` is false and it is not
 * there) or, when it says another boot made it, removes everything in it. 'mounts-left':
 * something is mounted under it, which no earlier boot can have left, so nothing is removed (and
 * the mark stays as it was).
 */
export function claimRunDir(run: string, boot = bootId(), { create = true }: { create?: boolean } = {}): RunDirClaim {
  if (!create && !fs.existsSync(run)) return 'absent';
  fs.mkdirSync(run, { recursive: true, mode: 0o700 });
  // the common case, without the lock (and without loading koffi for flock): the mark is written
  // only once the dir holds nothing of another boot
  if (readMark(run) === boot) return 'current';
  const fd = fs.openSync(path.join(run, LOCK), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  try {
    if (libc().flock(fd, LOCK_EX) < 0) throw new WarrenError('WARREN_RUN_DIR', `lock '${path.join(run, LOCK)}': errno ${libc().errno()}`);
    const mark = readMark(run);
    if (mark === boot) return 'current';
    if (mark !== undefined) {
      if (mountedBelow(run)) return 'mounts-left';
      for (const e of fs.readdirSync(run)) if (e !== LOCK) fs.rmSync(path.join(run, e), { recursive: true, force: true });
    }
    const tmp = path.join(run, `${MARK}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, `${boot}\n`, { mode: 0o600 });
    fs.renameSync(tmp, path.join(run, MARK));
    return mark === undefined ? 'marked' : 'emptied';
  } finally {
    fs.closeSync(fd); // drops the flock
  }
}

function readMark(run: string): string | undefined {
  try {
    return fs.readFileSync(path.join(run, MARK), 'utf8').trim();
  } catch {
    return undefined;
  }
}
