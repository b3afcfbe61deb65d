/**
 * The machine a bench ran on, for the JSON and the report: figures mean little without it. Takes
 * the proc root as a parameter, so the parsing is tested on a temp dir.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** v2: unified only. hybrid: v1 controllers plus a cgroup2 mount (Debian 12 and systemd's default
 * "hybrid" mode); crun 1.8 refuses it. v1: legacy only. */
export type CgroupLayout = 'v2' | 'hybrid' | 'v1' | 'none';

export interface Machine {
  kernel: string;
  cores: number;
  cpu: string;
  memory_gib: number;
  cgroup: CgroupLayout;
  node: string;
  date: string;
  /** 1, 5 and 15 minute load averages when the run began: other load skews every row. */
  load_avg: [number, number, number];
}

interface MountEntry {
  mountPoint: string;
  fsType: string;
}

/** The mount point and filesystem type of each /proc/<pid>/mountinfo line. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    const mountPoint = left?.split(' ')[4];
    const fsType = right?.split(' ')[0];
    // mount points escape blanks as \040; ours only need comparing with plain paths
    if (mountPoint && fsType) out.push({ mountPoint: mountPoint.replace(/\\040/g, ' '), fsType });
  }
  return out;
}

export function cgroupLayout(mountinfo: string, root = '/sys/fs/cgroup'): CgroupLayout {
  const mounts = parseMountinfo(mountinfo).filter((m) => m.mountPoint === root || m.mountPoint.startsWith(`${root}/`));
  if (mounts.some((m) => m.mountPoint === root && m.fsType === 'cgroup2')) return 'v2';
  const v1 = mounts.some((m) => m.fsType === 'cgroup');
  const v2 = mounts.some((m) => m.fsType === 'cgroup2');
  return v1 && v2 ? 'hybrid' : v1 ? 'v1' : v2 ? 'v2' : 'none';
}

/** Where a hybrid layout mounts cgroup2 (what crun must not see), or undefined. */
export function hybridUnifiedMount(mountinfo: string, root = '/sys/fs/cgroup'): string | undefined {
  if (cgroupLayout(mountinfo, root) !== 'hybrid') return undefined;
  return parseMountinfo(mountinfo).find((m) => m.fsType === 'cgroup2' && m.mountPoint.startsWith(`${root}/`))?.mountPoint;
}

export function readMountinfo(proc = '/proc'): string {
  return fs.readFileSync(path.join(proc, 'self', 'mountinfo'), 'utf8');
}

export function machineInfo(proc = '/proc', now = new Date()): Machine {
  const cpus = os.cpus();
  return {
    kernel: `${os.type()} ${os.release()}`,
    cores: os.availableParallelism(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    memory_gib: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    cgroup: cgroupLayout(readMountinfo(proc)),
    node: process.version,
    date: now.toISOString(),
    load_avg: os.loadavg().map((l) => Math.round(l * 100) / 100) as [number, number, number],
  };
}
