/**
 * Signals that reach the process meant, never another that got its pid: a pidfd (Linux 5.3)
 * names one process for as long as it is held, where a pid is a number the kernel hands out
 * again once its process was reaped (pid_max is 32768 on some hosts, and warren starts hundreds
 * of processes a second). node 20 has no pidfd kill of its own: these go through libc (libc.ts).
 *
 *   const p = openPid(pid)        a process, or null when none has that pid
 *   check it is the one meant     (its /proc entry: it is the one the descriptor names, or the
 *                                  descriptor's process has ended and the check is moot)
 *   signalPid(p, 'SIGKILL')       false when it has ended since
 *   closePid(p)
 */
import fs from 'node:fs';
import os from 'node:os';
import { WarrenError } from './errors.js';
import { ESRCH, libc } from './libc.js';

/** A process held by a pidfd. */
export interface PidHandle {
  readonly pid: number;
  fd: number;
}

/** The process that has `pid` now, held; null when there is none. */
export function openPid(pid: number): PidHandle | null {
  const c = libc();
  const fd = c.pidfdOpen(pid);
  if (fd >= 0) return { pid, fd };
  const errno = c.errno();
  if (errno === ESRCH) return null;
  throw new WarrenError('WARREN_PIDFD_CALL', `pidfd_open(${pid}): errno ${errno}`);
}

/** Sends `signal` to the held process: true when sent, false when it had ended (or was closed). */
export function signalPid(p: PidHandle, signal: NodeJS.Signals): boolean {
  if (p.fd < 0) return false;
  const c = libc();
  if (c.pidfdSendSignal(p.fd, os.constants.signals[signal]) === 0) return true;
  const errno = c.errno();
  if (errno === ESRCH) return false;
  throw new WarrenError('WARREN_PIDFD_CALL', `pidfd_send_signal(${p.pid}, ${signal}): errno ${errno}`);
}

/** Lets the process go; idempotent. */
export function closePid(p: PidHandle): void {
  if (p.fd < 0) return;
  fs.closeSync(p.fd);
  p.fd = -1;
}

/**
 * Sends `signal` to `pid` only if `isIt(pid)` holds for the process that has the pid when the
 * descriptor is taken: 'sent', 'gone' (no such process, or it ended before the signal) or
 * 'other' (the pid is another process's now).
 */
export function signalIf(pid: number, signal: NodeJS.Signals, isIt: (pid: number) => boolean): 'sent' | 'gone' | 'other' {
  const p = openPid(pid);
  if (!p) return 'gone';
  try {
    if (!isIt(pid)) return 'other';
    return signalPid(p, signal) ? 'sent' : 'gone';
  } finally {
    closePid(p);
  }
}
