/**
 * Ending a cgroup, shared by v1 and v2: kill what is left in it, then remove its directories.
 * Both steps are idempotent: a cgroup that is already gone is a success.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { WarrenError, errnoOf } from '../../lib/errors.js';
import { closePid, openPid, signalPid, type PidHandle } from '../../lib/pidfd.js';
import { describe, readOptional, readPids } from './files.js';
import type { CgroupDirOps } from './types.js';

/** How long killAll waits for killed tasks to leave (a task in D state exits late). */
const KILL_TIMEOUT_MS = 5_000;
/** How long destroy retries rmdir on EBUSY: tasks that were killed may still be exiting. */
const RMDIR_TIMEOUT_MS = 1_000;
const POLL_MIN_MS = 5;
const POLL_MAX_MS = 50;

/**
 * SIGKILL every pid listed in the dirs' cgroup.procs, again and again, until a round finds none
 * left alive. Repeating catches tasks forked between reading the list and the kill (pids.max
 * bounds a fork bomb). A pid that is already gone counts as done. Each listed process is held by
 * a pidfd first and signalled only if the cgroup still lists its pid then (lib/pidfd.ts): one
 * that ended meanwhile, its pid taken by a process elsewhere, is never signalled. v2's
 * cgroup.kill, where present, needs none of this.
 */
export async function sweepKill(name: string, dirs: readonly string[]): Promise<void> {
  const deadline = Date.now() + KILL_TIMEOUT_MS;
  for (let wait = POLL_MIN_MS; ; wait = Math.min(wait * 2, POLL_MAX_MS)) {
    const listed = () => new Set(dirs.flatMap((dir) => readPids(dir)));
    const held: PidHandle[] = [];
    const alive: number[] = [];
    try {
      for (const pid of listed()) {
        const p = openPid(pid);
        if (p) held.push(p);
      }
      const still = held.length > 0 ? listed() : new Set<number>();
      for (const p of held) if (still.has(p.pid) && signalPid(p, 'SIGKILL')) alive.push(p.pid);
    } catch (err) {
      throw new WarrenError('WARREN_CGROUP_KILL', `kill cgroup '${name}': ${describe(err)}`, { cause: err });
    } finally {
      for (const p of held) closePid(p);
    }
    if (alive.length === 0) return;
    if (Date.now() > deadline) {
      throw new WarrenError('WARREN_CGROUP_KILL', `kill cgroup '${name}': still running after ${KILL_TIMEOUT_MS} ms: ${alive.join(', ')}`);
    }
    await sleep(wait);
  }
}

/** Wait until <dir>/cgroup.events says `populated 0` (v2, after writing cgroup.kill). */
export async function waitUnpopulated(name: string, dir: string): Promise<void> {
  const deadline = Date.now() + KILL_TIMEOUT_MS;
  for (let wait = POLL_MIN_MS; ; wait = Math.min(wait * 2, POLL_MAX_MS)) {
    const events = readOptional(`${dir}/cgroup.events`);
    if (events === null || !/^populated 1$/m.test(events)) return;
    if (Date.now() > deadline) {
      throw new WarrenError('WARREN_CGROUP_KILL', `kill cgroup '${name}': '${dir}' still populated after ${KILL_TIMEOUT_MS} ms`);
    }
    await sleep(wait);
  }
}

/**
 * rmdir every dir. EBUSY means tasks are still exiting (or a child cgroup exists): retry with
 * backoff for a short while. ENOENT means already removed. Every dir is tried even when one fails,
 * so a retry later has less left to do; the first failure is thrown.
 */
export async function removeDirs(name: string, ops: CgroupDirOps, dirs: readonly string[]): Promise<void> {
  let first: WarrenError | undefined;
  for (const dir of dirs) {
    const deadline = Date.now() + RMDIR_TIMEOUT_MS;
    for (let wait = POLL_MIN_MS; ; wait = Math.min(wait * 2, POLL_MAX_MS)) {
      try {
        ops.rmdir(dir);
        break;
      } catch (err) {
        const errno = errnoOf(err);
        if (errno === 'ENOENT') break;
        if (errno !== 'EBUSY' || Date.now() > deadline) {
          first ??= new WarrenError('WARREN_CGROUP_DESTROY', `destroy cgroup '${name}': rmdir '${dir}': ${describe(err)}`, { cause: err });
          break;
        }
      }
      await sleep(wait);
    }
  }
  if (first) throw first;
}

/** rmdir each parent dir unless cgroups remain in it (EBUSY; ENOTEMPTY on plain dirs) or it is gone. */
export function removeParentDirs(parent: string, ops: CgroupDirOps, dirs: readonly string[]): void {
  for (const dir of dirs) {
    try {
      ops.rmdir(dir);
    } catch (err) {
      const errno = errnoOf(err);
      if (errno === 'ENOENT' || errno === 'EBUSY' || errno === 'ENOTEMPTY') continue;
      throw new WarrenError('WARREN_CGROUP_DESTROY', `remove cgroup parent '${parent}': rmdir '${dir}': ${describe(err)}`, { cause: err });
    }
  }
}
