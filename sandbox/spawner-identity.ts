/**
 * Live restore: whether the pid a restore record names is still the spawner that runs its
 * sandboxes, and ending one that outlived its grace window but has not gone yet.
 *
 * `kill(pid, 0)` is not enough for either. A spawner that ended is reparented to init and stays a
 * zombie until init reaps it (a second or more on some hosts; never on a host whose init does
 * not reap), and kill(0) finds a zombie; while it did, the start-up sweep kept the sandboxes its
 * records name and the adopter skipped them, so their cgroups, io mounts and run dirs stayed
 * until the next start. And a pid is reused: a process that merely has the number is never
 * killed here (it is held by a pidfd before it is checked). The spawner is known by its name
 * (warren:[spawner], which the kernel keeps as 15 bytes) and by the attach socket in its
 * environment (WARREN_ATTACH, spawner.ts), which names the run dir.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf } from '../lib/errors.js';
import { signalIf } from '../lib/pidfd.js';
import { ended, readProcStat } from '../lib/proc-stat.js';

/** What /proc/<pid>/comm holds for the spawner: its PR_SET_NAME, cut to 15 bytes. */
const SPAWNER_COMM = 'warren:[spawner]'.slice(0, 15);
/** How long endSpawner waits for a SIGKILLed spawner to go. */
const END_WAIT_MS = 3000;

/** Whether `pid` runs: it exists and is not a zombie (kill(0) finds zombies too). */
export function processRuns(pid: number, proc = '/proc'): boolean {
  const stat = readProcStat(pid, proc);
  return !!stat && !ended(stat.state);
}

/**
 * Whether `pid` is a running (not a zombie) warren spawner whose attach socket is `socket`. Its
 * environment unreadable (not root): the name alone decides, so that a sweep never drops what a
 * live spawner holds.
 */
export function spawnerLives(socket: string, pid: number, proc = '/proc'): boolean {
  const stat = readProcStat(pid, proc);
  if (!stat || stat.comm !== SPAWNER_COMM || ended(stat.state)) return false;
  let environ: string;
  try {
    environ = fs.readFileSync(path.join(proc, String(pid), 'environ'), 'latin1');
  } catch (err) {
    const code = errnoOf(err);
    return code === 'EACCES' || code === 'EPERM';
  }
  const attach = environ.split('\0').find((v) => v.startsWith('WARREN_ATTACH='));
  return attach !== undefined && path.resolve(attach.slice('WARREN_ATTACH='.length)) === path.resolve(socket);
}

/**
 * Ends the spawner `pid` if it is still the one of `socket` (spawnerLives): SIGKILL, then waits
 * until it is gone or a zombie, at most `waitMs`. Its sandboxes die with it (their parent-death
 * signal); what they held on the host is then its restore records' to release. Returns whether
 * no such spawner lives any more.
 */
export async function endSpawner(socket: string, pid: number, waitMs = END_WAIT_MS, proc = '/proc'): Promise<boolean> {
  // the process is held before it is checked: the kill reaches the spawner checked, or nothing
  // (lib/pidfd.ts), never a process that got its pid meanwhile
  if (signalIf(pid, 'SIGKILL', (p) => spawnerLives(socket, p, proc)) !== 'sent') return !spawnerLives(socket, pid, proc);
  for (const end = Date.now() + waitMs; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) {
    if (!spawnerLives(socket, pid, proc)) return true;
  }
  return !spawnerLives(socket, pid, proc);
}
