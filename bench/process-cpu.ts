/**
 * CPU time of one process and of one cgroup subtree, to charge a server with what it spent on a
 * load: the warm scenario reads them before and after each batch. The proc and cgroup roots are
 * parameters, so the parsing is tested on a temp dir.
 */
import fs from 'node:fs';
import path from 'node:path';

/** USER_HZ: /proc/<pid>/stat counts in these on every Linux architecture warren runs on. */
const TICKS_PER_S = 100;

/** User + system CPU of `pid` (all its threads; not its children), ms; undefined once it is gone. */
export function processCpuMs(pid: number, proc = '/proc'): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(proc, String(pid), 'stat'), 'utf8');
  } catch {
    return undefined;
  }
  // the name (field 2) may hold blanks and parentheses: count fields after its last ')'
  const fields = text.slice(text.lastIndexOf(')') + 2).trim().split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? ((utime + stime) * 1000) / TICKS_PER_S : undefined;
}

/** Pids in the cgroup `dir` (a path in a mounted hierarchy) and every cgroup below it. */
export function pidsBelow(dir: string): number[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const own = (() => {
    try {
      return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  })();
  return [...own, ...entries.filter((e) => e.isDirectory()).flatMap((e) => pidsBelow(path.join(dir, e.name)))];
}

/**
 * CPU of the processes in the cgroup `parent` and below, ms: from v1 cpuacct or v2 cpu.stat (every
 * process that was ever there), or, where the sandboxes have a cgroup only in v1's `cpu` hierarchy
 * (no cpuacct), the sum over the processes there now (one that ended meanwhile is missed: the warm
 * scenario's instances live through the run). Undefined when there is no such cgroup.
 */
export function cgroupCpuMs(parent: string, root = '/sys/fs/cgroup', proc = '/proc'): number | undefined {
  for (const h of ['cpu,cpuacct', 'cpuacct']) {
    try {
      return Number(fs.readFileSync(path.join(root, h, parent, 'cpuacct.usage'), 'utf8')) / 1e6;
    } catch {
      // not this hierarchy
    }
  }
  try {
    const m = /^usage_usec (\d+)$/m.exec(fs.readFileSync(path.join(root, parent, 'cpu.stat'), 'utf8'));
    if (m) return Number(m[1]) / 1000;
  } catch {
    // not v2
  }
  const cpu = path.join(root, 'cpu', parent);
  if (!fs.existsSync(cpu)) return undefined;
  return pidsBelow(cpu).reduce((sum, pid) => sum + (processCpuMs(pid, proc) ?? 0), 0);
}
