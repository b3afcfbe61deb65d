/**
 * A process's name and state as /proc/<pid>/stat shows them. kill(pid, 0) cannot tell a process
 * that ended from one that runs: an ended one stays a zombie until its parent reaps it, which an
 * init that does not reap (a container's, often) never does, and kill(0) finds zombies.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf } from './errors.js';

/** Process states of one that has ended: zombie, dead. */
const ENDED = ['Z', 'X', 'x'];

export interface ProcStat {
  /** Its name, as the kernel keeps it (15 bytes at most). */
  comm: string;
  /** R, S, D, Z... (proc(5)). */
  state: string;
}

/** Its name and state; undefined when there is no such process, null when /proc does not say
 * (hidden from us: hidepid). */
export function readProcStat(pid: number, proc = '/proc'): ProcStat | undefined | null {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = fs.readFileSync(path.join(proc, String(pid), 'stat'), 'utf8');
  } catch (err) {
    const code = errnoOf(err);
    return code === 'ENOENT' || code === 'ESRCH' ? undefined : null;
  }
  // "<pid> (<comm>) <state> ...": comm may hold spaces and parentheses, the last ')' ends it
  const close = stat.lastIndexOf(')');
  return { comm: stat.slice(stat.indexOf('(') + 1, close), state: stat.slice(close + 2, close + 3) };
}

/** Whether a process in `state` has ended (a zombie, or dead). */
export function ended(state: string): boolean {
  return ENDED.includes(state);
}
