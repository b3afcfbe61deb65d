/**
 * The result of a bench run as one plain object: what `--json` prints, and what the table and the
 * HTML page are drawn from. Field names are snake_case with units (`p50_ms`, `per_s`), so the JSON
 * reads on its own. Samples stay out of the JSON (the HTML page plots them).
 */
import type { Machine } from './machine.js';
import type { BenchOptions } from './options.js';
import type { RunOutcome } from './runner.js';
import { percentile, ratio, summarize, type Summary } from './stats.js';

export interface ResultRow {
  name: string;
  baseline: boolean;
  /** Compared only with baselines of the same group (warm: `c=50`). */
  group?: string;
  description: string;
  /** Completed cycles measured. */
  count: number;
  failures: number;
  /** Distinct failure messages, most frequent first, each with how often it happened. */
  errors: string[];
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  mean_ms: number;
  min_ms: number;
  max_ms: number;
  per_s: number;
  wall_s: number;
  /** Busy CPU of the whole machine per cycle (every core, kernel threads included), in ms. */
  cpu_ms: number;
  /** Per baseline: this row's rate over the baseline's, and the baseline's p50 over this row's. */
  vs?: Record<string, { per_s: number; p50: number }>;
  /** The p50 of figures a subject measures besides latency (warren: `spawner_setup_ms`). */
  extra_p50?: Record<string, number>;
  /** density: an idle instance's PSS, its anonymous part, USS and memory cgroup usage, KiB (medians). */
  pss_kib?: number;
  anon_kib?: number;
  uss_kib?: number;
  cgroup_kib?: number;
}

export interface BenchReport {
  scenario: string;
  /** What a row's latency runs to: "request to command running", or to the runtime's answer. */
  latency: string;
  params: { count: number; concurrency: number; duration_s: number | null; level: string; net: string; warmup: number; rounds: number; pool?: string; egress?: string; connections?: number[] };
  /** What `per_s` counts (the table's legend). */
  rate?: string;
  machine: Machine;
  results: ResultRow[];
  notes: string[];
}

export interface ReportWithSamples {
  report: BenchReport;
  /** Latencies per row name, for plots. */
  samples: Map<string, number[]>;
}

const MAX_ERRORS = 5;

function round(n: number, digits = 3): number {
  // NaN (no sample) stays NaN, which JSON prints as null
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Groups messages that differ only by a sandbox or container id. */
export function groupErrors(failures: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const f of failures) {
    const key = f.replace(/\bw[0-9a-f]{12}\b/g, 'w…').replace(/\bwb\d+-\d+-\d+\b/g, 'wb…');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const out = sorted.slice(0, MAX_ERRORS).map(([m, n]) => `${n}x ${m}`);
  if (sorted.length > MAX_ERRORS) out.push(`and ${sorted.length - MAX_ERRORS} other kinds of failure`);
  return out;
}

function row(r: RunOutcome['rows'][number], s: Summary): ResultRow {
  const extra = Object.entries(r.extra).filter(([, v]) => v.length > 0);
  return {
    name: r.name,
    baseline: r.baseline,
    ...(r.group ? { group: r.group } : {}),
    description: r.description,
    count: s.ok,
    failures: s.failures,
    errors: groupErrors(r.failures),
    p50_ms: round(s.p50Ms),
    p90_ms: round(s.p90Ms),
    p99_ms: round(s.p99Ms),
    mean_ms: round(s.meanMs),
    min_ms: round(s.minMs),
    max_ms: round(s.maxMs),
    per_s: round(s.perS, 1),
    wall_s: round(s.wallS),
    cpu_ms: round(r.cpuMs / Math.max(1, r.cycles), 2),
    ...(extra.length ? { extra_p50: Object.fromEntries(extra.map(([k, v]) => [k, round(percentile([...v].sort((a, b) => a - b), 50))])) } : {}),
    ...Object.fromEntries(
      (['pss_kib', 'anon_kib', 'uss_kib', 'cgroup_kib'] as const).filter((k) => (r.extra[k]?.length ?? 0) > 0).map((k) => [k, Math.round(percentile([...(r.extra[k] as number[])].sort((a, b) => a - b), 50))]),
    ),
  };
}

/** How rows name a baseline in `vs`: without its group (`node`, not `node c=50`): a row is
 * compared only with its own group's. */
export function baselineKey(b: Pick<ResultRow, 'name' | 'group'>): string {
  return b.group && b.name.endsWith(` ${b.group}`) ? b.name.slice(0, -(b.group.length + 1)) : b.name;
}

export function buildReport(outcome: RunOutcome, options: BenchOptions, machine: Machine, notes: readonly string[], latency: string, rate?: string): ReportWithSamples {
  const summaries = outcome.rows.map((r) => summarize(r.latenciesMs, r.failures.length, r.wallMs));
  const results = outcome.rows.map((r, i) => row(r, summaries[i] as Summary));
  for (const [i, r] of results.entries()) {
    if (r.baseline) continue;
    const vs: NonNullable<ResultRow['vs']> = {};
    for (const [j, b] of results.entries()) {
      if (!b.baseline || b.group !== r.group) continue;
      const q = ratio(summaries[i] as Summary, summaries[j] as Summary);
      vs[baselineKey(b)] = { per_s: round(q.perS, 2), p50: round(q.p50, 2) };
    }
    if (Object.keys(vs).length) r.vs = vs;
  }
  return {
    report: {
      scenario: options.scenario,
      latency,
      params: {
        count: options.count,
        concurrency: options.concurrency,
        duration_s: options.durationS ?? null,
        level: options.level,
        net: options.net,
        warmup: outcome.warmup,
        rounds: outcome.rounds,
        ...(options.pool ? { pool: options.pool } : {}),
        ...(options.egress ? { egress: options.egress } : {}),
        ...(options.connections ? { connections: options.connections } : {}),
      },
      ...(rate ? { rate } : {}),
      machine,
      results,
      notes: [...notes],
    },
    samples: new Map(outcome.rows.map((r) => [r.name, r.latenciesMs])),
  };
}
