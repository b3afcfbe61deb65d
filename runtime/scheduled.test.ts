/**
 * Cron firings on the runtime's control socket, the runtime as a plain node process (no sandbox,
 * no root): a module with scheduled() (with or without fetch) loads, its handler gets the Workers
 * event, the answer waits for its waitUntil work, its console output carries the run's id, and a
 * throw is the run's outcome, not the runtime's end.
 */
import t from 'tap';
import { listening } from '../test/runtime-harness.js';

const CRON_ONLY = `
export default {
  async scheduled(event, env, ctx) {
    console.log('tick', event.type, event.cron, event.scheduledTime, env.WHO, typeof event.noRetry);
    ctx.waitUntil(new Promise((r) => setTimeout(r, 300)).then(() => {
      console.log('later');
      ctx.waitUntil(new Promise((r) => setTimeout(r, 100)).then(() => console.log('even later')));
    }));
    if (event.cron === 'boom') { event.noRetry(); throw new Error('boom at ' + event.scheduledTime); }
  },
};
`;

t.test('a module with only scheduled() loads, runs each firing under its id, and answers 501 over HTTP', async (t) => {
  const { conn, client, records } = await listening(t, null);
  await conn.load({ source: CRON_ONLY, name: 'cron.mjs', env: { WHO: 'me' } });
  const res = await client.request({ method: 'GET', path: '/' });
  t.equal(res.statusCode, 501, 'a request to a function without fetch is a 501');
  t.match(await res.body.text(), /no fetch\(\) handler: it runs only on its cron triggers/);

  const t0 = Date.now();
  const answer = await conn.scheduled({ cron: '* * * * * *', scheduledTime: 1_700_000_000_000, rid: 'cron-one' });
  t.same(answer, { ok: true, outcome: 'ok', noRetry: false });
  t.ok(Date.now() - t0 >= 380, 'the answer waited for the waitUntil work, also the one made inside it');
  const mine = records().filter((r) => r.rid === 'cron-one').map((r) => r.m);
  t.same(mine, ['tick scheduled * * * * * * 1700000000000 me function', 'later', 'even later'], 'console output carries the run\'s id');

  const failed = await conn.scheduled({ cron: 'boom', scheduledTime: 5, rid: 'cron-two' });
  t.same(failed, { ok: true, outcome: 'exception', error: 'boom at 5', noRetry: true });
  t.ok(records().some((r) => r.rid === 'cron-two' && r.s === 'warren' && /the scheduled handler threw: Error: boom at 5\n\s+at /.test(r.m)), 'its stack is in the log, with the run\'s id');

  const again = await conn.scheduled({ cron: '0 * * * *', scheduledTime: 6, rid: 'cron-three' });
  t.equal(again.outcome, 'ok', 'a throw does not end the runtime');
});

t.test('runs of two crons overlap on one runtime; a bad request or a module without scheduled() is refused', async (t) => {
  const { conn } = await listening(t, null);
  await t.rejects(conn.scheduled({ cron: '* * * * *', scheduledTime: 1, rid: 'x' }), { code: 'WARREN_RUNTIME_SCHEDULED', message: /409: no module is loaded/ });
  await conn.load({ source: 'export default { fetch() { return new Response("hi") } }', name: 'web.mjs' });
  await t.rejects(conn.scheduled({ cron: '* * * * *', scheduledTime: 1, rid: 'x' }), { code: 'WARREN_RUNTIME_SCHEDULED', message: /501: module '.*web\.mjs' has no scheduled\(\) handler/ });
  await t.rejects(conn.scheduled({ cron: '* * * * *', scheduledTime: 1, rid: '' }), { code: 'WARREN_RUNTIME_SCHEDULED', message: /400: 'rid' is not a string/ });

  const slow = await listening(t, null);
  await slow.conn.load({ source: 'export default { async scheduled(e) { await new Promise((r) => setTimeout(r, 500)); console.log("done", e.cron); } }' });
  const t0 = Date.now();
  const both = await Promise.all([slow.conn.scheduled({ cron: 'a b', scheduledTime: 1, rid: 'r1' }), slow.conn.scheduled({ cron: 'c d', scheduledTime: 1, rid: 'r2' })]);
  t.same(both.map((a) => a.outcome), ['ok', 'ok']);
  t.ok(Date.now() - t0 < 950, 'two runs in flight at once do not wait for each other');
});

t.test('a module with neither fetch() nor scheduled() is refused at load', async (t) => {
  const { conn } = await listening(t, null);
  await t.rejects(conn.load({ source: 'export default { hello() {} }', name: 'none.mjs' }), {
    code: 'WARREN_RUNTIME_LOAD_FAILED',
    message: /422: module '.*none\.mjs' has no default export with a fetch\(\) or scheduled\(\) method/,
  });
});

t.test('a function with cron triggers needs scheduled(): a module without it is refused at load', async (t) => {
  const { conn } = await listening(t, null);
  await t.rejects(conn.load({ source: 'export default { fetch() { return new Response("hi") } }', name: 'web.mjs', needsScheduled: true }), {
    code: 'WARREN_RUNTIME_LOAD_FAILED',
    message: /422: module '.*web\.mjs' has no scheduled\(\) method in its default export, and the function has cron triggers/,
  });
  const other = await listening(t, null);
  t.match(await other.conn.load({ source: CRON_ONLY, name: 'cron.mjs', needsScheduled: true }), { ok: true });
});
