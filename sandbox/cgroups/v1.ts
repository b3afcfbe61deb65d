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
import { LimitsError, applyLive, readLive, v1Writes } from './limit-writes.js';
import { checkLimits, checkName, checkParent, limitsKey } from './spec.js';
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
    const reused = this.#reuse(name, key, limits);
    if (reused) return reused;
    const cg = this.#handle(name, limits, 0);
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
      const memsw = limits.memoryBytes !== undefined && exists(`${this.#dir('memory', name)}/memory.memsw.limit_in_bytes`);
      for (const w of v1Writes(limits, { memsw, memoryRaising: false })) {
        const path = `${this.#dir(w.ctrl, name)}/${w.file}`;
        step = `write '${w.value}' to '${path}'`;
        writeControl(path, w.value);
      }
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

  open(name: string, oomBase = 0): Cgroup {
    checkName(name);
    return new V1Cgroup(name, this.#dirsOf(name), this.#ops, undefined, oomBase);
  }

  #handle(name: string, limits: CgroupLimits, oomBase: number): V1Cgroup {
    return new V1Cgroup(name, this.#dirsOf(name), this.#ops, {
      oomBase,
      limits,
      recycle: (cg, now, oomNow) => this.#recycle(cg, now, oomNow),
    });
  }

  #dirsOf(name: string): V1Dirs {
    return {
      all: this.#hierarchies.map((m) => `${m}/${this.#parent}/${name}`),
      memory: this.#dir('memory', name),
      cpu: this.#dir('cpu', name),
      cpuacct: this.#dir('cpuacct', name),
      pids: this.#dir('pids', name),
    };
  }

  /** A spare cgroup with these limits, renamed to `name`, its counters reset; or undefined. */
  #reuse(name: string, key: string, limits: CgroupLimits): Cgroup | undefined {
    for (let idle = this.#spares.take(key); idle; idle = this.#spares.take(key)) {
      const done: string[] = [];
      try {
        for (const mount of this.#hierarchies) {
          const from = `${mount}/${this.#parent}/${idle.name}`;
          fs.renameSync(from, `${mount}/${this.#parent}/${name}`);
          done.push(mount);
        }
        const cg = this.#handle(name, limits, idle.oomBase);
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

  /**
   * An emptied cgroup: kept as a spare under a name of this process, filed under the limits it
   * holds now (setLimits may have changed them since create), or removed (lib/spares.ts
   * returnVerdict: closed, its limits not used lately, or enough spares of them; or its limits
   * are unknown: a refused setLimits that could not put the old ones back).
   */
  async #recycle(cg: V1Cgroup, limits: CgroupLimits | null, oomNow: number): Promise<void> {
    if (limits === null) return cg.destroy();
    const key = limitsKey(limits);
    // these limits were in use until now, whether create or setLimits gave them
    for (const old of this.#spares.touch(key)) this.open(old.name).destroy().catch(() => {});
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

/** A v1 cgroup's dir in each hierarchy (`all`, distinct) and the one holding each controller. */
interface V1Dirs extends Record<V1Controller, string> {
  all: string[];
}

/** A cgroup of the driver's reuse: its limits as now written, null once they are unknown. */
interface V1Pooled {
  oomBase: number;
  limits: CgroupLimits | null;
  recycle(cg: V1Cgroup, limits: CgroupLimits | null, oomNow: number): Promise<void>;
}

class V1Cgroup implements Cgroup {
  readonly name: string;
  readonly dirs: readonly string[];
  readonly #at: V1Dirs;
  readonly #memory: string;
  readonly #cpuacct: string;
  readonly #pids: string;
  readonly #ops: CgroupDirOps;
  readonly #pool: V1Pooled | undefined;
  readonly oomBase: number;

  constructor(name: string, at: V1Dirs, ops: CgroupDirOps, pool?: V1Pooled, oomBase = pool?.oomBase ?? 0) {
    this.#pool = pool;
    this.oomBase = oomBase;
    this.name = name;
    this.dirs = Object.freeze(at.all);
    this.#at = at;
    this.#memory = at.memory;
    this.#cpuacct = at.cpuacct;
    this.#pids = at.pids;
    this.#ops = ops;
  }

  async setLimits(limits: CgroupLimits): Promise<void> {
    checkLimits(limits);
    let memoryRaising = false;
    const memsw = limits.memoryBytes !== undefined && exists(`${this.#memory}/memory.memsw.limit_in_bytes`);
    if (limits.memoryBytes !== undefined) {
      // BigInt: unlimited reads as 9223372036854771712, past 2^53
      const now = readLive(this.name, `${this.#memory}/memory.limit_in_bytes`);
      memoryRaising = BigInt(limits.memoryBytes) > BigInt(now);
    }
    const writes = v1Writes(limits, { memsw, memoryRaising }).map((w) => ({ path: `${this.#at[w.ctrl]}/${w.file}`, value: w.value }));
    try {
      applyLive(this.name, writes);
    } catch (err) {
      // mixed limits match no key of the reuse pool: this cgroup is removed when its sandbox ends
      if (this.#pool && !(err instanceof LimitsError && err.outcome === 'unchanged')) this.#pool.limits = null;
      throw err;
    }
    if (this.#pool?.limits) this.#pool.limits = { ...this.#pool.limits, ...definedOnly(limits) };
  }

  stats(): CgroupStats {
    return readStats(this.name, (r) => {
      // Nanoseconds; BigInt because a long-lived cgroup passes 2^53 ns (104 days of cpu).
      const ns = BigInt(r.required(`${this.#cpuacct}/cpuacct.usage`).trim());
      const oom = r.optional(`${this.#memory}/memory.oom_control`);
      return {
        cpuUsageUsec: Number(ns / 1000n),
        memoryPeakBytes: parseNumber(r.optional(`${this.#memory}/memory.max_usage_in_bytes`)),
        memoryCurrentBytes: parseNumber(r.optional(`${this.#memory}/memory.usage_in_bytes`)),
        // The oom_kill line appeared in 4.13; older kernels do not count kills. A reused cgroup
        // counts from where its previous sandbox left it.
        oomKills: oom === null ? 0 : (parseKeyed(oom).get('oom_kill') ?? 0) - this.oomBase,
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
      await this.#pool.recycle(this, this.#pool.limits, oom === null ? 0 : (parseKeyed(oom).get('oom_kill') ?? 0));
    } else {
      await this.destroy();
    }
  }
}

/** The limits given, without keys present but undefined (they would erase a merged value). */
function definedOnly(l: CgroupLimits): CgroupLimits {
  return Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)) as CgroupLimits;
}
