/**
 * The soak's targets, judged over its report, and the report as text. Targets (issue 13):
 * 0 unexpected errors; after each kill nothing deployed lost, service back within 2 s (of the
 * kill, or of the restart for serve), what was in flight answered (a 502/503 that says why, or a
 * closed connection when serve itself died), never a hang; the bridge and table restored after
 * their removal; a full disk refuses a deploy cleanly and the next one after the space is freed
 * goes through; serve's RSS less than 10% up after warm-up; 0 leftovers after serve and after the
 * cycles; every cycle done.
 */
import { formatMiB } from '../../lib/size.js';
import { RECOVERY_TARGET_MS } from './options.js';
import type { SoakReport } from './soak.js';

export const RSS_GROWTH_TARGET_PCT = 10;

export function judge(r: SoakReport): SoakReport['targets'] {
  const t: SoakReport['targets'] = [];
  const add = (name: string, met: boolean, detail: string) => t.push({ name, met, detail });
  if (r.options.durationS > 0) {
    if (r.options.recoveryTargetMs !== RECOVERY_TARGET_MS) add('recovery target', true, `relaxed to ${r.options.recoveryTargetMs} ms (--recovery-target): the issue's ${RECOVERY_TARGET_MS} ms is not judged in this run`);
    add('no unexpected error', r.unexpected.total === 0 && r.churn.failures.length === 0, `${r.unexpected.total} unexpected answers of ${r.requests}, ${r.churn.failures.length} failed deploys/rollbacks/deletes`);
    for (const f of r.faults) {
      const figures = [f.recoveryMs !== undefined ? `back in ${f.recoveryMs} ms` : '', f.listenMs !== undefined ? `listening ${f.listenMs} ms after the restart` : '', Object.keys(f.inFlight).length ? `in flight: ${Object.entries(f.inFlight).map(([c, n]) => `${n} ${c}`).join(', ')}` : ''].filter(Boolean).join('; ');
      add(`${f.kind} at ${f.atS} s`, f.problems.length === 0, [figures, ...f.problems].filter(Boolean).join('; ') || 'ok');
    }
    const g = r.rss.growth;
    const rss = g.growthPct !== undefined ? `${formatMiB(g.startBytes as number)} -> ${formatMiB(g.endBytes as number)} (${g.growthPct}%)` : '';
    add(`serve RSS growth under ${RSS_GROWTH_TARGET_PCT}% after warm-up`, !g.judged || (g.growthPct as number) < RSS_GROWTH_TARGET_PCT, g.judged ? rss : `not judged: ${g.why}${rss ? `; ${rss}` : ''}`);
    add('serve never ended by itself', r.serve.unexpectedExit === undefined, r.serve.unexpectedExit ?? `${r.serve.restarts} restarts after its kills`);
    add('serve exits 0 on SIGTERM', r.serve.exitCode === 0, `exit ${r.serve.exitCode}`);
    add('no leftover after serve', r.leftovers.length === 0, r.leftovers.length ? r.leftovers.slice(0, 20).join('; ') : 'none');
  }
  if (r.cycles) {
    const c = r.cycles;
    add(`${c.count} sandbox cycles`, c.done === c.count && c.failed === 0, `${c.done} done, ${c.failed} failed in ${c.seconds} s (${c.perSecond}/s)${c.failures.length ? `: ${c.failures.slice(0, 3).join('; ')}` : ''}`);
    add('no leftover after the cycles', c.leftovers.length === 0, c.leftovers.length ? c.leftovers.slice(0, 20).join('; ') : 'none');
  }
  return t;
}

export function formatReport(r: SoakReport): string {
  const lines: string[] = [];
  lines.push(`warren soak, ${r.startedAt}: ${r.durationS} s of load, ${r.requests} requests, ${r.faults.length} faults${r.cycles ? `, ${r.cycles.count} cycles` : ''}`);
  const la = r.loadAverage;
  if (r.options.durationS > 0) lines.push(`warren serve ${r.options.liveRestore ? 'with --live-restore: a restart adopts the sandboxes a killed serve left' : 'without --live-restore (--no-live-restore): a restart starts every function again'}`);
  if (la.mean) lines.push(`machine: ${la.cores} cores, load average ${la.min.toFixed(1)} to ${la.max.toFixed(1)} (mean ${la.mean}) during the load`);
  lines.push('');
  lines.push('answers by function and class (expected: ok, thrown, timeout, oom, and what a kill causes):');
  for (const [fn, classes] of Object.entries(r.classes)) lines.push(`  ${fn.padEnd(7)} ${Object.entries(classes).map(([c, n]) => `${c} ${n}`).join(', ')}`);
  lines.push(`churn: ${r.churn.deploys} deploys, ${r.churn.rollbacks} rollbacks, ${r.churn.deletes} deletes`);
  for (const s of r.unexpected.samples.slice(0, 10)) lines.push(`  unexpected at ${s.atS} s, ${s.fn}: ${s.cls}: ${s.detail.slice(0, 200)}`);
  for (const f of r.churn.failures.slice(0, 10)) lines.push(`  churn failure: ${f}`);
  if (r.rss.samples.length) {
    const step = Math.max(1, Math.floor(r.rss.samples.length / 12));
    lines.push(`serve RSS over time: ${r.rss.samples.filter((_, i) => i % step === 0).map((s) => `${Math.round(s.atS)}s ${Math.round(s.rssBytes / 2 ** 20)}M`).join(', ')}`);
  }
  for (const [label, phases] of Object.entries(r.startPhases)) lines.push(`${label} starts (mean ms a phase): ${Object.entries(phases).map(([p, x]) => `${p} ${x.meanMs} (${x.count})`).join(', ')}`);
  lines.push('');
  lines.push('targets:');
  for (const x of r.targets) lines.push(`  ${x.met ? 'met   ' : 'MISSED'} ${x.name}: ${x.detail}`);
  return lines.join('\n');
}
