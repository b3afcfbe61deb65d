/**
 * Memory of processes as the density scenario counts it: PSS (proportional set size: private
 * pages plus each shared page divided by how many processes map it), the figure that adds up to
 * what a set of processes costs the machine, and USS (private pages only). PSS depends on who else
 * maps a file: the host's node binary is shared with every node process on the machine, a
 * sandbox's copy in the node image only with other sandboxes; USS does not. The proc root is a
 * parameter, for tests.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ProcessMemory {
  /** Proportional set size: private pages, plus shared ones divided by their sharers. */
  pssKib: number;
  /** Unique set size: pages no other process maps (Private_Clean + Private_Dirty). */
  ussKib: number;
}

/** `pid`'s memory in KiB (smaps_rollup), undefined once it is gone. */
export function processMemory(pid: number, proc = '/proc'): ProcessMemory | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(proc, String(pid), 'smaps_rollup'), 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1] ?? NaN);
  const pss = field('Pss');
  return Number.isFinite(pss) ? { pssKib: pss, ussKib: (field('Private_Clean') || 0) + (field('Private_Dirty') || 0) } : undefined;
}

/** The memory of a set of processes, KiB (those gone meanwhile count nothing). */
export function totalMemory(pids: readonly number[], proc = '/proc'): ProcessMemory {
  const sum = { pssKib: 0, ussKib: 0 };
  for (const pid of pids) {
    const m = processMemory(pid, proc);
    if (m) {
      sum.pssKib += m.pssKib;
      sum.ussKib += m.ussKib;
    }
  }
  return sum;
}

/** Pids listed in the cgroup dirs (`cgroup.procs`; one dir per v1 controller, deduplicated). */
export function cgroupPids(dirs: readonly string[]): number[] {
  const out = new Set<number>();
  for (const dir of dirs) {
    try {
      for (const line of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line) out.add(Number(line));
    } catch {
      // a controller's dir the cgroup does not have
    }
  }
  return [...out];
}
