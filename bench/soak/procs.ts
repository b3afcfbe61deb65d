/**
 * Finding the processes the soak kills: a function instance's node runtime (in its sandbox's
 * cgroup) and the server's spawner (its child named warren:[spawner]). Reads /proc and cgroupfs
 * under roots given as parameters (STYLE rule 3).
 */
import fs from 'node:fs';
import path from 'node:path';

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The processes of sandbox `id` under cgroup `parent` (the pids hierarchy on v1, else v2). */
export function sandboxPids(parent: string, id: string, cgroupRoot = '/sys/fs/cgroup'): number[] {
  for (const dir of [path.join(cgroupRoot, 'pids', parent, id), path.join(cgroupRoot, parent, id)]) {
    const procs = read(path.join(dir, 'cgroup.procs'));
    if (procs !== undefined) return procs.split('\n').filter(Boolean).map(Number);
  }
  return [];
}

/** The runtime among a sandbox's processes: not its init (warren:[init]), node. */
export function runtimePid(pids: readonly number[], procRoot = '/proc'): number | undefined {
  const comms = pids.map((pid) => ({ pid, comm: read(path.join(procRoot, String(pid), 'comm'))?.trim() ?? '' }));
  return (comms.find((c) => c.comm === 'node') ?? comms.find((c) => c.comm !== '' && !c.comm.startsWith('warren:')))?.pid;
}

/** The children of `ppid` whose name starts with `name`. */
export function childrenNamed(ppid: number, name: string, procRoot = '/proc'): number[] {
  return fs.readdirSync(procRoot).filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    const status = read(path.join(procRoot, String(pid), 'status'));
    return status !== undefined && new RegExp(`^Name:\\s+${name.replace(/[[\]]/g, '\\$&')}`, 'm').test(status) && new RegExp(`^PPid:\\s+${ppid}$`, 'm').test(status);
  });
}
