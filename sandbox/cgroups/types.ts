/**
 * The one cgroup interface that the sandbox code sees; v1.ts and v2.ts implement it, detect.ts
 * picks one. Every path is under a cgroupfs root handed in by the caller, so unit tests run on a
 * fake tree in a temp dir.
 */

export interface CgroupLimits {
  /** Hard limit in bytes, swap included: the cgroup never swaps beyond it. */
  memoryBytes?: number;
  /** Fraction of cores, e.g. 0.5: a quota of round(cpus * 100000) us per 100000 us period. */
  cpus?: number;
  /** Maximum number of tasks (processes and threads). */
  pids?: number;
}

export interface CgroupStats {
  /** CPU time used by all its tasks, in microseconds. */
  cpuUsageUsec: number;
  /** Highest memory use seen, or null when the kernel does not report it (v2 before 5.19). */
  memoryPeakBytes: number | null;
  /** Memory in use now (v1 memory.usage_in_bytes, v2 memory.current), or null when absent. */
  memoryCurrentBytes: number | null;
  /** Tasks killed by the OOM killer in it; 0 when the kernel does not count them. */
  oomKills: number;
  /** Tasks in it now, or null when the pids file is absent. */
  pidsCurrent: number | null;
}

export interface Cgroup extends AsyncDisposable {
  readonly name: string;
  /** Directories a new process must be added to (write its pid to <dir>/cgroup.procs): one per v1 controller, one on v2. */
  readonly dirs: readonly string[];
  /** OOM kills its counter held before this sandbox had it (a v1 cgroup reused from the
   * driver's pool; 0 otherwise): stats().oomKills leaves them out. A restore record keeps it. */
  readonly oomBase: number;
  stats(): CgroupStats;
  /**
   * Changes the limits of a live cgroup; those left out stay as they are. Checked first
   * (WARREN_CGROUP_LIMITS); a refused write puts back the old values of the writes before it.
   * A memory limit below what the cgroup uses: on v1 the kernel reclaims what it can and, when
   * that is not enough, refuses (WARREN_CGROUP_MEMORY_BUSY; the old limits stay); on v2 it
   * reclaims and then OOM-kills in the cgroup, so the call succeeds and the sandbox may die of
   * OOM. A lower pids limit stops new forks and threads only (no task is killed).
   */
  setLimits(limits: CgroupLimits): Promise<void>;
  /** Kill every process left in it and wait until they are gone. */
  killAll(): Promise<void>;
  /** rmdir every dir; retries briefly on EBUSY (processes still exiting); idempotent. */
  destroy(): Promise<void>;
  /** killAll, then destroy: `await using cg = await driver.create(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

export interface CgroupDriver {
  readonly version: 1 | 2;
  /**
   * Creates the cgroup under the parent (created idempotently) and writes the limits. On failure,
   * removes the cgroup dirs it created and throws WARREN_CGROUP_CREATE naming the file.
   */
  create(name: string, limits: CgroupLimits): Promise<Cgroup>;
  /** Names of the cgroups under the parent (for `warren gc`). */
  list(): Promise<string[]>;
  /** Handle for an existing cgroup by name (gc, live restore): killAll and destroy work on it;
   * its oomKills count from `oomBase` (Cgroup.oomBase, as its sandbox's record has it). */
  open(name: string, oomBase?: number): Cgroup;
  /** Remove the parent dir(s) if empty (gc); leaves them when cgroups remain. */
  removeParent(): Promise<void>;
  /** Removes the cgroups it keeps for reuse, if any (the host closing). */
  close?(): Promise<void>;
}

/**
 * How cgroup directories are made and removed. On cgroupfs, mkdir creates a whole cgroup with
 * its interface files and rmdir removes it (EBUSY while it holds tasks or child cgroups); unit
 * tests pass a fake that does the same on plain directories. Both throw Node errno errors.
 */
export interface CgroupDirOps {
  mkdir(path: string): void;
  rmdir(path: string): void;
}
