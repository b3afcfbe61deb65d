/**
 * `--report FILE.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched),
 * so it can be attached to an issue or opened offline years later. It holds the table, a latency
 * CDF per row, the notes and the machine. All plots share one logarithmic time axis: rows are
 * compared by eye, and spawn latencies of different tools lie decades apart.
 */
import { baselineKey, type BenchReport, type ResultRow } from './report.js';
import { cdfPoints } from './stats.js';
import { heading } from './table.js';

const W = 640;
const H = 220;
const M = { left: 48, right: 16, top: 18, bottom: 36 };
/** Line colours of the overlay plot, in row order (warren's row first). */
const PALETTE = ['#1f5fbf', '#888888', '#c0392b', '#27ae60', '#8e44ad', '#d68910'];

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

interface Axis {
  lo: number;
  hi: number;
  /** What the time runs to (the report's `latency`). */
  label?: string;
}

/** Decades that hold every sample of every row. */
export function sharedAxis(samples: Iterable<readonly number[]>): Axis {
  let min = Infinity;
  let max = -Infinity;
  for (const s of samples) {
    for (const v of s) {
      if (v > 0 && v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (!Number.isFinite(min) || !Number.isFinite(max)) return { lo: 0.1, hi: 100 };
  const lo = 10 ** Math.floor(Math.log10(min));
  const hi = 10 ** Math.ceil(Math.log10(max));
  return { lo, hi: hi > lo ? hi : lo * 10 };
}

function xOf(v: number, a: Axis): number {
  const f = (Math.log10(Math.max(v, a.lo)) - Math.log10(a.lo)) / (Math.log10(a.hi) - Math.log10(a.lo));
  return M.left + f * (W - M.left - M.right);
}

function yOf(f: number): number {
  return M.top + (1 - f) * (H - M.top - M.bottom);
}

/** Grid and labels: 1-2-5 steps on the log time axis; the fractions a latency table names. */
function frame(a: Axis): string {
  const out: string[] = [];
  for (let d = a.lo; d <= a.hi * 1.0001; d *= 10) {
    for (const m of [1, 2, 5]) {
      const v = d * m;
      if (v > a.hi * 1.0001) break;
      const x = xOf(v, a).toFixed(1);
      out.push(`<line x1="${x}" x2="${x}" y1="${M.top}" y2="${H - M.bottom}" class="${m === 1 ? 'grid' : 'grid minor'}"/>`);
      out.push(`<text x="${x}" y="${H - M.bottom + 14}" text-anchor="middle">${Number(v.toPrecision(3))}</text>`);
    }
  }
  for (const f of [0, 0.5, 0.9, 1]) {
    const y = yOf(f).toFixed(1);
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" class="grid minor"/>`);
    out.push(`<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${f}</text>`);
  }
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 4}" text-anchor="middle">ms, ${escapeHtml(a.label ?? 'latency')} (log scale)</text>`);
  return out.join('');
}

/** The empirical CDF as an SVG step path. */
function cdfPath(samples: readonly number[], a: Axis): string {
  let d = '';
  let prevY = yOf(0);
  for (const [v, f] of cdfPoints(samples, 400)) {
    const x = xOf(v, a).toFixed(1);
    d += `${d ? 'L' : 'M'}${x},${prevY.toFixed(1)}L${x},${yOf(f).toFixed(1)}`;
    prevY = yOf(f);
  }
  return d;
}

function svg(label: string, body: string, height = H): string {
  return `<svg viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="${escapeHtml(label)}">${body}</svg>`;
}

/** One row's CDF, with its p50 and p99 marked (labels staggered so they never overlap). */
export function cdfSvg(row: ResultRow, samples: readonly number[], a: Axis): string {
  const marks = ([['p50', row.p50_ms], ['p99', row.p99_ms]] as const)
    .filter(([, v]) => Number.isFinite(v))
    .map(([k, v], i) => {
      const x = xOf(v, a);
      return `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${M.top}" y2="${H - M.bottom}" class="mark"/>` +
        `<text x="${(x + 3).toFixed(1)}" y="${yOf(0) - 6 - 14 * i}" class="marklabel">${k} ${fmt(v)} ms</text>`;
    })
    .join('');
  const color = PALETTE[row.baseline ? 1 : 0] as string;
  return svg(`latency CDF of ${row.name}`, `${frame(a)}${marks}<path d="${cdfPath(samples, a)}" class="line" stroke="${color}"/>`);
}

/** Every row's CDF on one plot, to compare at a glance; a legend names the colours. */
export function overlaySvg(rows: readonly ResultRow[], samples: ReadonlyMap<string, readonly number[]>, a: Axis): string {
  const lines = rows.map((r, i) => `<path d="${cdfPath(samples.get(r.name) ?? [], a)}" class="line" stroke="${PALETTE[i % PALETTE.length]}"/>`);
  const legend = rows.map((r, i) => {
    const y = M.top + 8 + 14 * i;
    return `<line x1="${M.left + 8}" x2="${M.left + 26}" y1="${y}" y2="${y}" class="line" stroke="${PALETTE[i % PALETTE.length]}"/>` +
      `<text x="${M.left + 30}" y="${y}" dominant-baseline="middle">${escapeHtml(r.name)}</text>`;
  });
  return svg('latency CDF of every row', `${frame(a)}${lines.join('')}<rect x="${M.left + 4}" y="${M.top}" width="110" height="${14 * rows.length + 4}" class="legend"/>${legend.join('')}`);
}

function table(report: BenchReport): string {
  const baselines = [...new Set(report.results.filter((r) => r.baseline).map(baselineKey))];
  const head = ['', 'ok', 'failed', 'p50 ms', 'p90 ms', 'p99 ms', 'per s', 'cpu ms', ...baselines.map((b) => `vs ${b} (rate, p50)`)];
  const rows = report.results.map((r) => {
    const cells = [
      `${escapeHtml(r.name)}${r.baseline ? ' <small>baseline</small>' : ''}`,
      String(r.count),
      r.failures ? `<b class="bad">${r.failures}</b>` : '0',
      fmt(r.p50_ms),
      fmt(r.p90_ms),
      fmt(r.p99_ms),
      fmt(r.per_s, 1),
      fmt(r.cpu_ms, r.cpu_ms < 1 ? 3 : 1),
      ...baselines.map((b) => (r.vs?.[b] ? `${fmt(r.vs[b].per_s)}x, ${fmt(r.vs[b].p50)}x` : '')),
    ];
    return `<tr>${cells.map((c, i) => (i === 0 ? `<th>${c}</th>` : `<td>${c}</td>`)).join('')}</tr>`;
  });
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** What rows measured besides latency (density's memory, cold's phases, warm's CPU), at p50. */
function extraTable(report: BenchReport): string {
  const keys = [...new Set(report.results.flatMap((r) => Object.keys(r.extra_p50 ?? {})))];
  if (keys.length === 0) return '';
  const rows = report.results.map(
    (r) => `<tr><th>${escapeHtml(r.name)}</th>${keys.map((k) => `<td>${r.extra_p50?.[k] === undefined ? '' : fmt(r.extra_p50[k] as number, 1)}</td>`).join('')}</tr>`,
  );
  return `<h2>Measured besides latency (p50)</h2><table><thead><tr><th></th>${keys.map((k) => `<th>${escapeHtml(k)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const CSS = `body{font:14px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right}
thead th{border-bottom:2px solid #888}tbody th{text-align:left}.bad{color:#b00}small{color:#777}
svg{display:block;margin:.25rem 0 1.5rem}svg text{font-size:11px;fill:#555}.grid{stroke:#ccc}.minor{stroke:#eee}
.line{fill:none;stroke-width:2}.legend{fill:#fff;fill-opacity:.85;stroke:#ddd}.mark{stroke:#c60;stroke-dasharray:3 3}.marklabel{fill:#c60}
code{background:#f4f4f4;padding:0 .2rem}`;

export function renderHtml(report: BenchReport, samples: ReadonlyMap<string, readonly number[]>): string {
  const m = report.machine;
  const axis = { ...sharedAxis(samples.values()), label: report.latency };
  const plots = report.results
    .map((r) => `<h3>${escapeHtml(r.name)}${r.baseline ? ' (baseline)' : ''}</h3><p>${escapeHtml(r.description)}</p>${cdfSvg(r, samples.get(r.name) ?? [], axis)}`)
    .join('\n');
  const errors = report.results.flatMap((r) => r.errors.map((e) => `<li>${escapeHtml(r.name)}: ${escapeHtml(e)}</li>`));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>warren bench ${escapeHtml(report.scenario)}</title><style>${CSS}</style></head>
<body>
<h1>warren bench ${escapeHtml(report.scenario)}</h1>
<p><code>${escapeHtml(heading(report))}</code>.
Latency: ${escapeHtml(report.latency)}. Rate: ${escapeHtml(report.rate ?? 'create, ready and destroy cycles')} per second of wall time.
CPU: busy CPU time of the whole machine per ${report.scenario === 'warm' ? 'answer' : 'cycle'}, all cores and kernel threads included.</p>
${table(report)}
${extraTable(report)}
${errors.length ? `<h2>Failures</h2><ul>${errors.join('')}</ul>` : ''}
<h2>Latency distribution</h2>
<p>Fraction of ${report.scenario === 'warm' ? 'answers' : 'cycles'} within a time; further left is faster, steeper is steadier.</p>
${overlaySvg(report.results, samples, axis)}
${plots}
${report.notes.length ? `<h2>Notes</h2><ul>${report.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : ''}
<h2>Machine</h2>
<p>${escapeHtml(m.kernel)}, ${m.cores} cores (${escapeHtml(m.cpu)}), ${m.memory_gib} GiB, cgroup ${m.cgroup}, node ${escapeHtml(m.node)}, load average ${m.load_avg.join(' ')} at the start, ${escapeHtml(m.date)}</p>
</body></html>
`;
}
