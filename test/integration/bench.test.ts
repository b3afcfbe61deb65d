/**
 * `warren bench spawn` through the CLI, at a tiny size: the JSON has its shape, the baselines ran
 * without a failure, and afterwards nothing the bench made is left, also after a Ctrl-C. Speed is
 * not checked: benchmarks are not tests. Needs root, like every sandbox.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ResultRow } from '../../bench/report.js';
import t from 'tap';
import { which } from '../../bench/baselines/unshare.js';
import { NEEDS_ROOT, testDirs, testEnv, warren, interrupted } from './helpers.js';

const dirs = testDirs('wrntest-bench');
const env = testEnv(dirs);
const CGROUP_ROOT = '/sys/fs/cgroup';

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Everything a bench run could leave: sandbox run dirs, uid leases, its work and crun dirs, the baselines' cgroups. */
function leftovers(): string[] {
  const hierarchies = [CGROUP_ROOT, ...list(CGROUP_ROOT).map((d) => path.join(CGROUP_ROOT, d))];
  return [
    ...list(path.join(dirs.run, 'sandboxes')).map((e) => `sandboxes/${e}`),
    ...list(path.join(dirs.run, 'uids')).map((e) => `uids/${e}`),
    ...list(dirs.run).filter((e) => e.startsWith('bench-')),
    ...list(path.join(dirs.state, 'bench')).map((e) => `state/bench/${e}`),
    ...hierarchies.flatMap((h) => list(h).filter((e) => e.startsWith(`${dirs.cgroupParent}-bench-`)).map((e) => path.join(h, e))),
  ];
}

/** A row of the bench's JSON, as report.ts writes it. */
type Row = ResultRow;

t.test('a tiny spawn bench prints its JSON, runs its baselines and leaves nothing', { skip: NEEDS_ROOT }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-bench-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const html = path.join(tmp, 'report.html');
  const r = await warren(['bench', 'spawn', '--count', '6', '--concurrency', '2', '--json', '--report', html], { env, timeoutMs: 120_000 });
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  t.equal(r.stderr, '', 'no progress bar nor chatter in a pipe');
  const out = JSON.parse(r.stdout) as { results: Row[]; machine: Record<string, unknown>; params: Record<string, unknown>; notes: string[] };
  t.match(out.machine, { kernel: String, cores: Number, cgroup: String, node: process.version, date: String });
  t.match(out.params, { count: 6, concurrency: 2, level: 'bare', net: 'none' });
  const names = out.results.map((row) => row.name);
  t.equal(names[0], 'warren', 'warren first');
  t.ok(names.includes('unshare'), 'the unshare baseline ran');
  if (which('crun')) t.ok(names.includes('crun'), 'crun is installed: its baseline ran');
  else t.ok(out.notes.some((n) => /crun is not installed/.test(n)), 'crun is missing and the notes say so');
  for (const row of out.results) {
    t.match(row, { name: String, p50_ms: Number, p90_ms: Number, p99_ms: Number, per_s: Number, cpu_ms: Number }, `${row.name}: the figures`);
    t.equal(row.baseline, row.name !== 'warren', `${row.name}: baseline flag`);
    t.equal(row.failures, 0, `${row.name}: no failure ${row.errors.join('; ')}`);
    t.equal(row.count, 6, `${row.name}: every measured cycle counted`);
    t.ok(row.p50_ms > 0 && row.p50_ms <= row.p90_ms && row.p90_ms <= row.p99_ms && row.per_s > 0, `${row.name}: consistent figures`);
  }
  const page = fs.readFileSync(html, 'utf8');
  t.match(page, /^<!doctype html>/);
  t.equal((page.match(/<svg /g) ?? []).length, out.results.length + 1, 'an overlay and a CDF per row');
  t.same(leftovers(), [], 'nothing left behind');
});

t.test('with --net bridge, every warren sandbox gets its veth and the bench leaves none', { skip: NEEDS_ROOT }, async (t) => {
  const r = await warren(['bench', 'spawn', '--count', '4', '--concurrency', '2', '--net', 'bridge', '--json'], { env, timeoutMs: 120_000 });
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  const out = JSON.parse(r.stdout) as { results: Row[]; params: Record<string, unknown> };
  t.match(out.params, { net: 'bridge' });
  t.match(out.results.find((row) => row.name === 'warren'), { failures: 0, count: 4 });
  t.same(list(path.join(dirs.run, 'ips')), [], 'no address lease left');
  t.same(leftovers(), [], 'nothing else left behind');
});

t.test('Ctrl-C stops the bench, cleans up and exits 130', { skip: NEEDS_ROOT }, async (t) => {
  const { code, stderr } = await interrupted(['bench', 'spawn', '--count', '5000', '--concurrency', '2'], env, 2500, 30_000);
  t.equal(code, 130, `exit 130 (stderr: ${stderr})`);
  t.match(stderr, /bench interrupted/);
  t.same(leftovers(), [], 'nothing left behind');
});

t.test('--level runtime times the node runtime against plain node, and leaves nothing', { skip: NEEDS_ROOT }, async (t) => {
  const r = await warren(['bench', 'spawn', '--level', 'runtime', '--count', '4', '--concurrency', '2', '--json'], { env, timeoutMs: 180_000 });
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  const out = JSON.parse(r.stdout) as { results: Row[]; params: Record<string, unknown>; latency: string };
  t.match(out.params, { level: 'runtime' });
  t.match(out.latency, /runtime's first answer/, 'the report says what the latency runs to');
  t.same(out.results.map((row) => [row.name, row.baseline]), [['warren', false], ['node', true]], 'warren, then the plain node baseline');
  for (const row of out.results) {
    t.equal(row.failures, 0, `${row.name}: no failure ${row.errors.join('; ')}`);
    t.equal(row.count, 4, `${row.name}: every measured cycle counted`);
    t.ok(row.p50_ms > 0 && row.p50_ms <= row.p99_ms && row.per_s > 0, `${row.name}: consistent figures`);
  }
  t.same(list(path.join(dirs.run, 'io')), [], 'no io dir left');
  t.same(leftovers(), [], 'nothing else left behind');
});

t.test('bad input: one line, exit 125', { skip: NEEDS_ROOT }, async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['bench', 'spawn', '--level', 'warm'], /^warren: invalid level 'warm'/],
    [['bench', 'spawn', '--count', '0'], /^warren: invalid count '0'/],
    [['bench', 'nope'], /^warren: unknown scenario 'nope'/],
    [['bench'], /^warren: no scenario given/],
  ];
  for (const [args, message] of cases) {
    const r = await warren(args, { env });
    t.equal(r.code, 125, args.join(' '));
    t.match(r.stderr, message);
  }
});
