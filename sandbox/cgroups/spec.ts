/**
 * What callers may ask for: cgroup names, the parent path and limits. All of it is checked before
 * anything touches cgroupfs, so a bad request never leaves a half-made cgroup behind.
 */
import { WarrenError } from '../../lib/errors.js';
import type { CgroupLimits } from './types.js';

/** CFS period for every cgroup: 100 ms, the kernel's default, so quota = cpus * 100000. */
export const CPU_PERIOD_USEC = 100_000;
/** The kernel refuses quotas below 1 ms. */
const CPU_QUOTA_MIN_USEC = 1_000;

/**
 * One path component that cannot climb out of the parent ('.' and '..' fail: a name starts with
 * [A-Za-z0-9_]) and cannot collide with an interface file such as `cgroup.procs` or `memory.max`.
 */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@:-]{0,254}$/;
const CONTROLLER_FILE = /^(cgroup|memory|cpu|cpuacct|cpuset|pids|io|blkio|hugetlb|rdma|misc|devices|freezer|net_cls|net_prio|perf_event)\./;

export function checkName(name: string): void {
  if (!NAME.test(name) || CONTROLLER_FILE.test(name)) {
    throw new WarrenError('WARREN_CGROUP_NAME', `invalid cgroup name '${name}': want one path component of [A-Za-z0-9_.@:-], not a controller file name`);
  }
}

/** The parent is a relative path of valid names, e.g. 'warren' or 'warren.slice/pool'. */
export function checkParent(parent: string): void {
  const parts = parent.split('/');
  if (parts.some((p) => !NAME.test(p) || CONTROLLER_FILE.test(p))) {
    throw new WarrenError('WARREN_CGROUP_NAME', `invalid cgroup parent '${parent}': want a relative path of names of [A-Za-z0-9_.@:-]`);
  }
}

export function checkLimits(limits: CgroupLimits): void {
  const { memoryBytes, cpus, pids } = limits;
  if (memoryBytes !== undefined && !(Number.isSafeInteger(memoryBytes) && memoryBytes > 0)) {
    throw invalid(`memoryBytes ${memoryBytes}: want a positive integer`);
  }
  if (cpus !== undefined) {
    if (!(Number.isFinite(cpus) && cpus > 0)) throw invalid(`cpus ${cpus}: want a positive number`);
    if (cpuQuotaUsec(cpus) < CPU_QUOTA_MIN_USEC) {
      throw invalid(`cpus ${cpus}: below the kernel's minimum quota of ${CPU_QUOTA_MIN_USEC / CPU_PERIOD_USEC}`);
    }
  }
  if (pids !== undefined && !(Number.isSafeInteger(pids) && pids > 0)) {
    throw invalid(`pids ${pids}: want a positive integer`);
  }
}

/** Cgroups with the same key are interchangeable: the key of spare sandboxes and spare cgroups.
 * An absent limit is '-' (the kernel's default), so { pids: 5 } and { pids: 5, cpus: 1 } differ. */
export function limitsKey(l: CgroupLimits): string {
  return `${l.memoryBytes ?? '-'}/${l.cpus ?? '-'}/${l.pids ?? '-'}`;
}

export function cpuQuotaUsec(cpus: number): number {
  return Math.round(cpus * CPU_PERIOD_USEC);
}

function invalid(what: string): WarrenError {
  return new WarrenError('WARREN_CGROUP_LIMITS', `invalid cgroup limit ${what}`);
}
