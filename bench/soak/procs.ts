/**
 * Finding the processes the soak kills: a function instance's node runtime (in its sandbox's
 * cgroup) and the server's spawner (its child named warren:[spawner], or, after a restart with
 * --live-restore, the one the killed server left, which is no child of this one: the parent of
 * the sandboxes' processes). Reads /proc and cgroupfs under roots given as parameters (STYLE
 * rule 3).
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

/** The spawners of a server: its children named warren:[spawner], and the parents so named of the
 * processes in its sandboxes' cgroups under `parent` (a spawner adopted after a restart). */
export function spawnersOf(serverPid: number, parent: string, cgroupRoot = '/sys/fs/cgroup', procRoot = '/proc'): number[] {
  const out = new Set(childrenNamed(serverPid, 'warren:[spawner', procRoot));
  for (const root of [path.join(cgroupRoot, 'pids', parent), path.join(cgroupRoot, parent)]) {
    let ids: string[];
    try {
      ids = fs.readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      continue;
    }
    for (const id of ids) {
      for (const pid of sandboxPids(parent, id, cgroupRoot)) {
        const ppid = /^PPid:\s+(\d+)$/m.exec(read(path.join(procRoot, String(pid), 'status')) ?? '')?.[1];
        if (ppid && /^warren:\[spawner/.test(read(path.join(procRoot, ppid, 'comm'))?.trim() ?? '')) out.add(Number(ppid));
      }
    }
    break;
  }
  return [...out];
}
