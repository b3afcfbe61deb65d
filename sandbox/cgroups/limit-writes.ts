/**
 * Limits as an ordered list of interface-file writes, for a new cgroup (create) and a live one
 * (setLimits). The order is the whole point: the kernel checks each write against the values
 * already there, so the list is computed here, as pure data, and applied by one function that
 * can put the old values back in reverse order when a write is refused.
 */
import { WarrenError, errnoOf, type ErrorCode } from '../../lib/errors.js';
import { describe, readControl, writeControl } from './files.js';
import { CPU_PERIOD_USEC, cpuQuotaUsec } from './spec.js';
import type { CgroupLimits } from './types.js';

export type LimitController = 'memory' | 'cpu' | 'pids';

/** One write: `value` to `file` in the cgroup's dir of controller `ctrl`. */
export interface LimitWrite {
  readonly ctrl: LimitController;
  readonly file: string;
  readonly value: string;
}

/** A write with the path it goes to. */
export interface PathWrite {
  readonly path: string;
  readonly value: string;
}

export interface V1WriteOptions {
  /** memory.memsw.* exist (swap accounting is on). */
  memsw: boolean;
  /** The new memory limit is above the current one (never for a new cgroup: it starts unlimited). */
  memoryRaising: boolean;
}

/**
 * v1: memsw = memory means no swap on top of memoryBytes. The kernel refuses a memsw limit below
 * the memory limit (EINVAL), so lowering writes memory first and raising writes memsw first:
 * memsw >= memory holds after every single write. Period before quota: the kernel checks each
 * write against the pair (minimum quota, parent bandwidth).
 */
export function v1Writes(limits: CgroupLimits, o: V1WriteOptions): LimitWrite[] {
  const out: LimitWrite[] = [];
  const { memoryBytes, cpus, pids } = limits;
  if (memoryBytes !== undefined) {
    const memory: LimitWrite = { ctrl: 'memory', file: 'memory.limit_in_bytes', value: String(memoryBytes) };
    const memsw: LimitWrite[] = o.memsw ? [{ ctrl: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(memoryBytes) }] : [];
    out.push(...(o.memoryRaising ? [...memsw, memory] : [memory, ...memsw]));
  }
  if (cpus !== undefined) {
    out.push({ ctrl: 'cpu', file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_USEC) });
    out.push({ ctrl: 'cpu', file: 'cpu.cfs_quota_us', value: String(cpuQuotaUsec(cpus)) });
  }
  if (pids !== undefined) out.push({ ctrl: 'pids', file: 'pids.max', value: String(pids) });
  return out;
}

/**
 * v2: memory.swap.max counts swap alone, so 0 means "nothing beyond memory.max", in any order.
 * Quota and period go in one write, so the kernel checks them together.
 */
export function v2Writes(limits: CgroupLimits, o: { swap: boolean }): LimitWrite[] {
  const out: LimitWrite[] = [];
  const { memoryBytes, cpus, pids } = limits;
  if (memoryBytes !== undefined) {
    out.push({ ctrl: 'memory', file: 'memory.max', value: String(memoryBytes) });
    if (o.swap) out.push({ ctrl: 'memory', file: 'memory.swap.max', value: '0' });
  }
  if (cpus !== undefined) out.push({ ctrl: 'cpu', file: 'cpu.max', value: `${cpuQuotaUsec(cpus)} ${CPU_PERIOD_USEC}` });
  if (pids !== undefined) out.push({ ctrl: 'pids', file: 'pids.max', value: String(pids) });
  return out;
}

/** What became of a live cgroup's limits after a refused write. */
export type LimitsOutcome = 'unchanged' | 'mixed';

/**
 * Writes `writes` in order to a live cgroup. When one is refused, writes the old values of those
 * done back in reverse order and throws: WARREN_CGROUP_MEMORY_BUSY when the kernel refused a
 * memory limit below what the cgroup uses (v1 tries to reclaim, and fails with EBUSY when it
 * cannot: a sandbox's memory cannot go to swap), else WARREN_CGROUP_SET_LIMITS. The error's
 * `outcome` says whether the old limits are back ('unchanged') or not ('mixed').
 */
export function applyLive(name: string, writes: readonly PathWrite[]): void {
  // the old values first: after a refusal, these are what goes back
  const old = writes.map((w) => readLive(name, w.path));
  let done = 0;
  try {
    for (; done < writes.length; done++) writeControl(writes[done]!.path, writes[done]!.value);
    return;
  } catch (err) {
    const failed = writes[done]!;
    let outcome: LimitsOutcome = 'unchanged';
    for (let i = done - 1; i >= 0; i--) {
      try {
        writeControl(writes[i]!.path, old[i]!);
      } catch {
        outcome = 'mixed';
      }
    }
    const undo = outcome === 'unchanged' ? 'the old limits stay' : 'putting the old limits back failed too: its limits are mixed';
    const memory = /\/memory\.(limit_in_bytes|memsw\.limit_in_bytes|max)$/.test(failed.path);
    if (memory && errnoOf(err) === 'EBUSY') {
      throw new LimitsError(
        'WARREN_CGROUP_MEMORY_BUSY',
        `set memory limit of cgroup '${name}' to ${failed.value} bytes: it uses more and the kernel could not reclaim enough (EBUSY); ${undo}`,
        outcome,
        err,
      );
    }
    throw new LimitsError('WARREN_CGROUP_SET_LIMITS', `set limits of cgroup '${name}': write '${failed.value}' to '${failed.path}': ${describe(err)}; ${undo}`, outcome, err);
  }
}

/** A live cgroup's limit file, trimmed; WARREN_CGROUP_SET_LIMITS naming it when unreadable (gone). */
export function readLive(name: string, path: string): string {
  try {
    return readControl(path).trim();
  } catch (err) {
    throw new LimitsError('WARREN_CGROUP_SET_LIMITS', `set limits of cgroup '${name}': read '${path}': ${describe(err)}`, 'unchanged', err);
  }
}

export class LimitsError extends WarrenError {
  readonly outcome: LimitsOutcome;

  constructor(code: ErrorCode, message: string, outcome: LimitsOutcome, cause: unknown) {
    super(code, message, { cause });
    this.outcome = outcome;
  }
}
