/**
 * The bench for a person: a text table of the results, and a progress bar drawn only on a terminal
 * (a pipe or a file gets no control characters, so `--json | jq` and CI logs stay clean).
 */
import { baselineKey, type BenchReport, type ResultRow } from './report.js';
import type { ProgressSink } from './runner.js';

function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

function times(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(n >= 10 ? 0 : 1)}x` : '-';
}

function pad(cells: readonly string[], widths: readonly number[]): string {
  // the name column reads left-aligned, numbers right-aligned
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ').trimEnd();
}

/** The run's settings in one line (the table's first, the page's first paragraph). */
export function heading(report: BenchReport): string {
  const p = report.params;
  if (report.scenario === 'warm') {
    return `warm --connections ${(p.connections ?? []).join(',')}: ${p.duration_s ?? '-'} s per row in ${p.rounds} interleaved rounds, after ${p.warmup} s of warm-up per row`;
  }
  const size = `${p.duration_s === null ? `${p.count} cycles per row` : `${p.duration_s} s in all`}`;
  const rounds = `${p.rounds} interleaved rounds after ${p.warmup} warm-up cycles per row`;
  if (report.scenario === 'cold') return `cold${p.pool ? ` --pool ${p.pool}` : ''}: ${size}, one at a time, ${rounds}`;
  return `${report.scenario} --level ${p.level} --net ${p.net}: ${size}, concurrency ${p.concurrency}, ${rounds}`;
}

export function formatTable(report: BenchReport): string {
  const baselines = [...new Set(report.results.filter((r) => r.baseline).map(baselineKey))];
  const head = ['', 'ok', 'failed', 'p50 ms', 'p90 ms', 'p99 ms', 'per s', 'cpu ms', ...baselines.map((b) => `vs ${b}`)];
  const body = report.results.map((r: ResultRow) => [
    r.baseline ? `${r.name} (baseline)` : r.name,
    String(r.count),
    String(r.failures),
    fixed(r.p50_ms, 2),
    fixed(r.p90_ms, 2),
    fixed(r.p99_ms, 2),
    fixed(r.per_s, 1),
    fixed(r.cpu_ms, r.cpu_ms < 1 ? 3 : 1),
    ...baselines.map((b) => {
      const q = r.vs?.[b];
      return !q ? '' : Number.isFinite(q.per_s) && q.per_s > 0 ? `${times(q.per_s)} rate, ${times(q.p50)} p50` : '-';
    }),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const m = report.machine;
  const lines = [
    heading(report),
    '',
    pad(head, widths),
    ...body.map((row) => pad(row, widths)),
    '',
    `latency: ${report.latency}; per s: ${report.rate ?? 'create + ready + destroy cycles'} per second of wall time;`,
    `cpu ms: busy CPU of the whole machine per ${report.scenario === 'warm' ? 'answer' : 'cycle'} (all cores, kernel threads included);`,
    'vs: rate over the baseline\'s, and the baseline\'s p50 over the row\'s (above 1x: faster than the baseline)',
  ];
  for (const r of report.results) {
    if (r.extra_p50) lines.push(`${r.name}: ${Object.entries(r.extra_p50).map(([k, v]) => `${k} p50 ${fixed(v, 2)}`).join(', ')}`);
    for (const e of r.errors) lines.push(`${r.name} failed: ${e}`);
  }
  for (const n of report.notes) lines.push(`note: ${n}`);
  lines.push(`machine: ${m.kernel}, ${m.cores} cores (${m.cpu}), ${m.memory_gib} GiB, cgroup ${m.cgroup}, node ${m.node}, load ${m.load_avg.join(' ')}, ${m.date}`);
  return `${lines.join('\n')}\n`;
}

const BAR = 30;
const REDRAW_MS = 80;

/** A progress bar on `stream` when it is a terminal; otherwise a sink that draws nothing. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): ProgressSink {
  if (!stream.isTTY) return { begin() {}, tick() {}, end() {} };
  let total: number | undefined;
  let duration: number | undefined;
  let done = 0;
  let start = 0;
  let last = 0;
  let drawn = false;
  const draw = (row: string) => {
    const fraction = total ? done / total : duration ? Math.min(1, (performance.now() - start) / (duration * 1000)) : 0;
    const filled = Math.round(fraction * BAR);
    const count = total ? `${done}/${total}` : `${done} cycles`;
    stream.write(`\r\x1b[K[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${Math.floor(fraction * 100)}% ${count} ${row}`);
    drawn = true;
  };
  return {
    begin(t, d) {
      total = t;
      duration = d;
      start = performance.now();
    },
    tick(row) {
      done++;
      const now = performance.now();
      if (now - last >= REDRAW_MS || done === total) {
        last = now;
        draw(row);
      }
    },
    end() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
