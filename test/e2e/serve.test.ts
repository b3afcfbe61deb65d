/**
 * `warren serve` end to end (needs root): a real server with its own dirs and ports, deployed to
 * through the control API and invoked through the data plane, as a user would. What the issue's
 * "done when" lists: routing, streaming, env, each kind of function failure kept to its function,
 * the queue, the limits, the token, the control API's own port, atomic deploys, rollback, logs
 * with request ids, scale to zero.
 */
import fs from 'node:fs';
import http from 'node:http';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { request } from 'undici';
import { NEEDS_ROOT } from '../integration/helpers.js';
import { api, deploy, invoke, ports, serveDirs, startServe, until, type Server } from './serve-helpers.js';

const dirs = serveDirs('wrntest-serve');

const APP = `
import { spawn } from 'node:child_process';
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case '/env': return Response.json({ greeting: env.GREETING ?? null, token: env.TOKEN ?? null });
      case '/throw': throw new Error('boom from the function');
      case '/loop': for (;;);
      case '/oom': { const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1)); }
      case '/fork': {
        let made = 0, failed = 0;
        for (let i = 0; i < 400; i++) {
          try { spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' }).on('error', () => failed++); made++; } catch { failed++; }
        }
        await new Promise((r) => setTimeout(r, 1000));
        return Response.json({ made, failed });
      }
      case '/log': console.log('hello from the log', url.searchParams.get('n')); return new Response('logged');
      case '/echo': return new Response(request.body);
      case '/slow': await new Promise((r) => setTimeout(r, Number(url.searchParams.get('ms') ?? 500))); return new Response('slow');
      default: return new Response('v1 ' + request.method + ' ' + url.pathname + url.search + ' host ' + request.headers.get('host'));
    }
  },
};`;

/** The status of a POST of `bytes`, read as soon as it comes (the server may answer before the
 * upload ends and close: a client such as curl still shows that answer). */
function upload(url: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-length': bytes } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => {}); // the write after the answer: EPIPE or a reset, expected
    setTimeout(() => reject(new Error('no answer to the upload')), 30_000).unref();
    req.end(Buffer.alloc(bytes, 97));
  });
}

t.test('warren serve: functions end to end', { skip: NEEDS_ROOT, timeout: 600_000 }, async (t) => {
  const s: Server = await startServe(dirs, ports(18080), ['--domain', 'fn.test', '--pool', '1', '--keep-alive', '3s', '--max-instances', '2', '--queue', '2', '--max-body', '1m', '--no-demo']);
  t.teardown(async () => {
    await s.stop(); // a test that failed midway: stopped all the same
    fs.rmSync(dirs.state, { recursive: true, force: true });
  });

  await t.test('the control API wants its token; the data plane never serves it', async (t) => {
    t.equal((await api(s, 'GET', '/v1/functions', undefined, null)).status, 401, 'no token');
    t.equal((await api(s, 'GET', '/v1/functions', undefined, 'wrong')).status, 401, 'a wrong token');
    t.equal((await api(s, 'GET', '/v1/functions')).status, 200);
    const onData = await invoke(s, '/v1/functions', { headers: { authorization: `Bearer ${s.token}` } });
    t.equal(onData.status, 404, 'on the data plane /v1 is an unknown function');
    t.match(onData.text, /v1/);
  });

  const first = await deploy(s, 'app', APP, { vars: { GREETING: 'hi' }, limits: { memory: '128m', timeout_ms: 2000, concurrency: 4 } });
  t.equal(first.status, 201, `deployed: ${first.text}`);
  t.match(first.json(), { name: 'app', version: Number });

  await t.test('path and host routing, the prefix stripped, a request id on every answer', async (t) => {
    const a = await invoke(s, '/app/a/b?x=1');
    t.equal(a.status, 200);
    t.match(a.text, /^v1 GET \/a\/b\?x=1 host /);
    t.ok(a.headers['x-request-id'], 'x-request-id');
    t.match(String(a.headers['x-warren-start']), /^(warm|prewarm|cold)$/);
    t.match((await invoke(s, '/app')).text, /^v1 GET \/ /, '/app is the root');
    const byHost = await invoke(s, '/x/y', { headers: { host: 'app.fn.test' } });
    t.match(byHost.text, /^v1 GET \/x\/y host app\.fn\.test/);
    t.match((await invoke(s, '/__warren/health')).status, 404, 'no function __warren');
    t.match((await invoke(s, '/app/__warren/health')).text, /^v1 GET \/__warren\/health/, 'a client\'s /__warren path reaches the function');
    const unknown = await invoke(s, '/nothing/');
    t.equal(unknown.status, 404);
    t.match(unknown.text, /nothing/);
  });

  await t.test('bodies stream both ways', async (t) => {
    const body = new PassThrough();
    const pending = request(`${s.data}/app/echo`, { method: 'POST', body });
    body.write('first,');
    const res = await pending;
    const chunks = res.body[Symbol.asyncIterator]();
    const got = await chunks.next();
    t.equal(String(got.value), 'first,', 'the first chunk came back before the request body ended');
    body.end('second');
    let rest = '';
    for (let c = await chunks.next(); !c.done; c = await chunks.next()) rest += String(c.value);
    t.equal(rest, 'second');
  });

  await t.test('vars and secrets reach env; secrets are never returned', async (t) => {
    t.equal((await api(s, 'PUT', '/v1/functions/app/secrets/TOKEN', 's3cret')).status < 300, true);
    t.same((await invoke(s, '/app/env')).json(), { greeting: 'hi', token: 's3cret' });
    const names = await api(s, 'GET', '/v1/functions/app/secrets');
    t.notMatch(names.text, /s3cret/);
    t.match(names.text, /TOKEN/);
    t.notMatch((await api(s, 'GET', '/v1/functions/app')).text, /s3cret/);
  });

  await t.test('a throw is a 500 for that request; the instance keeps serving', async (t) => {
    const thrown = await invoke(s, '/app/throw');
    t.equal(thrown.status, 500);
    t.notMatch(thrown.text, /boom from the function/, 'the stack stays in the logs');
    const next = await invoke(s, '/app/ok');
    t.equal(next.status, 200);
    t.equal(next.headers['x-warren-start'], 'warm', 'the same instance');
  });

  await t.test('an endless loop is a 504 past the timeout, and the next request is served', async (t) => {
    const looped = await invoke(s, '/app/loop');
    t.equal(looped.status, 504);
    t.equal(looped.headers['x-warren-fault'], 'function');
    t.equal((await invoke(s, '/app/ok')).status, 200);
  });

  await t.test('a memory bomb is a 502 "out of memory" while a neighbour answers throughout', async (t) => {
    // two cookies: the first answer of a start must keep them apart (the scale-to-zero test)
    const calm = 'export default { fetch() { const h = new Headers(); h.append("set-cookie", "a=1"); h.append("set-cookie", "b=2"); return new Response("calm", { headers: h }); } }';
    t.equal((await deploy(s, 'calm', calm)).status, 201);
    // a timeout of its own: on a busy machine the fill to 128 MiB may take seconds
    t.equal((await deploy(s, 'bomb', APP, { limits: { memory: '128m', timeout_ms: 30_000 } })).status, 201);
    let calmAnswers = 0;
    let calmFailures = 0;
    let bombing = true;
    const neighbour = (async () => {
      while (bombing) {
        const r = await invoke(s, '/calm/');
        if (r.status === 200 && r.text === 'calm') calmAnswers++;
        else calmFailures++;
      }
    })();
    const bomb = await invoke(s, '/bomb/oom');
    bombing = false;
    await neighbour;
    t.equal(bomb.status, 502, bomb.text);
    t.match(bomb.text, /out of memory/);
    t.equal(bomb.headers['x-warren-fault'], 'function');
    t.ok(calmAnswers > 0, `the neighbour answered ${calmAnswers} times`);
    t.equal(calmFailures, 0, 'and never failed');
    t.equal((await invoke(s, '/bomb/ok')).status, 200, 'the next request gets a fresh instance');
  });

  await t.test('a fork bomb is contained', async (t) => {
    const forked = await invoke(s, '/app/fork');
    t.ok([200, 500, 502, 504].includes(forked.status), `answered ${forked.status}`);
    if (forked.status === 200) t.ok(forked.json<{ failed: number }>().failed > 0, 'forks past the pids limit failed');
    t.equal((await invoke(s, '/calm/')).text, 'calm', 'the neighbour answers');
    t.equal((await invoke(s, '/app/ok')).status, 200, 'and the function serves again');
  });

  await t.test('413 past the body limit; 429 with Retry-After when the queue is full', async (t) => {
    t.equal(await upload(`${s.data}/app/echo`, 2 * 1024 * 1024), 413, 'a 2 MiB body past --max-body 1m');
    t.equal((await deploy(s, 'slow', APP, { limits: { concurrency: 1, timeout_ms: 20_000 } })).status, 201);
    // 2 instances at most, each one request at once, 2 waiting: of 6 at once, 2 are refused
    const all = await Promise.all([1, 2, 3, 4, 5, 6].map(() => invoke(s, '/slow/slow?ms=3000')));
    const refused = all.filter((r) => r.status === 429);
    const statuses = all.map((r) => r.status);
    t.same(statuses.filter((x) => x !== 200 && x !== 429), [], 'each one served or refused');
    t.ok(refused.length >= 1, `past 2 in service and 2 waiting, refused: ${statuses.join(' ')}`);
    t.ok(statuses.filter((x) => x === 200).length >= 4, 'those in service and waiting are served');
    t.ok(refused.every((r) => Number(r.headers['retry-after']) >= 1), 'with Retry-After');
    t.ok(refused.every((r) => r.headers['x-warren-fault'] === 'function'), 'the function\'s side');
  });

  await t.test('a bad module is refused with 422 while the live version keeps serving; rollback', async (t) => {
    const bad = await deploy(s, 'app', 'export default {}');
    t.equal(bad.status, 422);
    t.match(bad.text, /fetch/);
    t.match((await invoke(s, '/app/')).text, /^v1 /, 'still the live version');
    const v2 = await deploy(s, 'app', APP.replace("'v1 '", "'v2 '"), { vars: { GREETING: 'hi' }, limits: { timeout_ms: 2000 } });
    t.equal(v2.status, 201);
    t.match((await invoke(s, '/app/')).text, /^v2 /, 'v2 serves');
    const back = await api(s, 'POST', '/v1/functions/app/rollback', {});
    t.equal(back.status, 200, back.text);
    t.match((await invoke(s, '/app/')).text, /^v1 /, 'rolled back to v1');
    const { versions } = (await api(s, 'GET', '/v1/functions/app/versions')).json<{ versions: Array<{ version: number }> }>();
    t.same(versions.map((v) => v.version), [1, 3], 'the versions that went live (the refused one left a gap)');
  });

  await t.test('logs carry the request id', async (t) => {
    const logged = await invoke(s, '/app/log?n=42');
    const id = String(logged.headers['x-request-id']);
    await until('the log line', async () => {
      const lines = (await api(s, 'GET', '/v1/functions/app/logs')).text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      return lines.some((l) => l.requestId === id && /hello from the log 42/.test(l.text));
    });
    t.pass(`a line with request id ${id}`);
  });

  await t.test('idle instances end after the keep-alive window (scale to zero)', async (t) => {
    t.equal((await invoke(s, '/calm/')).status, 200);
    await until('no instance of calm', async () => !(await api(s, 'GET', '/v1/sandboxes')).json<{ sandboxes: Array<{ fn: string | null }> }>().sandboxes.some((x) => x.fn === 'calm'), 20_000);
    t.pass('none left');
    const again = await invoke(s, '/calm/');
    t.equal(again.text, 'calm', 'and it starts again');
    t.match(String(again.headers['x-warren-start']), /^(prewarm|cold)$/, 'a start, not a warm instance');
    t.same(again.headers['set-cookie'], ['a=1', 'b=2'], "its first answer's two Set-Cookie headers stay two");
  });

  await t.test('metrics', async (t) => {
    const m = await api(s, 'GET', '/metrics');
    t.equal(m.status, 200);
    t.match(m.text, /warren_invocations_total\{function="app",status="ok"\}/);
    t.match(m.text, /warren_starts_total\{label="warm"\}/);
  });

  t.equal(await s.stop(), 0, 'SIGTERM: exit 0');
});
