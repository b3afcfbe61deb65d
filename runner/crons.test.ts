/**
 * Cron triggers without a sandbox: which expressions a deploy may give (tables), what changes when
 * a function's crons do, and the scheduler over a fake pool on croner's real clock (a
 * six-field, every-second cron keeps it short). No root needed.
 */
import t, { type Test } from 'tap';
import { checkCrons, cronProblem, Crons, MAX_CRONS, planCrons, type CronOutcome } from './crons.js';
import type { ScheduledResult, ScheduledRun } from './scheduled-run.js';

t.test('which expressions are triggers', async (t) => {
  const cases: Array<[string, RegExp | null]> = [
    ['* * * * *', null],
    ['*/5 * * * *', null],
    ['0 12 * * MON-FRI', null],
    ['59 23 L * *', null],
    ['0 0 ? * 5#2', null],
    ['* * * * * *', null],
    ['*/10 * * * * *', null],
    ['* * * * * * *', /requires exactly 5 or 6 parts/],
    ['60 * * * *', /is not a cron expression: Invalid value for minute: 60/],
    ['a b c d e', /is not a cron expression/],
    ['* *', /is not a cron expression/],
    ['0 0 30 2 *', /never fires/],
    ['2026-01-01T00:00:00', /is a date, not a cron expression/],
    [`${'1,'.repeat(80)}1 * * * *`, /is longer than 128 characters/],
  ];
  for (const [cron, why] of cases) {
    const got = cronProblem(cron);
    if (why === null) t.equal(got, null, cron);
    else t.match(got, why, cron);
  }
});

t.test('a deploy\'s crons are checked together', async (t) => {
  t.same(checkCrons([' */5 * * * * ', '* * * * * *']), ['*/5 * * * *', '* * * * * *'], 'trimmed, in order');
  t.same(checkCrons([]), []);
  const bad: Array<[string[], RegExp]> = [
    [['* * * * *', '61 * * * *'], /^cron '61 \* \* \* \*' is not a cron expression/],
    [['0 * * * *', '0  *  * * *'], /^cron '0  \*  \* \* \*' is given twice/],
    [Array.from({ length: MAX_CRONS + 1 }, (_, i) => `${i} * * * *`), /at most 10 crons, not 11/],
  ];
  for (const [crons, message] of bad) t.throws(() => checkCrons(crons), { code: 'WARREN_DEPLOY_INVALID', message }, crons.join(' | '));
});

t.test('what changes when the live crons change', async (t) => {
  const cases: Array<[string[], string[], string[], string[]]> = [
    [[], ['a'], [], ['a']],
    [['a'], ['a'], [], []],
    [['a', 'b'], ['b', 'c'], ['a'], ['c']],
    [['a'], [], ['a'], []],
  ];
  for (const [now, next, stop, start] of cases) t.same(planCrons(now, next), { stop, start }, `${now} -> ${next}`);
});

interface Fake {
  runs: Array<ScheduledRun & { fn: string }>;
  lines: Array<{ fn: string; version: number; text: string; id: string | undefined }>;
  counts: Array<[string, CronOutcome]>;
}

function scheduler(t: Test, run: (fn: string, r: ScheduledRun) => Promise<ScheduledResult>): { crons: Crons; fake: Fake } {
  const fake: Fake = { runs: [], lines: [], counts: [] };
  const crons = new Crons({
    run: (fn, r) => {
      fake.runs.push({ ...r, fn });
      return run(fn, r);
    },
    logs: { report: (meta, text, id) => fake.lines.push({ fn: meta.fn, version: meta.version, text, id }) },
    counted: (fn, outcome) => fake.counts.push([fn, outcome]),
  });
  t.teardown(() => crons.close());
  return { crons, fake };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('every second, each run with its own id and due time; a change of crons keeps or stops jobs', async (t) => {
  const { crons, fake } = scheduler(t, async () => ({ outcome: 'ok', ms: 1 }));
  crons.set('tick', 1, ['* * * * * *', '0 0 1 1 *']);
  await sleep(2300);
  const first = fake.runs.length;
  t.ok(first >= 2 && first <= 3, `${first} runs in 2.3 s`);
  t.ok(fake.runs.every((r) => r.fn === 'tick' && r.cron === '* * * * * *' && r.scheduledTime % 1000 === 0), 'due on the second');
  t.equal(new Set(fake.runs.map((r) => r.id)).size, first, 'ids are unique');
  t.ok(fake.runs.every((r) => /^cron-[0-9a-f-]{36}$/.test(r.id)));
  t.same(fake.counts.slice(0, 2), [['tick', 'ok'], ['tick', 'ok']]);

  crons.set('tick', 2, ['0 0 1 1 *']);
  t.same(crons.crons('tick'), ['0 0 1 1 *'], 'the yearly one kept its job');
  await sleep(1500);
  t.equal(fake.runs.length, first, 'the every-second cron stopped');
  crons.set('tick', 3, []);
  t.same(crons.crons('tick'), []);
});

t.test('a firing while the run before is still going is skipped with a line; a refusal is logged', async (t) => {
  let n = 0;
  const { crons, fake } = scheduler(t, async (fn) => {
    n++;
    if (n === 1) {
      await sleep(2200);
      return { outcome: 'error', error: 'boom', ms: 2200 };
    }
    throw Object.assign(new Error(`function '${fn}' has 8 requests waiting already`), { code: 'WARREN_FN_QUEUE_FULL' });
  });
  crons.set('slow', 4, ['* * * * * *']);
  // the first firing comes within a second; the slow run spans two more; the next is refused
  for (let i = 0; i < 60 && !fake.lines.some((l) => /did not run/.test(l.text)); i++) await sleep(100);
  crons.close();
  const skipped = fake.lines.filter((l) => /skipped: its run before \(cron-[0-9a-f-]{36}\) is still going/.test(l.text));
  t.ok(skipped.length >= 1, `${skipped.length} firings skipped`);
  t.match(skipped[0], { fn: 'slow', version: 4 });
  t.ok(fake.counts.some(([, o]) => o === 'skipped'));
  t.ok(fake.counts.some(([, o]) => o === 'error'), 'the slow run counted with its outcome');
  const refused = fake.lines.find((l) => /did not run: function 'slow' has 8 requests waiting already/.test(l.text));
  t.ok(refused, 'a refused firing says why');
  t.equal(refused?.id, fake.runs[1]?.id, 'with its run id');
  const after = fake.runs.length;
  await sleep(1200);
  t.equal(fake.runs.length, after, 'close stops every job');
});
