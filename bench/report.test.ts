import t from 'tap';
import { buildReport, groupErrors } from './report.js';
import { renderHtml } from './report-html.js';
import type { RunOutcome } from './runner.js';
import { formatTable } from './table.js';

const options = { scenario: 'spawn', count: 4, concurrency: 1, level: 'bare' as const, net: 'none' as const, json: true };
const machine = { kernel: 'Linux 6.1', cores: 2, cpu: 'cpu', memory_gib: 4, cgroup: 'v2' as const, node: 'v20.0.0', date: '1970-01-01T00:00:00.000Z', load_avg: [0.1, 0.2, 0.3] as [number, number, number] };
const outcome: RunOutcome = {
  rounds: 1,
  warmup: 4,
  aborted: false,
  rows: [
    { name: 'warren', baseline: false, description: 'w <b>', latenciesMs: [1, 2, 3, 4], failures: [], wallMs: 10, cpuMs: 8, cycles: 4, extra: { spawner_setup_ms: [0.5, 0.7, 0.6, 0.9] } },
    { name: 'unshare', baseline: true, description: 'u', latenciesMs: [2, 4, 6, 8], failures: [], wallMs: 40, cpuMs: 4, cycles: 4, extra: {} },
    { name: 'crun', baseline: true, description: 'c', latenciesMs: [], failures: ['sandbox wabcdef012345: exit 1', 'sandbox w0123456789ab: exit 1', 'warm-up: boom'], wallMs: 50, cpuMs: 30, cycles: 2, extra: {} },
  ],
};

t.test('the JSON: rows with percentiles, rates, ratios to each baseline', async (t) => {
  const { report, samples } = buildReport(outcome, options, machine, ['a note'], 'request to command running');
  const json = JSON.parse(JSON.stringify(report));
  t.match(json.results[0], { name: 'warren', baseline: false, count: 4, failures: 0, p50_ms: 2, p90_ms: 4, p99_ms: 4, per_s: 400, cpu_ms: 2, extra_p50: { spawner_setup_ms: 0.6 } });
  t.equal(json.results[2].cpu_ms, 15, 'CPU per counted cycle, failed ones included');
  t.same(json.results[0].vs.unshare, { per_s: 4, p50: 2 });
  t.same(json.results[0].vs.crun, { per_s: null, p50: null }, 'no crun sample: no ratio, printed as null');
  t.match(json.results[1], { name: 'unshare', baseline: true, per_s: 100 });
  t.notOk('vs' in json.results[1], 'baselines are not compared');
  t.match(json.results[2], { name: 'crun', baseline: true, count: 0, failures: 3, p50_ms: null, per_s: 0 });
  t.same(json.results[2].errors, ['2x sandbox w…: exit 1', '1x warm-up: boom']);
  t.same(json.params, { count: 4, concurrency: 1, duration_s: null, level: 'bare', net: 'none', warmup: 4, rounds: 1 });
  t.same(json.notes, ['a note']);
  t.same(samples.get('unshare'), [2, 4, 6, 8]);
});

t.test('errors group by kind, most frequent first, bounded', async (t) => {
  t.same(groupErrors([]), []);
  const many = Array.from({ length: 8 }, (_, i) => `kind ${i}`);
  t.equal(groupErrors([...many, 'kind 7']).length, 6);
  t.equal(groupErrors([...many, 'kind 7'])[0], '2x kind 7');
});

t.test('the table and the page show failures and missing figures as such', async (t) => {
  const { report, samples } = buildReport(outcome, options, machine, ['a note'], 'request to command running');
  const text = formatTable(report);
  t.match(text, /warren +4 +0 +2\.00 +4\.00 +4\.00 +400\.0 +2\.0 +4\.0x rate, 2\.0x p50 +-/);
  t.match(text, /crun \(baseline\) +0 +3 +- +- +- +0\.0/);
  t.match(text, /crun failed: 2x sandbox w…: exit 1/);
  t.match(text, /note: a note/);
  const html = renderHtml(report, samples);
  t.match(html, /^<!doctype html>/);
  t.notMatch(html, /<script|https?:\/\//, 'self-contained: no script, nothing fetched');
  t.equal((html.match(/<svg /g) ?? []).length, 4, 'an overlay and one plot per row');
  t.match(html, /w &#60;b&#62;/, 'text is escaped');
  t.match(html, /<th>spawner_setup_ms<\/th>.*<th>warren<\/th><td>0\.6<\/td>/s, 'what rows measured besides latency, at p50');
});

t.test('grouped rows (warm: a connection count) are compared with their own group\'s baselines only', async (t) => {
  const row = (name: string, group: string, baseline: boolean, wallMs: number) => ({ name, group, baseline, description: name, latenciesMs: [1, 1], failures: [], wallMs, cpuMs: 0, cycles: 2, extra: {} });
  const grouped: RunOutcome = {
    rounds: 1,
    warmup: 1,
    aborted: false,
    rows: [row('warren c=1', 'c=1', false, 4), row('node c=1', 'c=1', true, 2), row('warren c=50', 'c=50', false, 1), row('node c=50', 'c=50', true, 1)],
  };
  const { report } = buildReport(grouped, { ...options, scenario: 'warm', durationS: 1, connections: [1, 50] }, machine, [], 'under load', 'answers');
  t.same(report.results[0]?.vs, { node: { per_s: 0.5, p50: 1 } }, 'c=1 against node c=1');
  t.same(report.results[2]?.vs, { node: { per_s: 1, p50: 1 } }, 'c=50 against node c=50');
  t.equal(report.results[1]?.group, 'c=1');
  t.same(report.params.connections, [1, 50]);
  const text = formatTable(report);
  t.match(text, /^warm --connections 1,50: 1 s per row/);
  t.equal((text.split('\n')[2] ?? '').match(/vs node/g)?.length, 1, 'one column per baseline, whatever its group');
  t.match(text, /per s: answers per second of wall time/);
});
