/**
 * One cron firing on a handed-over instance, with a fake instance connection: how each way a run
 * can end is released (the pool then keeps or destroys the instance) and logged. No root needed.
 */
import t from 'tap';
import { WarrenError } from '../lib/errors.js';
import type { Invocation, Outcome } from '../router/invoker.js';
import type { RuntimeConnection, ScheduledAnswer } from '../runtime/index.js';
import { runScheduled } from './scheduled-run.js';

type Behaviour = (signal: AbortSignal) => Promise<ScheduledAnswer>;

async function fire(behaviour: Behaviour, timeoutMs = 200) {
  const released: Outcome[] = [];
  const lines: Array<[string, string | undefined]> = [];
  const inv = {
    fn: 'fn', version: 7, instance: 'w1', timeoutMs,
    release: async (o: Outcome) => {
      released.push(o);
      return o === 'broken' ? 'out of memory' : undefined;
    },
  } as unknown as Invocation;
  const conn = { scheduled: (_req: unknown, signal: AbortSignal) => behaviour(signal) } as unknown as RuntimeConnection;
  const result = await runScheduled(inv, conn, { id: 'cron-1', cron: '* * * * *', scheduledTime: Date.UTC(2026, 0, 1) }, {
    report: (meta, text, id) => lines.push([`${meta.fn}@${meta.version} ${meta.instance} ${text}`, id]),
  });
  return { result, released, lines };
}

const aborted = (signal: AbortSignal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));

t.test('how a run ends', async (t) => {
  const cases: Array<[string, Behaviour, string, Outcome, RegExp]> = [
    ['ok', async () => ({ ok: true, outcome: 'ok', noRetry: false }), 'ok', 'ok', /ended ok \(\d+ ms\)$/],
    ['a throw', async () => ({ ok: true, outcome: 'exception', error: 'boom', noRetry: true }), 'error', 'ok', /failed: boom \(it called noRetry\(\)\) \(\d+ ms\)$/],
    ['no scheduled()', async () => { throw new WarrenError('WARREN_RUNTIME_SCHEDULED', 'runtime POST /scheduled answered 501: no scheduled() handler'); }, 'error', 'ok', /failed: no scheduled\(\) handler \(/],
    ['past the timeout', aborted, 'timeout', 'timeout', /failed: timed out after 200 ms \(/],
    ['a broken connection', async () => { throw new Error('socket hang up'); }, 'error', 'broken', /failed: the instance ended: out of memory \(/],
  ];
  for (const [name, behaviour, outcome, release, end] of cases) {
    const { result, released, lines } = await fire(behaviour);
    t.equal(result.outcome, outcome, `${name}: outcome`);
    t.same(released, [release], `${name}: released once, '${release}'`);
    t.equal(lines.length, 2, `${name}: a start and an end line`);
    t.match(lines[0], [/^fn@7 w1 scheduled run of cron '\* \* \* \* \*' started \(due 2026-01-01T00:00:00\.000Z\)$/, 'cron-1']);
    t.match(lines[1], [end, 'cron-1'], `${name}: the end line`);
  }
});
