/**
 * The bench's statistics, as pure functions over plain numbers so they are tested as tables.
 * Percentiles are nearest-rank (the smallest sample with at least p% of samples at or below it):
 * every figure we print is a latency that was really measured, never an interpolation.
 */

export interface Summary {
  /** Cycles that completed: created, running, destroyed. */
  readonly ok: number;
  readonly failures: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Completed cycles per second of the row's own wall time (its batches, summed). */
  readonly perS: number;
  readonly wallS: number;
}

/** Nearest-rank percentile of ascending `sorted`; NaN when there is no sample. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside (0, 100]`);
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

export function summarize(latenciesMs: readonly number[], failures: number, wallMs: number): Summary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const n = sorted.length;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    ok: n,
    failures,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    meanMs: n ? sum / n : NaN,
    minMs: n ? (sorted[0] as number) : NaN,
    maxMs: n ? (sorted[n - 1] as number) : NaN,
    perS: wallMs > 0 ? n / (wallMs / 1000) : NaN,
    wallS: wallMs / 1000,
  };
}

export interface Ratio {
  /** row rate / baseline rate: above 1, the row does more cycles per second. */
  readonly perS: number;
  /** baseline p50 / row p50: above 1, the row is running sooner. */
  readonly p50: number;
}

/** How a row compares with a baseline; both ratios read "times better" for the row. */
export function ratio(row: Summary, baseline: Summary): Ratio {
  return { perS: row.perS / baseline.perS, p50: baseline.p50Ms / row.p50Ms };
}

/**
 * Points of the empirical CDF, at most `maxPoints` of them (evenly spaced in rank, the last one
 * always kept), so a plot of 100 000 samples stays small: [latency, fraction at or below].
 */
export function cdfPoints(latenciesMs: readonly number[], maxPoints = 200): Array<[number, number]> {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return [];
  const step = Math.max(1, Math.ceil(n / maxPoints));
  const out: Array<[number, number]> = [];
  for (let i = step - 1; i < n; i += step) out.push([sorted[i] as number, (i + 1) / n]);
  if (out[out.length - 1]?.[1] !== 1) out.push([sorted[n - 1] as number, 1]);
  return out;
}

/** Splits `total` into `parts` sizes that differ by at most one, larger first. */
export function splitEvenly(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  const extra = total % parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}
