/**
 * Runs a scenario's subjects: a warm-up batch each (not counted: first runs pay for cold caches,
 * page faults of a fresh spawner, lazily built helpers), then rounds in which every subject runs
 * one batch, the order rotating each round, so that whatever drifts on the machine during the run
 * hits every row alike instead of whichever ran last.
 */
import { machineBusyMs } from './machine-cpu.js';
import { splitEvenly } from './stats.js';
import type { Batch, Subject } from './scenario.js';

export interface RunPlan {
  /** Measured cycles per subject (a cap when `durationS` is set). */
  count: number;
  concurrency: number;
  durationS?: number;
}

export interface Rounds {
  /** Uncounted cycles per subject before the first round. */
  warmup: number;
  /** Cycles per subject in each round; in duration mode, the size of every round. */
  sizes: number[];
  /** Rounds go on until the duration has passed (up to `count` cycles). */
  timed: boolean;
}

/** A round is large enough to keep every slot busy for a while; ten rounds interleave enough. */
const MAX_ROUNDS = 10;

export function planRounds(plan: RunPlan): Rounds {
  const roundSize = Math.max(20, 5 * plan.concurrency);
  const warmup = Math.min(40, Math.max(4, 2 * plan.concurrency));
  if (plan.durationS !== undefined) return { warmup, sizes: [Math.min(roundSize, plan.count)], timed: true };
  const rounds = Math.min(MAX_ROUNDS, Math.max(1, Math.floor(plan.count / roundSize)));
  return { warmup, sizes: splitEvenly(plan.count, rounds), timed: false };
}

export interface RowResult {
  readonly name: string;
  readonly baseline: boolean;
  readonly group?: string;
  readonly description: string;
  latenciesMs: number[];
  failures: string[];
  wallMs: number;
  /** Busy CPU time of the whole machine during this row's counted batches (machine-cpu.ts). */
  cpuMs: number;
  /** Cycles of the counted batches, failed ones included: what cpuMs was spent on. */
  cycles: number;
  extra: Record<string, number[]>;
}

/** What the runner tells whoever shows progress (table.ts draws a bar on a terminal). */
export interface ProgressSink {
  begin(total: number | undefined, durationS: number | undefined): void;
  tick(row: string): void;
  end(): void;
}

export interface RunOutcome {
  rows: RowResult[];
  rounds: number;
  warmup: number;
  aborted: boolean;
}

export function absorb(row: RowResult, b: Batch, counted: boolean): void {
  if (counted) {
    row.latenciesMs.push(...b.latenciesMs);
    row.wallMs += b.wallMs;
    row.cycles += b.latenciesMs.length + b.failures.length;
    for (const [k, v] of Object.entries(b.extra ?? {})) (row.extra[k] ??= []).push(...v);
  }
  // a failure is never dropped, not even in the warm-up: it is shown, marked as such
  row.failures.push(...b.failures.map((f) => (counted ? f : `warm-up: ${f}`)));
}

export function emptyRow(s: Subject): RowResult {
  return { name: s.name, baseline: s.baseline, ...(s.group ? { group: s.group } : {}), description: s.description, latenciesMs: [], failures: [], wallMs: 0, cpuMs: 0, cycles: 0, extra: {} };
}

export async function runRounds(
  subjects: readonly Subject[],
  plan: RunPlan,
  progress: ProgressSink,
  signal: AbortSignal,
  busyMs: () => number = machineBusyMs,
): Promise<RunOutcome> {
  const { warmup, sizes, timed } = planRounds(plan);
  const rows = subjects.map(emptyRow);
  const total = timed ? undefined : subjects.length * (warmup + plan.count);
  progress.begin(total, plan.durationS);
  let rounds = 0;
  try {
    for (const [i, s] of subjects.entries()) {
      if (signal.aborted) break;
      absorb(rows[i] as RowResult, await s.batch(warmup, plan.concurrency, () => progress.tick(s.name), signal), false);
    }
    // the clock of a timed run starts after the warm-up, which is not part of what was asked
    const start = performance.now();
    let done = 0;
    for (;;) {
      if (signal.aborted) break;
      const size = timed ? Math.min(sizes[0] as number, plan.count - done) : sizes[rounds];
      if (size === undefined || size <= 0) break;
      if (timed && performance.now() - start >= (plan.durationS as number) * 1000) break;
      for (let k = 0; k < subjects.length && !signal.aborted; k++) {
        const i = (k + rounds) % subjects.length;
        const s = subjects[i] as Subject;
        const cpu0 = busyMs();
        const batch = await s.batch(size, plan.concurrency, () => progress.tick(s.name), signal);
        (rows[i] as RowResult).cpuMs += busyMs() - cpu0;
        absorb(rows[i] as RowResult, batch, true);
      }
      done += size;
      rounds++;
    }
  } finally {
    progress.end();
  }
  return { rows, rounds, warmup, aborted: signal.aborted };
}
