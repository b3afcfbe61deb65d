/**
 * `warren bench cold` and `warren bench warm` through the CLI, at a tiny size: each starts its
 * own `warren serve` (private dirs, bridge, table, ports), and afterwards nothing of them is left,
 * also after a Ctrl-C. The JSON's shape and warren's rows' success are checked; speed is not:
 * benchmarks are not tests. Needs root, like every sandbox.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ResultRow } from '../../bench/report.js';
import t, { type Test } from 'tap';
import { NEEDS_ROOT, testDirs, testEnv, warren, interrupted } from './helpers.js';
import { findWorkerd } from '../../bench/workerd.js';

// workerd's rows run when it is installed (npm install --no-save workerd); otherwise a note says so
const WORKERD = findWorkerd() !== undefined;

// a state dir of its own: bench.test.ts checks the shared one's bench/ for leftovers while this
// file's bench runs beside it (tap runs two files at once)
const dirs = { ...testDirs('wrntest-bench-serve'), state: `${testDirs('wrntest-bench-serve').state}-bench-serve` };
const env = testEnv(dirs);
t.teardown(() => fs.rmSync(dirs.state, { recursive: true, force: true }));
const CGROUP_ROOT = '/sys/fs/cgroup';

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What a bench's servers could leave: their run dirs, cgroups, bridges and tables, its work dir. */
function leftovers(): string[] {
  const hierarchies = [CGROUP_ROOT, ...list(CGROUP_ROOT).map((d) => path.join(CGROUP_ROOT, d))];
  const deadBench = (name: string) => {
    const m = /^wb(\d+)[a-z]$/.exec(name);
    return m !== null && !alive(Number(m[1]));
  };
  return [
    ...list(dirs.run).filter((e) => e.startsWith('bench-')),
    ...list(path.join(dirs.state, 'bench')).map((e) => `state/bench/${e}`),
    ...hierarchies.flatMap((h) => list(h).filter((e) => e.startsWith(`${dirs.cgroupParent}-bench-`)).map((e) => path.join(h, e))),
    ...list('/sys/class/net').filter(deadBench).map((l) => `link ${l}`),
  ];
}

/** A row of the bench's JSON, as report.ts writes it. */
type Row = ResultRow;

function figures(t: Test, row: Row): void {
  t.match(row, { name: String, baseline: Boolean, p50_ms: Number, p90_ms: Number, p99_ms: Number, per_s: Number }, `${row.name}: the figures`);
  t.ok(row.p50_ms > 0 && row.p50_ms <= row.p90_ms && row.p90_ms <= row.p99_ms && row.per_s > 0, `${row.name}: consistent figures`);
}

t.test('a tiny cold bench: prewarm and cold first requests through the router, and the node baseline', { skip: NEEDS_ROOT }, async (t) => {
  const r = await warren(['bench', 'cold', '--count', '3', '--json'], { env, timeoutMs: 400_000 });
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  const out = JSON.parse(r.stdout) as { scenario: string; results: Row[]; notes: string[] };
  t.equal(out.scenario, 'cold');
  const expected = [['warren prewarm', false], ['warren cold', false], ['node', true], ...(WORKERD ? [['workerd', true]] : [])];
  t.same(out.results.map((row) => [row.name, row.baseline]), expected);
  for (const row of out.results) {
    figures(t, row);
    t.equal(row.failures, 0, `${row.name}: no failure ${row.errors.join('; ')}`);
    t.equal(row.count, 3, `${row.name}: every first request counted`);
  }
  const [prewarm, cold] = out.results;
  t.ok(Object.keys(prewarm?.extra_p50 ?? {}).length > 0, `the prewarm row shows its phases: ${JSON.stringify(prewarm?.extra_p50)}`);
  t.ok(Object.keys(cold?.extra_p50 ?? {}).length > 0, `the cold row shows its phases: ${JSON.stringify(cold?.extra_p50)}`);
  t.ok(prewarm?.vs?.node, 'compared with the node baseline');
  if (WORKERD) t.ok(prewarm?.vs?.workerd, 'compared with the workerd baseline');
  else t.ok(out.notes.some((n) => /workerd is not installed/.test(n)), 'the notes say workerd is missing');
  t.same(leftovers(), [], 'nothing left behind');
});

t.test('a tiny cold bench of functions with public egress: their starts add nftables elements', { skip: NEEDS_ROOT }, async (t) => {
  const r = await warren(['bench', 'cold', '--pool', 'warm', '--egress', 'public', '--count', '2', '--json'], { env, timeoutMs: 300_000 });
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  const out = JSON.parse(r.stdout) as { params: Record<string, unknown>; results: Array<Row & { description: string }> };
  t.match(out.params, { pool: 'warm', egress: 'public' });
  const prewarm = out.results.find((row) => row.name === 'warren prewarm');
  t.equal(prewarm?.count, 2, `both first requests were prewarm starts (${prewarm?.errors.join('; ')})`);
  t.match(prewarm?.description, /deployed with egress public/);
  // a start without egress writes nothing in its limits phase (0); this one adds elements
  t.ok((prewarm?.extra_p50?.limits_ms ?? 0) > 0, `its starts applied the egress: limits ${prewarm?.extra_p50?.limits_ms} ms`);
  t.same(leftovers(), [], 'nothing left behind');
});

t.test('a tiny warm bench: each connection count a group of rows, compared within it', { skip: NEEDS_ROOT }, async (t) => {
  const r = await warren(['bench', 'warm', '--connections', '1,4', '--duration', '1', '--json'], { env, timeoutMs: 300_000 });
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  const out = JSON.parse(r.stdout) as { scenario: string; results: Row[]; params: Record<string, unknown> };
  t.match(out.params, { connections: [1, 4], duration_s: 1 });
  const names = out.results.map((row) => row.name);
  const per = ['warren', 'warren handoff', 'node', 'runtime', ...(WORKERD ? ['workerd'] : [])];
  t.same(names, [1, 4].flatMap((c) => per.map((n) => `${n} c=${c}`)));
  for (const row of out.results) {
    figures(t, row);
    t.equal(row.failures, 0, `${row.name}: no failure ${row.errors.join('; ')}`);
    t.ok(row.count > 0, `${row.name}: answers counted`);
    t.match(row.extra_p50, { server_cpu_us: Number, loadgen_cpu_us: Number }, `${row.name}: server and load generator CPU`);
  }
  t.match(out.results[0]?.extra_p50, { serve_cpu_us: Number, sandboxes_cpu_us: Number }, 'warren: the serve process and its sandboxes apart');
  t.match(out.results[1]?.extra_p50, { serve_cpu_us: Number, sandboxes_cpu_us: Number }, 'warren handoff: the same');
  const warren4 = out.results[per.length];
  t.same(Object.keys(warren4?.vs ?? {}).sort(), per.slice(2).sort(), 'ratios to every baseline of its group');
  t.same(leftovers(), [], 'nothing left behind');
});

t.test('a tiny density bench: memory of idle instances, warren and its baselines alive at once', { skip: NEEDS_ROOT }, async (t) => {
  const r = await warren(['bench', 'density', '--count', '2', '--json'], { env, timeoutMs: 300_000 });
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  const out = JSON.parse(r.stdout) as { scenario: string; results: Array<Row & { pss_kib?: number; uss_kib?: number; cgroup_kib?: number }>; notes: string[] };
  t.equal(out.scenario, 'density');
  t.same(out.results.map((row) => [row.name, row.baseline]), [['warren', false], ['node', true], ...(WORKERD ? [['workerd', true]] : [])]);
  for (const row of out.results) {
    t.equal(row.count, 2, `${row.name}: two instances started`);
    t.equal(row.failures, 0, `${row.name}: no failure ${row.errors.join('; ')}`);
    t.ok((row.pss_kib ?? 0) > 1000 && (row.uss_kib ?? 0) > 500 && (row.cgroup_kib ?? 0) > 500, `${row.name}: PSS ${row.pss_kib}, USS ${row.uss_kib}, cgroup ${row.cgroup_kib} KiB`);
    t.ok((row.uss_kib ?? 0) <= (row.pss_kib ?? 0), `${row.name}: USS within PSS`);
  }
  t.ok(out.notes.some((n) => /target \(an idle instance within 1 MiB PSS/.test(n)), 'the target is judged');
  t.same(leftovers(), [], 'nothing left behind');
});

t.test('Ctrl-C stops a cold bench, stops its servers and leaves nothing', { skip: NEEDS_ROOT }, async (t) => {
  const { code, stderr } = await interrupted(['bench', 'cold', '--count', '1000'], env, 15_000, 120_000);
  t.equal(code, 130, `exit 130 (stderr: ${stderr})`);
  t.match(stderr, /bench interrupted/);
  t.same(leftovers(), [], 'nothing left behind');
});

t.test('options a scenario has no use for: one line, exit 125', { skip: NEEDS_ROOT }, async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['bench', 'cold', '--concurrency', '2'], /^warren: cold: first requests are measured one at a time/],
    [['bench', 'cold', '--connections', '2'], /^warren: cold: --connections is a warm option/],
    [['bench', 'warm', '--pool', 'warm'], /^warren: warm: --pool and --egress are cold options/],
    [['bench', 'density', '--egress', 'public'], /^warren: density: --pool and --egress are cold options/],
    [['bench', 'spawn', '--pool', 'empty'], /^warren: spawn: --pool and --egress are cold options/],
  ];
  for (const [args, message] of cases) {
    const r = await warren(args, { env });
    t.equal(r.code, 125, args.join(' '));
    t.match(r.stderr, message);
  }
});
