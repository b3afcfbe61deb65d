/**
 * The whole machine's busy CPU time, to charge each batch with what it cost: the subject's own
 * processes, and the kernel threads it keeps busy (namespace and cgroup teardown, RCU, link
 * events) that per-process figures miss. Rows run one batch at a time (runner.ts), so the time
 * spent during a batch is that row's, plus whatever else the machine did meanwhile (noise, which
 * the interleaved rounds spread over every row).
 */
import fs from 'node:fs';

/** USER_HZ: /proc/stat counts in these on every Linux architecture warren runs on. */
const TICKS_PER_S = 100;

/** Milliseconds of busy CPU across all cores since boot: user, nice, system, irq, softirq
 * (guest time is inside user); idle, iowait and steal are not work done for us. */
export function machineBusyMs(procStat = '/proc/stat'): number {
  const cpu = fs.readFileSync(procStat, 'utf8').split('\n', 1)[0] ?? '';
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = cpu.trim().split(/\s+/).slice(1).map(Number);
  return ((user + nice + system + irq + softirq) * 1000) / TICKS_PER_S;
}
