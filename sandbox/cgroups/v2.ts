/**
 * cgroup v2: one unified tree, one directory per cgroup, controllers enabled level by level:
 *
 *   <root>                    cgroup.subtree_control  += memory cpu pids
 *   <root>/<parent>           cgroup.subtree_control  += memory cpu pids (no tasks of its own)
 *   <root>/<parent>/<name>    memory.max, memory.swap.max, cpu.max, pids.max
 */
import { WarrenError, errnoOf } from '../../lib/errors.js';
import { describe, exists, mkdirShared, parseKeyed, parseNumber, pathChain, readList, readStats, readSubdirs, writeControl } from './files.js';
import { applyLive, v2Writes } from './limit-writes.js';
import { checkLimits, checkName, checkParent } from './spec.js';
import { removeDirs, removeParentDirs, sweepKill, waitUnpopulated } from './teardown.js';
import type { Cgroup, CgroupDirOps, CgroupDriver, CgroupLimits, CgroupStats } from './types.js';

export const V2_CONTROLLERS = ['memory', 'cpu', 'pids'] as const;

export class V2Driver implements CgroupDriver {
  readonly version = 2 as const;
  readonly #root: string;
  readonly #parent: string;
  readonly #ops: CgroupDirOps;

  constructor(root: string, parent: string, ops: CgroupDirOps) {
    checkParent(parent);
    this.#root = root;
    this.#parent = parent;
    this.#ops = ops;
  }

  async create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    checkName(name);
    checkLimits(limits);
    const cg = this.open(name);
    const dir = cg.dirs[0]!;
    let created = false;
    let step = '';
    const at = (s: string): void => {
      step = s;
    };
    try {
      // A cgroup gets the interface files of a controller (memory.max, ...) only if its parent
      // enabled that controller in cgroup.subtree_control. So each level enables the controllers
      // before the level below is made, and the child's files exist the moment mkdir returns.
      for (const [i, level] of pathChain(this.#root, this.#parent).entries()) {
        if (i > 0) {
          at(`mkdir '${level}'`);
          mkdirShared(this.#ops, level);
        }
        this.#enableControllers(level, at);
      }
      at(`mkdir '${dir}'`);
      this.#ops.mkdir(dir);
      created = true;
      const swap = limits.memoryBytes !== undefined && exists(`${dir}/memory.swap.max`);
      for (const w of v2Writes(limits, { swap })) {
        at(`write '${w.value}' to '${dir}/${w.file}'`);
        writeControl(`${dir}/${w.file}`, w.value);
      }
      return cg;
    } catch (err) {
      // Only the cgroup itself: the parent and its enabled controllers are shared. If removing
      // fails too, `warren gc` finds the leftover; the caller needs the first error.
      if (created) await removeDirs(name, this.#ops, [dir]).catch(() => {});
      throw new WarrenError('WARREN_CGROUP_CREATE', `create cgroup '${name}': ${step}: ${describe(err)}`, { cause: err });
    }
  }

  /**
   * Enable in <level>/cgroup.subtree_control those of memory, cpu, pids that the level has
   * (cgroup.controllers) and has not enabled yet. Writing nothing when all are on matters: in a
   * non-root cgroup that holds tasks, any enabling write fails with EBUSY.
   */
  #enableControllers(level: string, at: (step: string) => void): void {
    const file = `${level}/cgroup.subtree_control`;
    at(`read '${level}/cgroup.controllers'`);
    const available = readList(`${level}/cgroup.controllers`);
    at(`read '${file}'`);
    const enabled = readList(file);
    const missing = V2_CONTROLLERS.filter((c) => available.has(c) && !enabled.has(c));
    if (missing.length === 0) return;
    const value = missing.map((c) => `+${c}`).join(' ');
    at(`write '${value}' to '${file}'`);
    writeControl(file, value);
  }

  async list(): Promise<string[]> {
    const dir = `${this.#root}/${this.#parent}`;
    try {
      return readSubdirs(dir).sort();
    } catch (err) {
      throw new WarrenError('WARREN_CGROUP_LIST', `list cgroups in '${dir}': ${describe(err)}`, { cause: err });
    }
  }

  open(name: string): Cgroup {
    checkName(name);
    return new V2Cgroup(name, `${this.#root}/${this.#parent}/${name}`, this.#ops);
  }

  async removeParent(): Promise<void> {
    removeParentDirs(this.#parent, this.#ops, [`${this.#root}/${this.#parent}`]);
  }
}

class V2Cgroup implements Cgroup {
  /** A v2 cgroup is never reused: its count is its sandbox's. */
  readonly oomBase = 0;
  readonly name: string;
  readonly dirs: readonly string[];
  readonly #dir: string;
  readonly #ops: CgroupDirOps;

  constructor(name: string, dir: string, ops: CgroupDirOps) {
    this.name = name;
    this.dirs = Object.freeze([dir]);
    this.#dir = dir;
    this.#ops = ops;
  }

  stats(): CgroupStats {
    const dir = this.#dir;
    return readStats(this.name, (r) => {
      // cpu.stat is always there (usage_usec is core accounting, with or without the cpu controller).
      const cpu = parseKeyed(r.required(`${dir}/cpu.stat`)).get('usage_usec');
      if (cpu === undefined) throw new Error('no usage_usec line');
      const events = r.optional(`${dir}/memory.events`);
      return {
        cpuUsageUsec: cpu,
        // memory.peak appeared in 5.19.
        memoryPeakBytes: parseNumber(r.optional(`${dir}/memory.peak`)),
        memoryCurrentBytes: parseNumber(r.optional(`${dir}/memory.current`)),
        oomKills: events === null ? 0 : (parseKeyed(events).get('oom_kill') ?? 0),
        pidsCurrent: parseNumber(r.optional(`${dir}/pids.current`)),
      };
    });
  }

  /**
   * cgroup.kill (5.14+) kills every task atomically, forks included, with no pid reuse race; then
   * wait for cgroup.events to say it is empty. Older kernels: kill the listed pids until none is left.
   */
  async setLimits(limits: CgroupLimits): Promise<void> {
    checkLimits(limits);
    const swap = limits.memoryBytes !== undefined && exists(`${this.#dir}/memory.swap.max`);
    applyLive(this.name, v2Writes(limits, { swap }).map((w) => ({ path: `${this.#dir}/${w.file}`, value: w.value })));
  }

  async killAll(): Promise<void> {
    const kill = `${this.#dir}/cgroup.kill`;
    if (!exists(kill)) return sweepKill(this.name, this.dirs);
    try {
      writeControl(kill, '1');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return; // removed since the check: nothing left to kill
      throw new WarrenError('WARREN_CGROUP_KILL', `kill cgroup '${this.name}': write '1' to '${kill}': ${describe(err)}`, { cause: err });
    }
    await waitUnpopulated(this.name, this.#dir);
  }

  async destroy(): Promise<void> {
    await removeDirs(this.name, this.#ops, this.dirs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.killAll();
    await this.destroy();
  }
}
