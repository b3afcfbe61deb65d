/**
 * Memory of processes as the kernel accounts it, to compare what an idle instance costs with an
 * idle plain node server (issue 10's density target: at most 1 MiB more PSS). From smaps_rollup:
 * PSS (a shared page is split among the processes that map it), apart its anonymous and its
 * file-backed share, RSS, and the private part (pages no other process maps).
 *
 * PSS alone misleads here: node's binary is most of an instance's file-backed pages, and its share
 * depends on how many processes map that very file. A sandbox maps the base image's copy (shared
 * by the instances only), a plain node on the host the host's (shared by every node process on
 * the machine). The anonymous part depends on nothing else that runs: compare that first.
 *
 * The proc root is a parameter, so the parsing is tested on a temp dir.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Bytes. */
export interface ProcessMemory {
  pss: number;
  pssAnon: number;
  pssFile: number;
  rss: number;
  /** Private_Clean + Private_Dirty: what ending the process would free. */
  private: number;
}

const ZERO: ProcessMemory = { pss: 0, pssAnon: 0, pssFile: 0, rss: 0, private: 0 };

/** /proc/<pid>/<file>'s text, or undefined once the process is gone. */
function procText(proc: string, pid: number, file: string): string | undefined {
  try {
    return fs.readFileSync(path.join(proc, String(pid), file), 'utf8');
  } catch {
    return undefined;
  }
}

/** `pid`'s memory from its smaps_rollup; undefined once it is gone. */
export function processMemory(pid: number, proc = '/proc'): ProcessMemory | undefined {
  const text = procText(proc, pid, 'smaps_rollup');
  if (text === undefined) return undefined;
  const kb: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+):\s+(\d+) kB$/gm)) kb[m[1] as string] = Number(m[2]) * 1024;
  const at = (k: string) => kb[k] ?? 0;
  return { pss: at('Pss'), pssAnon: at('Pss_Anon'), pssFile: at('Pss_File'), rss: at('Rss'), private: at('Private_Clean') + at('Private_Dirty') };
}

/** The processes' memory added up (a sandbox: its init and its node); those gone count 0. */
export function totalMemory(pids: readonly number[], proc = '/proc'): ProcessMemory {
  const sum = { ...ZERO };
  for (const pid of pids) {
    const m = processMemory(pid, proc);
    if (m) for (const k of Object.keys(sum) as Array<keyof ProcessMemory>) sum[k] += m[k];
  }
  return sum;
}

/**
 * Anonymous bytes in `pid`'s executable mappings that have no file: V8's JIT code, and any copy
 * of code that could have been mapped from its file instead (runtime/index.ts RUNTIME_NODE_FLAGS
 * says which one node made in a sandbox). Undefined once the process is gone.
 */
export function anonExecutableBytes(pid: number, proc = '/proc'): number | undefined {
  const text = procText(proc, pid, 'smaps');
  if (text === undefined) return undefined;
  let counted = false;
  let bytes = 0;
  for (const line of text.split('\n')) {
    // a mapping's head: "start-end perms offset dev inode [path]"
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S{4}) \S+ \S+ \S+ *(.*)$/.exec(line);
    if (head) {
      counted = head[1]?.[2] === 'x' && head[2] === '';
      continue;
    }
    const anon = counted ? /^Anonymous:\s+(\d+) kB$/.exec(line) : null;
    if (anon) bytes += Number(anon[1]) * 1024;
  }
  return bytes;
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
