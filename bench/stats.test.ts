import t from 'tap';
import { cdfPoints, percentile, ratio, splitEvenly, summarize } from './stats.js';

const ten = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5].sort((a, b) => a - b);

t.test('nearest-rank percentiles: always a measured sample', async (t) => {
  const cases: Array<[number[], number, number]> = [
    [ten, 50, 5],
    [ten, 90, 9],
    [ten, 99, 10],
    [ten, 100, 10],
    [ten, 1, 1],
    [ten, 10, 1],
    [ten, 11, 2],
    [[42], 50, 42],
    [[42], 99, 42],
    [[1, 2], 50, 1],
    [[1, 2], 51, 2],
    [Array.from({ length: 100 }, (_, i) => i + 1), 99, 99],
    [Array.from({ length: 1000 }, (_, i) => i + 1), 99, 990],
  ];
  for (const [sorted, p, want] of cases) t.equal(percentile(sorted, p), want, `p${p} of ${sorted.length} samples`);
  t.ok(Number.isNaN(percentile([], 50)), 'no sample: NaN, never 0');
  t.throws(() => percentile(ten, 0), /outside/);
  t.throws(() => percentile(ten, 101), /outside/);
});

t.test('summaries sort their input and count the rate over wall time', async (t) => {
  const cases: Array<[string, number[], number, number, Partial<ReturnType<typeof summarize>>]> = [
    ['unsorted input', [10, 1, 9, 2, 8, 3, 7, 4, 6, 5], 0, 1000, { ok: 10, p50Ms: 5, p90Ms: 9, p99Ms: 10, minMs: 1, maxMs: 10, meanMs: 5.5, perS: 10 }],
    ['failures do not add to the rate', [2, 2], 3, 500, { ok: 2, failures: 3, perS: 4, wallS: 0.5 }],
    ['half a second, 100 cycles', Array(100).fill(1), 0, 500, { perS: 200 }],
  ];
  for (const [name, lat, failures, wall, want] of cases) t.match(summarize(lat, failures, wall), want, name);
  const none = summarize([], 5, 100);
  t.equal(none.ok, 0);
  t.equal(none.failures, 5);
  t.equal(none.perS, 0, 'nothing completed: a rate of 0');
  t.ok(Number.isNaN(none.p50Ms) && Number.isNaN(none.meanMs), 'no latency to give');
  t.ok(Number.isNaN(summarize([], 0, 0).perS), 'no wall time: no rate');
});

t.test('ratios read as "times better" for the row', async (t) => {
  const row = summarize([1, 1, 1], 0, 10); // 300/s, p50 1 ms
  const base = summarize([4, 4, 4], 0, 60); // 50/s, p50 4 ms
  t.same(ratio(row, base), { perS: 6, p50: 4 });
  t.same(ratio(base, row), { perS: 50 / 300, p50: 0.25 });
});

t.test('CDF points: ascending, end at 1, bounded in number', async (t) => {
  t.same(cdfPoints([]), []);
  t.same(cdfPoints([3, 1, 2]), [[1, 1 / 3], [2, 2 / 3], [3, 1]]);
  const many = cdfPoints(Array.from({ length: 10_001 }, (_, i) => i), 100);
  t.ok(many.length <= 102, `${many.length} points`);
  t.same(many[many.length - 1], [10_000, 1], 'the largest sample is always there');
  t.ok(many.every((p, i) => i === 0 || (p[0] >= (many[i - 1] as [number, number])[0] && p[1] > (many[i - 1] as [number, number])[1])), 'monotonic');
});

t.test('rounds split evenly', async (t) => {
  const cases: Array<[number, number, number[]]> = [
    [400, 10, Array(10).fill(40)],
    [7, 3, [3, 2, 2]],
    [2, 3, [1, 1, 0]],
    [6, 1, [6]],
  ];
  for (const [total, parts, want] of cases) t.same(splitEvenly(total, parts), want, `${total} in ${parts}`);
});
