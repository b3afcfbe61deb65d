/**
 * Cgroups for sandboxes: one interface, a v1 and a v2 implementation, chosen from the mount
 * table. Everything takes the cgroupfs root as a parameter so unit tests run on a fake tree.
 *
 *   const driver = detectCgroups({ parent: dirs.cgroupParent });
 *   const cg = await driver.create('sb-1', { memoryBytes: 128 << 20, cpus: 0.5, pids: 64 });
 *   // spawner writes the child's pid to <dir>/cgroup.procs for each of cg.dirs
 *   await cg.killAll(); await cg.destroy();
 */
export type { Cgroup, CgroupDirOps, CgroupDriver, CgroupLimits, CgroupStats } from './types.js';
export { detectCgroups, type DetectOptions } from './detect.js';
export { limitsKey } from './spec.js';
