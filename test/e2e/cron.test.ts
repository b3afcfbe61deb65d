/**
 * Cron triggers end to end (needs root): a real `warren serve`, a module with scheduled() deployed
 * through the control API with an every-second cron (croner's six-field form) beside a Workers
 * five-field one. Its console output is in the function's logs with each run's id, next to the
 * run's own start and end lines; a throw is logged and the next run comes all the same; a run
 * still going when the next fires makes that one skip; a rollback to a version without crons, and
 * a removal, stop them; a rollback to one with crons starts them again.
 */
import fs from 'node:fs';
import t from 'tap';
import type { LogLine } from '../../router/control.js';
import { NEEDS_ROOT } from '../integration/helpers.js';
import { api, deploy, invoke, ports, serveDirs, startServe, until, type Server } from './serve-helpers.js';

const dirs = serveDirs('wrntest-cron');

const WEB = `export default { fetch() { return new Response('web only') } };`;

// the second run throws, the fourth outlasts two firings; the runs count per instance
const TICKER = `
let n = 0;
export default {
  async scheduled(event, env, ctx) {
    n++;
    console.log('tick', n, event.type, event.cron, event.scheduledTime % 1000 === 0, env.WHO);
    if (n === 2) throw new Error('boom on run ' + n);
    if (n === 4) await new Promise((r) => setTimeout(r, 2300));
    ctx.waitUntil(Promise.resolve().then(() => console.log('after', n)));
  },
};`;

const EVERY_SECOND = '* * * * * *';

async function logs(s: Server, name: string): Promise<LogLine[]> {
  const res = await api(s, 'GET', `/v1/functions/${name}/logs`);
  return res.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine);
}

const ticks = (lines: LogLine[]) => lines.filter((l) => l.stream === 'stdout' && l.text.startsWith('tick '));

async function runCount(s: Server, fn: string): Promise<number> {
  const text = (await api(s, 'GET', '/metrics')).text;
  let n = 0;
  for (const m of text.matchAll(/^warren_scheduled_runs_total\{([^}]*)\} (\d+)/gm)) if ((m[1] as string).includes(`function="${fn}"`)) n += Number(m[2]);
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('cron triggers end to end', { skip: NEEDS_ROOT, timeout: 300_000 }, async (t) => {
  const port = ports(19880);
  let s: Server = await startServe(dirs, port, ['--pool', '1', '--no-demo']);
  t.teardown(async () => {
    await s.stop();
    fs.rmSync(dirs.state, { recursive: true, force: true });
  });

  await t.test('a cron croner does not read, or too many, are refused naming it', async (t) => {
    const bad = await deploy(s, 'ticker', TICKER, { crons: ['*/5 * * * *', '61 * * * *'] });
    t.equal(bad.status, 400);
    t.match(bad.json(), { code: 'WARREN_DEPLOY_INVALID', error: /cron '61 \* \* \* \*' is not a cron expression: Invalid value for minute: 61/ });
    const many = await deploy(s, 'ticker', TICKER, { crons: Array.from({ length: 11 }, (_, i) => `${i} * * * *`) });
    t.match(many.json(), { code: 'WARREN_DEPLOY_INVALID', error: /at most 10 crons/ });
    const shape = await deploy(s, 'ticker', TICKER, { crons: '* * * * *' });
    t.match(shape.json(), { code: 'WARREN_DEPLOY_INVALID', error: /"crons" must be a list/ });
    t.equal((await api(s, 'GET', '/v1/functions/ticker')).status, 404, 'nothing was deployed');
  });

  t.equal((await deploy(s, 'ticker', WEB)).status, 201, 'version 1: fetch only, no crons');

  await t.test('crons on a module without scheduled() are refused at deploy; the live version serves on', async (t) => {
    const res = await deploy(s, 'ticker', WEB, { crons: [EVERY_SECOND] });
    t.equal(res.status, 422);
    t.match(res.json(), { code: 'WARREN_DEPLOY_LOAD', error: /has no scheduled\(\) method in its default export, and the function has cron triggers/ });
    t.equal((await invoke(s, '/ticker/')).text, 'web only');
  });

  const v3 = await deploy(s, 'ticker', TICKER, { crons: [EVERY_SECOND, '*/5 * * * *'], vars: { WHO: 'cron' } });
  t.equal(v3.status, 201, `version 3 (the refused deploy used 2): scheduled only, with crons: ${v3.text}`);

  await t.test('the versions show their crons; a request to a module without fetch is a 501', async (t) => {
    const versions = (await api(s, 'GET', '/v1/functions/ticker/versions')).json().versions;
    t.same(versions.map((v: { version: number; crons: string[] }) => [v.version, v.crons]), [[1, []], [3, [EVERY_SECOND, '*/5 * * * *']]]);
    const res = await invoke(s, '/ticker/');
    t.equal(res.status, 501);
    t.match(res.text, /no fetch\(\) handler/);
  });

  await t.test('each run logs under its own id; a throw is logged and the next run comes', async (t) => {
    await until('five runs', async () => ticks(await logs(s, 'ticker')).length >= 5, 30_000);
    const lines = await logs(s, 'ticker');
    const tick = ticks(lines);
    t.match(tick[0]?.text, /^tick \d+ scheduled \* \* \* \* \* \* true cron$/, 'the event and env as Workers give them');
    const ids = tick.map((l) => l.requestId);
    t.ok(ids.every((id) => /^cron-[0-9a-f-]{36}$/.test(id ?? '')), 'every run has an id');
    t.equal(new Set(ids).size, ids.length, 'its own');
    const first = tick[0] as LogLine;
    const mine = lines.filter((l) => l.requestId === first.requestId).map((l) => [l.stream, l.text]);
    t.match(mine, [
      ['warren', /^scheduled run of cron '\* \* \* \* \* \*' started \(due .*\.000Z\)$/],
      ['stdout', /^tick/],
      ['stdout', /^after/],
      ['warren', /^scheduled run of cron '\* \* \* \* \* \*' ended ok \(\d+ ms\)$/],
    ], 'the run\'s lines, in order, with its console output between its start and end');

    const thrown = lines.find((l) => l.stream === 'warren' && /the scheduled handler threw: Error: boom on run 2/.test(l.text));
    t.ok(thrown, 'the throw\'s stack is in the log');
    const failed = lines.find((l) => l.stream === 'warren' && /^scheduled run of cron '\* \* \* \* \* \*' failed: boom on run 2 \(\d+ ms\)$/.test(l.text));
    t.ok(failed, 'and the run\'s end says it failed');
    t.equal(failed?.requestId, thrown?.requestId, 'both with the run\'s id');
    t.ok(tick.some((l) => /^tick 3 /.test(l.text)), 'the run after the throw came');

    await until('a firing skipped while run 4 goes', async () => (await logs(s, 'ticker')).some((l) => /skipped: its run before \(cron-[0-9a-f-]{36}\) is still going/.test(l.text)), 10_000);
    t.pass('a firing during a run still going is skipped with a line');
    await until('run 5', async () => ticks(await logs(s, 'ticker')).some((l) => /^tick 5 /.test(l.text)), 10_000);
  });

  await t.test('a rollback to a version without crons stops them; one to a version with crons starts them', async (t) => {
    const back = await api(s, 'POST', '/v1/functions/ticker/rollback');
    t.match(back.json(), { version: 1 });
    t.equal((await invoke(s, '/ticker/')).text, 'web only');
    // a run already going may still end
    await sleep(1500);
    const before = await runCount(s, 'ticker');
    await sleep(2500);
    t.equal(await runCount(s, 'ticker'), before, 'no firing after the rollback');

    t.match((await api(s, 'POST', '/v1/functions/ticker/rollback', { version: 3 })).json(), { version: 3 });
    await until('runs again', async () => (await runCount(s, 'ticker')) >= before + 2, 10_000);
  });

  await t.test('the metrics count runs by outcome', async (t) => {
    const text = (await api(s, 'GET', '/metrics')).text;
    t.match(text, /warren_scheduled_runs_total\{function="ticker",outcome="ok"\} [1-9]/);
    t.match(text, /warren_scheduled_runs_total\{function="ticker",outcome="error"\} [1-9]/);
    t.match(text, /warren_scheduled_runs_total\{function="ticker",outcome="skipped"\} [1-9]/);
  });

  await t.test('a run past the function\'s timeout is cut, and its instance with it', async (t) => {
    const slow = 'export default { async scheduled() { console.log("sleeping"); await new Promise((r) => setTimeout(r, 5000)); } };';
    t.equal((await deploy(s, 'sleeper', slow, { crons: [EVERY_SECOND], limits: { timeout_ms: 1000 } })).status, 201);
    await until('a run timed out', async () => (await logs(s, 'sleeper')).some((l) => /^scheduled run of cron .* failed: timed out after 1000 ms/.test(l.text)), 15_000);
    const lines = await logs(s, 'sleeper');
    t.ok(lines.some((l) => /timed out after 1000 ms: the instance is destroyed/.test(l.text)), 'the instance is destroyed, as a request\'s would be');
    t.equal((await api(s, 'DELETE', '/v1/functions/sleeper')).status, 204);
    t.match((await api(s, 'GET', '/metrics')).text, /warren_scheduled_runs_total\{function="sleeper",outcome="timeout"\} [1-9]/);
  });

  await t.test('a restart keeps the live version\'s crons', async (t) => {
    t.equal(await s.stop(), 0, 'serve stops cleanly with crons scheduled');
    s = await startServe(dirs, port, ['--pool', '1', '--no-demo']);
    await until('runs after the restart', async () => (await runCount(s, 'ticker')) >= 2, 15_000);
    t.pass('the crons run again');
  });

  await t.test('removing the function stops them', async (t) => {
    t.equal((await api(s, 'DELETE', '/v1/functions/ticker')).status, 204);
    await sleep(1500);
    const before = await runCount(s, 'ticker');
    await sleep(2500);
    t.equal(await runCount(s, 'ticker'), before, 'no firing after the removal');
  });
});
