/**
 * The soak's pure parts, as tables (no root): its options, its fault schedule, how it judges an
 * error answer, what is lost between two views of the deployed functions, RSS growth, and the
 * start phases read from /metrics.
 */
import t from 'tap';
import { lost } from './deployed.js';
import { FAULT_ORDER, schedule } from './faults.js';
import { saysWhy } from './load.js';
import { parseSoakArgs } from './options.js';
import { serveArgs } from './soak.js';
import { rssGrowth } from './rss.js';
import { startPhases } from './start-phases.js';

t.test('options', async (t) => {
  t.match(parseSoakArgs(['--duration', '30m', '--cycles', '10000', '--json', 'r.json']), { durationS: 1800, cycles: 10000, json: 'r.json', recoveryTargetMs: 2000 });
  t.match(parseSoakArgs(['--duration=60s']), { durationS: 60, cycles: 0 });
  t.same(parseSoakArgs(['--faults', 'serve-kill,runtime-kill,serve-kill']).faults, ['serve-kill', 'runtime-kill', 'serve-kill']);
  t.equal(parseSoakArgs([]).liveRestore, true, 'serve runs with --live-restore');
  t.equal(parseSoakArgs(['--no-live-restore']).liveRestore, false, 'or without, to compare');
  for (const bad of [['--duration', 'soon'], ['--cycles', '-1'], ['--what'], ['--json'], ['--faults', 'serve-kill,meteor']]) t.throws(() => parseSoakArgs(bad), { code: 'WARREN_ARG_INVALID' }, bad.join(' '));
});

t.test('serve gets --live-restore unless the run is without it', async (t) => {
  t.ok(serveArgs({ liveRestore: true }).includes('--live-restore'));
  t.notOk(serveArgs({ liveRestore: false }).includes('--live-restore'));
});

t.test('schedule: each fault once in a short run; serve killed only in the first half of a long one', async (t) => {
  t.same(schedule(60).map((f) => f.kind), FAULT_ORDER);
  const long = schedule(1800);
  t.ok(long.length >= 18, `${long.length} faults in 30 minutes`);
  t.ok(long.filter((f) => f.kind === 'serve-kill').every((f) => f.atS <= 900), 'serve killed in the first half only');
  t.ok(long.every((f) => f.atS < 1800), 'all within the run');
  t.same(schedule(180, ['serve-kill', 'serve-kill', 'serve-kill']), [45, 90, 135].map((atS) => ({ atS, kind: 'serve-kill' })), '--faults serve-kill: serve kills only, evenly spaced');
  t.ok(schedule(1800, ['serve-kill']).every((f) => f.kind === 'serve-kill') && schedule(1800, ['serve-kill']).length >= 18, 'a long run of serve kills kills it all along');
});

t.test('an error answer says why: a 502/503 with JSON naming the error and its code', async (t) => {
  t.ok(saysWhy(503, '{"error":"the runtime ended","code":"WARREN_FN_START","fault":"platform"}'));
  t.notOk(saysWhy(500, '{"error":"x","code":"WARREN_ROUTER_INTERNAL"}'), 'a 500 is not what a kill may cause');
  t.notOk(saysWhy(502, 'Bad Gateway'), 'a bare text does not say why');
  t.notOk(saysWhy(503, '{"error":""}'));
});

t.test('lost: a function, a version or the live version changed', async (t) => {
  const before = { a: { live: 2, versions: [1, 2] }, b: { live: 1, versions: [1] } };
  t.same(lost(before, { a: { live: 2, versions: [1, 2, 3] }, b: { live: 1, versions: [1] } }), [], 'a new version is no loss');
  t.same(lost(before, { a: { live: 1, versions: [1] } }), ["function 'a': live version 2 became 1", "function 'a': versions 2 are gone", "function 'b' is gone"]);
});

t.test('RSS growth: the last incarnation, past warm-up, first minute against last', async (t) => {
  const flat = Array.from({ length: 100 }, (_, i) => ({ atS: i * 10, pid: 2, rssBytes: 100e6 + (i % 3) * 1e6 }));
  const g = rssGrowth([{ atS: 0, pid: 1, rssBytes: 500e6 }, ...flat]);
  t.ok(g.judged, 'judged');
  t.ok(Math.abs(g.growthPct as number) < 2, `flat: ${g.growthPct}%`);
  const growing = flat.map((s) => ({ ...s, rssBytes: 100e6 + s.atS * 1e5 }));
  t.ok((rssGrowth(growing).growthPct as number) > 50, 'growth shows');
  t.notOk(rssGrowth(flat.slice(0, 20)).judged, 'a short run is not judged');
});

t.test('start phases from /metrics', async (t) => {
  const text = ['warren_start_phase_seconds_sum{label="cold",phase="boot"} 3', 'warren_start_phase_seconds_count{label="cold",phase="boot"} 2', 'other 1'].join('\n');
  t.same(startPhases(text), { cold: { boot: { meanMs: 1500, count: 2 } } });
});
