/**
 * cgroup v1: one hierarchy per controller (or several co-mounted, e.g. cpu,cpuacct), each with its
 * own directory tree. A cgroup is one directory per distinct hierarchy:
 *
 *   <mount of memory>/<parent>/<name>    memory.limit_in_bytes, memory.memsw.limit_in_bytes
 *   <mount of cpu>/<parent>/<name>       cpu.cfs_period_us, cpu.cfs_quota_us
 *   <mount of cpuacct>/<parent>/<name>   cpuacct.usage (cpu time; may be its own hierarchy)
 *   <mount of pids>/<parent>/<name>      pids.max
 */
import { WarrenError } from '../../lib/errors.js';
import { describe, exists, mkdirShared, parseKeyed, parseNumber, pathChain, readStats, readSubdirs, writeControl } from './files.js';
import { CPU_PERIOD_USEC, checkLimits, checkName, checkParent, cpuQuotaUsec } from './spec.js';
import { removeDirs, removeParentDirs, sweepKill } from './teardown.js';
import type { Cgroup, CgroupDirOps, CgroupDriver, CgroupLimits, CgroupStats } from './types.js';

export const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];
/** Mount point of the hierarchy that holds each controller. */
export type V1Mounts = Readonly<Record<V1Controller, string>>;

export class V1Driver implements CgroupDriver {
  readonly version = 1 as const;
  readonly #mounts: V1Mounts;
  readonly #parent: string;
  readonly #ops: CgroupDirOps;
  /** Distinct hierarchies: co-mounted controllers share one. */
  readonly #hierarchies: string[];

  constructor(mounts: V1Mounts, parent: string, ops: CgroupDirOps) {
    checkParent(parent);
    this.#mounts = mounts;
    this.#parent = parent;
    this.#ops = ops;
    this.#hierarchies = [...new Set(V1_CONTROLLERS.map((c) => mounts[c]))];
  }

  async create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    checkName(name);
    checkLimits(limits);
    const cg = this.open(name);
    const created: string[] = [];
    let step = '';
    try {
      for (const mount of this.#hierarchies) {
        for (const dir of pathChain(mount, this.#parent).slice(1)) {
          step = `mkdir '${dir}'`;
          mkdirShared(this.#ops, dir);
        }
        const dir = `${mount}/${this.#parent}/${name}`;
        step = `mkdir '${dir}'`;
        this.#ops.mkdir(dir);
        created.push(dir);
      }
      const write = (ctrl: V1Controller, file: string, value: number): void => {
        const path = `${this.#dir(ctrl, name)}/${file}`;
        step = `write '${value}' to '${path}'`;
        writeControl(path, String(value));
      };
      const { memoryBytes, cpus, pids } = limits;
      if (memoryBytes !== undefined) {
        // memory.limit_in_bytes first: the kernel refuses a memsw limit below the memory limit
        // (EINVAL), and both start unlimited, so lowering memory first keeps memsw >= memory at
        // every step. memsw = memory means no swap on top of memoryBytes. memsw files exist only
        // with swap accounting (swapaccount=1).
        write('memory', 'memory.limit_in_bytes', memoryBytes);
        if (exists(`${this.#dir('memory', name)}/memory.memsw.limit_in_bytes`)) {
          write('memory', 'memory.memsw.limit_in_bytes', memoryBytes);
        }
      }
      if (cpus !== undefined) {
        // Period before quota: the kernel checks each write against the pair (minimum quota,
        // parent bandwidth), so the quota must be checked against the period it will run with.
        write('cpu', 'cpu.cfs_period_us', CPU_PERIOD_USEC);
        write('cpu', 'cpu.cfs_quota_us', cpuQuotaUsec(cpus));
      }
      if (pids !== undefined) write('pids', 'pids.max', pids);
      return cg;
    } catch (err) {
      // Only the cgroup's own dirs: the parents are shared with other sandboxes being created now.
      // If removing fails too, `warren gc` finds the leftover; the caller needs the first error.
      await removeDirs(name, this.#ops, created.reverse()).catch(() => {});
      throw new WarrenError('WARREN_CGROUP_CREATE', `create cgroup '${name}': ${step}: ${describe(err)}`, { cause: err });
    }
  }

  async list(): Promise<string[]> {
    // Union over hierarchies: a crash between two mkdirs leaves a cgroup in only some of them.
    const names = new Set<string>();
    for (const mount of this.#hierarchies) {
      const dir = `${mount}/${this.#parent}`;
      try {
        for (const n of readSubdirs(dir)) names.add(n);
      } catch (err) {
        throw new WarrenError('WARREN_CGROUP_LIST', `list cgroups in '${dir}': ${describe(err)}`, { cause: err });
      }
    }
    return [...names].sort();
  }

  open(name: string): Cgroup {
    checkName(name);
    const dirs = this.#hierarchies.map((m) => `${m}/${this.#parent}/${name}`);
    return new V1Cgroup(name, dirs, this.#dir('memory', name), this.#dir('cpuacct', name), this.#dir('pids', name), this.#ops);
  }

  async removeParent(): Promise<void> {
    removeParentDirs(this.#parent, this.#ops, this.#hierarchies.map((m) => `${m}/${this.#parent}`));
  }

  #dir(ctrl: V1Controller, name: string): string {
    return `${this.#mounts[ctrl]}/${this.#parent}/${name}`;
  }
}

class V1Cgroup implements Cgroup {
  readonly name: string;
  readonly dirs: readonly string[];
  readonly #memory: string;
  readonly #cpuacct: string;
  readonly #pids: string;
  readonly #ops: CgroupDirOps;

  constructor(name: string, dirs: string[], memory: string, cpuacct: string, pids: string, ops: CgroupDirOps) {
    this.name = name;
    this.dirs = Object.freeze(dirs);
    this.#memory = memory;
    this.#cpuacct = cpuacct;
    this.#pids = pids;
    this.#ops = ops;
  }

  stats(): CgroupStats {
    return readStats(this.name, (r) => {
      // Nanoseconds; BigInt because a long-lived cgroup passes 2^53 ns (104 days of cpu).
      const ns = BigInt(r.required(`${this.#cpuacct}/cpuacct.usage`).trim());
      const oom = r.optional(`${this.#memory}/memory.oom_control`);
      return {
        cpuUsageUsec: Number(ns / 1000n),
        memoryPeakBytes: parseNumber(r.optional(`${this.#memory}/memory.max_usage_in_bytes`)),
        // The oom_kill line appeared in 4.13; older kernels do not count kills.
        oomKills: oom === null ? 0 : (parseKeyed(oom).get('oom_kill') ?? 0),
        pidsCurrent: parseNumber(r.optional(`${this.#pids}/pids.current`)),
      };
    });
  }

  async killAll(): Promise<void> {
    await sweepKill(this.name, this.dirs);
  }

  async destroy(): Promise<void> {
    await removeDirs(this.name, this.#ops, this.dirs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.killAll();
    await this.destroy();
  }
}
