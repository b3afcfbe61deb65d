import t from 'tap';
import { isWarrenError } from '../lib/errors.js';
import { MAX_COUNT, parseBenchArgs } from './options.js';

const S = ['spawn'];

t.test('defaults and every option', async (t) => {
  t.same(parseBenchArgs(['spawn'], S), { scenario: 'spawn', count: 200, concurrency: 1, level: 'bare', net: 'none', json: false });
  t.same(
    parseBenchArgs(['spawn', '--count', '6', '--concurrency=2', '--duration', '1.5', '--level', 'runtime', '--net=bridge', '--json', '--report', 'r.html'], S),
    { scenario: 'spawn', count: 6, concurrency: 2, durationS: 1.5, level: 'runtime', net: 'bridge', json: true, report: 'r.html' },
  );
  t.equal(parseBenchArgs(['spawn', '--duration', '10s'], S).durationS, 10, 'a trailing s is allowed');
  t.equal(parseBenchArgs(['spawn', '--duration', '10'], S).count, MAX_COUNT, '--duration alone: the count is only the cap');
  t.equal(parseBenchArgs(['spawn', '--duration', '10', '--count', '50'], S).count, 50, 'both: whichever comes first');
});

t.test('the cold and warm options', async (t) => {
  const S3 = ['spawn', 'cold', 'warm'];
  t.match(parseBenchArgs(['cold'], S3), { scenario: 'cold', count: 50 }, 'cold: fewer cycles by default');
  t.equal(parseBenchArgs(['cold'], S3).pool, undefined, 'both pools by default');
  t.equal(parseBenchArgs(['cold', '--pool', 'empty'], S3).pool, 'empty');
  t.match(parseBenchArgs(['warm'], S3), { scenario: 'warm', durationS: 5, connections: [1, 2, 50] }, 'warm: 5 s per row, 1, 2 and 50 connections by default');
  t.same(parseBenchArgs(['warm', '--connections', '1,2,50', '--duration', '0.5'], S3).connections, [1, 2, 50]);
  t.equal(parseBenchArgs(['warm', '--duration', '0.5'], S3).durationS, 0.5);
  t.throws(() => parseBenchArgs(['cold', '--pool', 'full'], S3), /invalid pool 'full': expected warm or empty/);
  t.equal(parseBenchArgs(['cold'], S3).egress, undefined, 'no egress by default');
  t.equal(parseBenchArgs(['cold', '--egress', 'public'], S3).egress, 'public');
  t.throws(() => parseBenchArgs(['cold', '--egress', 'all'], S3), /invalid egress 'all': expected none or public/);
  t.throws(() => parseBenchArgs(['warm', '--connections', '1,,2'], S3), /invalid connections ''/);
  t.throws(() => parseBenchArgs(['warm', '--connections', '0'], S3), /invalid connections '0': expected an integer from 1 to 1000/);
  t.throws(() => parseBenchArgs(['warm', '--connections', '2,2'], S3), /a count is given twice/);
});

const bad: Array<[string[], RegExp]> = [
  [[], /no scenario given: warren bench spawn/],
  [['--count', '5'], /no scenario given/],
  [['boot'], /unknown scenario 'boot': expected spawn/],
  [['spawn', '--count', '0'], /invalid count '0': expected an integer from 1 to 100000/],
  [['spawn', '--count', '1.5'], /invalid count '1.5'/],
  [['spawn', '--count', '100001'], /invalid count '100001'/],
  [['spawn', '--count', ''], /invalid count ''/],
  [['spawn', '--concurrency', '65'], /invalid concurrency '65': expected an integer from 1 to 64/],
  [['spawn', '--concurrency', 'two'], /invalid concurrency 'two'/],
  [['spawn', '--duration', '0'], /invalid duration '0'/],
  [['spawn', '--duration', '3601'], /invalid duration '3601'/],
  [['spawn', '--level', 'full'], /invalid level 'full': expected bare or runtime/],
  [['spawn', '--net', 'host'], /invalid net 'host': expected none or bridge/],
  [['spawn', '--json=yes'], /option '--json' takes no value/],
  [['spawn', '--count'], /option '--count' needs a value/],
  [['spawn', '--bogus'], /unknown option '--bogus'/],
  [['spawn', 'extra'], /unexpected argument 'extra'/],
  [['spawn', '--report', ''], /invalid report file ''/],
];
for (const [args, message] of bad) {
  t.test(`refuses ${JSON.stringify(args)}`, async (t) => {
    t.throws(() => parseBenchArgs(args, S), message);
    try {
      parseBenchArgs(args, S);
    } catch (err) {
      t.ok(isWarrenError(err, 'WARREN_ARG_INVALID'), 'a WarrenError with a stable code');
    }
  });
}
