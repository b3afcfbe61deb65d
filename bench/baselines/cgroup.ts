/**
 * A cgroup of its own for a baseline's driver and everything it starts, beside warren's parent
 * cgroup and without limits. Why: the CPU scheduler shares time between sibling cgroups first and
 * between processes second, so on a busy machine a sandbox (in its own cgroup under warren's
 * parent) and a plain process (in the root cgroup with every other process on the host) would not
 * get the same share, and the ratio would measure the machine's other load, not warren.
 */
import { detectCgroups, type Cgroup, type CgroupDriver } from '../../sandbox/cgroups/index.js';

export interface BaselineCgroup {
  /** Put before the driver: moves the shell into the cgroup, then execs the driver ("$0" "$@"). */
  readonly wrapper: readonly string[];
  close(): Promise<void>;
}

export async function baselineCgroup(parent: string, name: string, cgroupRoot?: string): Promise<BaselineCgroup> {
  const driver: CgroupDriver = detectCgroups({ parent: `${parent}-bench-${name}-${process.pid}`, root: cgroupRoot });
  const cg: Cgroup = await driver.create('run', {});
  const procs = cg.dirs.map((d) => `'${d}/cgroup.procs'`).join(' ');
  return {
    wrapper: ['sh', '-c', `echo $$ | tee ${procs} >/dev/null && exec "$0" "$@"`],
    async close() {
      // killAll + destroy, not dispose: a v1 driver would keep the emptied cgroup for reuse
      await cg.killAll();
      await cg.destroy();
      await driver.close?.();
      await driver.removeParent();
    },
  };
}
