/**
 * cgroup v1: one hierarchy per controller (or several co-mounted, e.g. cpu,cpuacct), each with its
 * own directory tree. A cgroup is one directory per distinct hierarchy:
 *
 *   <mount of memory>/<parent>/<name>    memory.limit_in_bytes, memory.memsw.limit_in_bytes
 *   <mount of cpu>/<parent>/<name>       cpu.cfs_period_us, cpu.cfs_quota_us
 *   <mount of cpuacct>/<parent>/<name>   cpuacct.usage (cpu time; may be its own hierarchy)
 *   <mount of pids>/<parent>/<name>      pids.max
 */
import fs from 'node:fs';
import { WarrenError, errnoOf } from '../../lib/errors.js';
import { describe, exists, mkdirShared, parseKeyed, parseNumber, pathChain, readOptional, readStats, readSubdirs, writeControl } from './files.js';
import { SpareLists } from '../../lib/spares.js';
import { CPU_PERIOD_USEC, checkLimits, checkName, checkParent, cpuQuotaUsec, limitsKey } from './spec.js';
import { removeDirs, removeParentDirs, sweepKill } from './teardown.js';
import type { Cgroup, CgroupDirOps, CgroupDriver, CgroupLimits, CgroupStats } from './types.js';

export const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];
/** Mount point of the hierarchy that holds each controller. */
export type V1Mounts = Readonly<Record<V1Controller, string>>;

/** Spare (emptied) cgroups kept per set of limits, for the next sandbox with the same limits, and
 * the sets of limits that keep them: the most recently created ones. */
const SPARE_POLICY = { target: 0, maxFree: 16, maxKeys: 16 } as const;

interface Spare {
  name: string;
  oomBase: number;
}

export class V1Driver implements CgroupDriver {
  readonly version = 1 as const;
  readonly #mounts: V1Mounts;
  readonly #parent: string;
  readonly #ops: CgroupDirOps;
  /** Distinct hierarchies: co-mounted controllers share one. */
  readonly #hierarchies: string[];
  /** The parent dirs were made (or found) by this driver: no mkdir of them per sandbox. */
  #parentReady = false;
  /**
   * Spare cgroups of this process, by limits (lib/spares.ts: never made ahead, only given back): a
   * sandbox's cgroup is renamed (v1 cgroupfs allows rename within the parent) to a spare name
   * `i<pid>.<k>` when it ends, and renamed to the next sandbox's name, its usage counters reset,
   * instead of rmdir + mkdir + limit writes. Only cgroups with no task left are kept; `warren gc`
   * leaves the spare names of a live pid alone.
   */
  readonly #spares = new SpareLists<Spare>(SPARE_POLICY);
  #spareSeq = 0;

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
    const key = limitsKey(limits);
    // sets of limits not used for long lose their spares
    for (const old of this.#spares.touch(key)) this.open(old.name).destroy().catch(() => {});
    const reused = this.#reuse(name, key);
    if (reused) return reused;
    const cg = this.#handle(name, key, 0);
    const created: string[] = [];
    let step = '';
    try {
      for (const mount of this.#hierarchies) {
        const dir = `${mount}/${this.#parent}/${name}`;
        if (!this.#parentReady) {
          for (const p of pathChain(mount, this.#parent).slice(1)) {
            step = `mkdir '${p}'`;
            mkdirShared(this.#ops, p);
          }
        }
        step = `mkdir '${dir}'`;
        try {
          this.#ops.mkdir(dir);
        } catch (err) {
          // the parent went away (gc removed it): make it again, once
          if (errnoOf(err) !== 'ENOENT' || !this.#parentReady) throw err;
          for (const p of pathChain(mount, this.#parent).slice(1)) mkdirShared(this.#ops, p);
          this.#ops.mkdir(dir);
        }
        created.push(dir);
      }
      this.#parentReady = true;
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

  #handle(name: string, key: string, oomBase: number): V1Cgroup {
    const dirs = this.#hierarchies.map((m) => `${m}/${this.#parent}/${name}`);
    return new V1Cgroup(name, dirs, this.#dir('memory', name), this.#dir('cpuacct', name), this.#dir('pids', name), this.#ops, {
      oomBase,
      recycle: (cg, oomNow) => this.#recycle(cg, key, oomNow),
    });
  }

  /** A spare cgroup with these limits, renamed to `name`, its counters reset; or undefined. */
  #reuse(name: string, key: string): Cgroup | undefined {
    for (let idle = this.#spares.take(key); idle; idle = this.#spares.take(key)) {
      const done: string[] = [];
      try {
        for (const mount of this.#hierarchies) {
          const from = `${mount}/${this.#parent}/${idle.name}`;
          fs.renameSync(from, `${mount}/${this.#parent}/${name}`);
          done.push(mount);
        }
        const cg = this.#handle(name, key, idle.oomBase);
        // usage counters start over for the new sandbox (peak memory: from the current usage)
        writeControl(`${this.#dir('cpuacct', name)}/cpuacct.usage`, '0');
        writeControl(`${this.#dir('memory', name)}/memory.max_usage_in_bytes`, '0');
        return cg;
      } catch {
        // gone (gc) or half renamed: remove what is left under either name, try the next
        for (const mount of this.#hierarchies) {
          const n = done.includes(mount) ? name : idle.name;
          try {
            this.#ops.rmdir(`${mount}/${this.#parent}/${n}`);
          } catch {
            // gc finds what is left
          }
        }
      }
    }
    return undefined;
  }

  /** An emptied cgroup: kept as a spare under a name of this process, or removed (lib/spares.ts
   * returnVerdict: closed, its limits not used lately, or enough spares of them). */
  async #recycle(cg: V1Cgroup, key: string, oomNow: number): Promise<void> {
    const idle = `i${process.pid}.${this.#spareSeq++}`;
    const spare = { name: idle, oomBase: oomNow };
    // filed before the renames (nothing awaits between): a refusal costs no rename
    if (this.#spares.give(key, spare, true) === 'drop') return cg.destroy();
    const done: string[] = [];
    try {
      for (const mount of this.#hierarchies) {
        fs.renameSync(`${mount}/${this.#parent}/${cg.name}`, `${mount}/${this.#parent}/${idle}`);
        done.push(mount);
      }
    } catch {
      this.#spares.remove(key, spare);
      for (const mount of done) {
        try {
          fs.renameSync(`${mount}/${this.#parent}/${idle}`, `${mount}/${this.#parent}/${cg.name}`);
        } catch {
          // gc finds it
        }
      }
      return cg.destroy();
    }
  }

  /** Removes the spare cgroups; later ends remove theirs. */
  async close(): Promise<void> {
    await Promise.all(this.#spares.close().map((s) => this.open(s.name).destroy().catch(() => {})));
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
  readonly #pool: { oomBase: number; recycle(cg: V1Cgroup, oomNow: number): Promise<void> } | undefined;

  constructor(
    name: string,
    dirs: string[],
    memory: string,
    cpuacct: string,
    pids: string,
    ops: CgroupDirOps,
    pool?: { oomBase: number; recycle(cg: V1Cgroup, oomNow: number): Promise<void> },
  ) {
    this.#pool = pool;
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
        // The oom_kill line appeared in 4.13; older kernels do not count kills. A reused cgroup
        // counts from where its previous sandbox left it.
        oomKills: oom === null ? 0 : (parseKeyed(oom).get('oom_kill') ?? 0) - (this.#pool?.oomBase ?? 0),
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
    if (this.#pool) {
      // the oom count as of now: the next user's baseline
      const oom = readOptional(`${this.#memory}/memory.oom_control`);
      await this.#pool.recycle(this, oom === null ? 0 : (parseKeyed(oom).get('oom_kill') ?? 0));
    } else {
      await this.destroy();
    }
  }
}
