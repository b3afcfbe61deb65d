import t from 'tap';
import { planRounds, runRounds, type ProgressSink } from './runner.js';
import type { Batch, Subject } from './scenario.js';

const quiet: ProgressSink = { begin() {}, tick() {}, end() {} };

/** A subject that records its batches and answers with fixed latencies (warm-up: 1000 ms). */
function fake(name: string, log: string[], opts: { failEvery?: number; baseline?: boolean } = {}): Subject & { closed: number } {
  let batches = 0;
  return {
    name,
    baseline: opts.baseline ?? false,
    description: name,
    closed: 0,
    async batch(count, _c, tick): Promise<Batch> {
      const warm = batches++ === 0;
      log.push(`${name}:${count}${warm ? ':warm' : ''}`);
      const out: Batch = { latenciesMs: [], failures: [], wallMs: 10 };
      for (let i = 0; i < count; i++) {
        if (opts.failEvery && i % opts.failEvery === 0) out.failures.push(`${name} failed ${i}`);
        else out.latenciesMs.push(warm ? 1000 : 1);
        tick();
      }
      return out;
    },
    async close() {
      this.closed++;
    },
  };
}

t.test('plans: rounds of at least 20 cycles, at most 10 rounds; warm-up grows with concurrency', async (t) => {
  t.same(planRounds({ count: 6, concurrency: 2 }), { warmup: 4, sizes: [6], timed: false });
  t.same(planRounds({ count: 400, concurrency: 2 }), { warmup: 4, sizes: Array(10).fill(40), timed: false });
  t.same(planRounds({ count: 100, concurrency: 8 }), { warmup: 16, sizes: [50, 50], timed: false });
  t.same(planRounds({ count: 100_000, concurrency: 64 }).warmup, 40);
  t.same(planRounds({ count: 1000, concurrency: 1, durationS: 5 }), { warmup: 4, sizes: [20], timed: true });
});

t.test('warm-up first and uncounted, then rounds in rotating order', async (t) => {
  const log: string[] = [];
  const subjects = [fake('a', log), fake('b', log, { baseline: true }), fake('c', log, { baseline: true })];
  const ticks: string[] = [];
  const progress: ProgressSink = { begin: (total) => ticks.push(`total ${total}`), tick: (r) => ticks.push(r), end: () => ticks.push('end') };
  const out = await runRounds(subjects, { count: 60, concurrency: 1 }, progress, new AbortController().signal);
  t.same(log, ['a:4:warm', 'b:4:warm', 'c:4:warm', 'a:20', 'b:20', 'c:20', 'b:20', 'c:20', 'a:20', 'c:20', 'a:20', 'b:20']);
  t.equal(out.rounds, 3);
  t.equal(out.warmup, 4);
  for (const r of out.rows) {
    t.equal(r.latenciesMs.length, 60, `${r.name}: only measured cycles`);
    t.ok(r.latenciesMs.every((l) => l === 1), `${r.name}: no warm-up latency`);
    t.equal(r.wallMs, 30, `${r.name}: wall time of its measured batches`);
  }
  t.same(out.rows.map((r) => r.baseline), [false, true, true]);
  t.equal(ticks[0], 'total 192');
  t.equal(ticks.filter((x) => x === 'a').length, 64);
  t.equal(ticks[ticks.length - 1], 'end');
});

t.test('failures are kept, warm-up ones marked', async (t) => {
  const out = await runRounds([fake('x', [], { failEvery: 2 })], { count: 20, concurrency: 1 }, quiet, new AbortController().signal);
  const row = out.rows[0]!;
  t.equal(row.failures.length, 2 + 10);
  t.equal(row.failures.filter((f) => f.startsWith('warm-up: ')).length, 2);
  t.equal(row.latenciesMs.length, 10);
});

t.test('an abort stops before the next batch', async (t) => {
  const ac = new AbortController();
  const log: string[] = [];
  const a = fake('a', log);
  const slow: Subject = { ...fake('b', log), batch: async (n, c, tick, s) => { ac.abort(); return a.batch(n, c, tick, s); } };
  const out = await runRounds([a, slow, fake('c', log)], { count: 100, concurrency: 1 }, quiet, ac.signal);
  t.equal(out.aborted, true);
  t.same(log, ['a:4:warm', 'a:4']);
});

t.test('a timed run stops when the time is up, or at the count', async (t) => {
  const log: string[] = [];
  const out = await runRounds([fake('a', log)], { count: 50, concurrency: 1, durationS: 3600 }, quiet, new AbortController().signal);
  t.same(log, ['a:4:warm', 'a:20', 'a:20', 'a:10'], 'the count caps a long duration');
  t.equal(out.rows[0]!.latenciesMs.length, 50);
  const short = await runRounds([fake('b', [])], { count: 1000, concurrency: 1, durationS: 0.000001 }, quiet, new AbortController().signal);
  t.ok(short.rounds <= 1, 'an elapsed duration starts no more rounds');
});

t.test("each row is charged the machine's busy CPU of its counted batches, per cycle", async (t) => {
  let busy = 0;
  const costly = (name: string, msPerCycle: number): Subject => ({
    name,
    baseline: false,
    description: name,
    async batch(count) {
      busy += count * msPerCycle;
      return { latenciesMs: Array(count).fill(1), failures: [], wallMs: 1 };
    },
    async close() {},
  });
  const out = await runRounds([costly('cheap', 2), costly('dear', 5)], { count: 40, concurrency: 1 }, quiet, new AbortController().signal, () => busy);
  t.same(out.rows.map((r) => r.cpuMs / r.cycles), [2, 5], 'warm-up not charged, each row its own');
});
