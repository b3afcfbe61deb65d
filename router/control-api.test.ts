import http from 'node:http';
import t, { type Test } from 'tap';
import { WarrenError } from '../lib/errors.js';
import { FakeControl, FakeInvoker } from '../test/router/fakes.js';
import { firstStatusLine, nextChunk, sleep } from '../test/router/http.js';
import { refusedWhileSending } from '../test/router/refused-uploads.js';
import { MAX_SECRET_BYTES, startRouter } from './index.js';

const TOKEN = 'test-token-0123456789abcdef';
const LOCAL = { host: '127.0.0.1', port: 0 };
const MOD = 'export default { fetch() { return new Response("hi") } }';

async function setup(t: Test) {
  const control = new FakeControl();
  const router = await startRouter({ invoker: new FakeInvoker(), control, token: TOKEN, dataListen: LOCAL, controlListen: LOCAL });
  t.teardown(() => router.destroy());
  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(router.controlUrl + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined };
  };
  return { control, router, api };
}

t.test('the token: 401 without it or with a wrong one; /healthz needs none', async (t) => {
  const { router, api, control } = await setup(t);
  for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }]) {
    const res = await fetch(`${router.controlUrl}/v1/functions`, { headers });
    t.equal(res.status, 401, JSON.stringify(headers));
    t.match(res.headers.get('www-authenticate'), /^Bearer/);
    t.equal(res.headers.get('x-warren-fault'), 'user');
    t.match(await res.json(), { code: 'WARREN_API_UNAUTHORIZED', fault: 'user' });
  }
  const metrics = await fetch(`${router.controlUrl}/metrics`);
  t.equal(metrics.status, 401, '/metrics is behind the token too');
  t.same(control.calls, [], 'the service saw none of them');
  const health = await fetch(`${router.controlUrl}/healthz`);
  t.equal(health.status, 200);
  t.same(await health.json(), { ok: true });
  t.equal((await api('GET', '/v1/functions')).status, 200);
});

t.test('each route: its JSON and status', async (t) => {
  const { router, api, control } = await setup(t);
  const deploy = await api('PUT', '/v1/functions/hello', { module: MOD, vars: { A: '1' }, limits: { memory: '64m' } });
  t.equal(deploy.status, 201);
  t.same(deploy.json, { name: 'hello', version: 1, url: `${router.dataUrl}/hello/` });
  t.same(control.calls.at(-1), ['deploy', 'hello', { module: MOD, vars: { A: '1' }, limits: { memoryBytes: 64 * 1024 * 1024 } }]);
  t.equal((await api('PUT', '/v1/functions/hello', { module: MOD })).json.version, 2);

  const list = await api('GET', '/v1/functions');
  t.equal(list.status, 200);
  t.same(list.json.functions.map((f: { name: string; live: { version: number } }) => [f.name, f.live.version]), [['hello', 2]]);
  t.same(list.json.functions[0].url, `${router.dataUrl}/hello/`, 'a listed function has its URL');
  t.match((await api('GET', '/v1/functions/hello')).json, { name: 'hello', live: { version: 2 }, secrets: [], url: `${router.dataUrl}/hello/` });
  t.same((await api('GET', '/v1/functions/hello/versions')).json.versions.map((v: { version: number }) => v.version), [1, 2]);

  t.same((await api('POST', '/v1/functions/hello/rollback')).json, { name: 'hello', version: 1, url: `${router.dataUrl}/hello/` });
  t.same(control.calls.at(-1), ['rollback', 'hello', undefined]);
  t.equal((await api('POST', '/v1/functions/hello/rollback', { version: 2 })).json.version, 2);
  t.same(control.calls.at(-1), ['rollback', 'hello', 2]);
  t.equal((await api('POST', '/v1/functions/hello/rollback', { version: 'two' })).status, 400);
  t.equal((await api('POST', '/v1/functions/hello/rollback', { v: 2 })).status, 400);

  const put = await api('PUT', '/v1/functions/hello/secrets/API_KEY', 's3cret value\n', { 'content-type': 'text/plain' });
  t.equal(put.status, 204);
  t.same(control.calls.at(-1), ['putSecret', 'hello', 'API_KEY', 's3cret value\n'], 'the raw body is the value');
  t.same((await api('GET', '/v1/functions/hello/secrets')).json, { secrets: ['API_KEY'] });
  t.notMatch((await api('GET', '/v1/functions/hello')).text, 's3cret', 'a value never comes back');
  t.equal((await api('PUT', '/v1/functions/hello/secrets/API_KEY', 'x'.repeat(MAX_SECRET_BYTES + 1))).status, 413);
  t.equal((await api('PUT', '/v1/functions/hello/secrets/1BAD', 'x')).status, 400);
  t.equal((await api('DELETE', '/v1/functions/hello/secrets/API_KEY')).status, 204);
  t.same((await api('GET', '/v1/functions/hello/secrets')).json, { secrets: [] });

  const sandboxes = await api('GET', '/v1/sandboxes');
  t.match(sandboxes.json, { sandboxes: [{ id: 'sb1', fn: null, state: 'warm' }] });
  const metrics = await api('GET', '/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.headers.get('content-type'), /^text\/plain; version=0.0.4/);
  t.equal(metrics.text, 'warren_invocations_total 0\n');

  t.equal((await api('DELETE', '/v1/functions/hello')).status, 204);
  const gone = await api('GET', '/v1/functions/hello');
  t.equal(gone.status, 404);
  t.match(gone.json, { error: "no function 'hello'", code: 'WARREN_FN_NOT_FOUND', fault: 'user' });
  t.equal((await api('DELETE', '/v1/functions/hello')).status, 404);
  t.equal((await api('GET', '/v1/functions/Bad_Name')).status, 400);
  const route = await api('GET', '/v1/nothing');
  t.equal(route.status, 404);
  t.match(route.json, { code: 'WARREN_API_NOT_FOUND' });
});

t.test('deploy: a bad body is 400 naming the field, a module that does not load 422', async (t) => {
  const { api, control } = await setup(t);
  const cases: Array<[body: unknown, status: number, message: RegExp]> = [
    ['', 400, /must be a JSON object/],
    ['{not json', 400, /not JSON/],
    [{ module: MOD, limit: {} }, 400, /unknown field "limit"/],
    [{ module: MOD, limits: { memory: 'lots' } }, 400, /"limits.memory"/],
    [{ module: MOD, egress: ['nope'] }, 400, /"egress\[0\]"/],
  ];
  for (const [body, status, message] of cases) {
    const a = await api('PUT', '/v1/functions/hello', body);
    t.equal(a.status, status, JSON.stringify(body));
    t.match(a.json, { code: status === 400 ? /WARREN_(DEPLOY_INVALID|API_INVALID)/ : '', error: message, fault: 'user' });
  }
  t.equal(control.calls.length, 0, 'none reached the service');
  control.deployError = new WarrenError('WARREN_DEPLOY_LOAD', "module of function 'hello' did not load: SyntaxError: Unexpected token");
  const bad = await api('PUT', '/v1/functions/hello', { module: 'export default {' });
  t.equal(bad.status, 422);
  t.match(bad.json, { code: 'WARREN_DEPLOY_LOAD', error: /SyntaxError/ });
  control.deployError = new Error('a bug, with /secret/paths');
  const bug = await api('PUT', '/v1/functions/hello', { module: MOD });
  t.equal(bug.status, 500);
  t.match(bug.json, { error: 'internal error', fault: 'platform' });
});

t.test('a deploy bigger than the limit is 413, by length and by counting', async (t) => {
  const { api, router } = await setup(t);
  const big = JSON.stringify({ module: 'x'.repeat(33 * 1024 * 1024) });
  const a = await api('PUT', '/v1/functions/hello', big);
  t.equal(a.status, 413);
  t.match(a.json, { code: 'WARREN_API_BODY_TOO_LARGE' });
  // a client still sending when the 413 comes reads it (router/linger.ts): by the declared length
  // up front, and after 32 MiB of a chunked one; one that sends on after it is cut
  const port = Number(new URL(router.controlUrl).port);
  const head = (framing: string) => `PUT /v1/functions/hello HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n${framing}\r\n\r\n`;
  await refusedWhileSending(t, port, head, { clients: 4, total: 64 * 1024 * 1024, answeredBy: (chunked) => (chunked ? 40 : 8) * 1024 * 1024 });
});

t.test('Expect: 100-continue: go on once the body is read; a 401, 404 or 413 is answered before it is sent', async (t) => {
  const { api, router, control } = await setup(t);
  const port = Number(new URL(router.controlUrl).port);
  const head = (path: string, length: number, auth = `Authorization: Bearer ${TOKEN}\r\n`) =>
    `PUT ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;
  t.equal(await firstStatusLine(port, head('/v1/functions/hello', 1000, '')), 'HTTP/1.1 401 Unauthorized', 'no token: 401, not 100 Continue');
  t.equal(await firstStatusLine(port, head('/v1/functions/hello', 1000, 'Authorization: Bearer wrong\r\n')), 'HTTP/1.1 401 Unauthorized', 'a wrong token: 401');
  t.equal(await firstStatusLine(port, head('/v1/functions/hello', 40 * 1024 * 1024)), 'HTTP/1.1 413 Payload Too Large', 'a declared 40 MiB deploy: 413');
  t.equal(await firstStatusLine(port, head('/v1/nothing-here', 1000)), 'HTTP/1.1 404 Not Found', 'no such route: 404');
  t.equal(await firstStatusLine(port, head('/v1/functions/Bad_Name', 1000)), 'HTTP/1.1 400 Bad Request', 'a bad name: 400');
  t.equal(await firstStatusLine(port, head('/v1/functions/hello', 1000)), 'HTTP/1.1 100 Continue', 'a deploy that may go on: 100 Continue');
  t.same(control.calls, [], 'the service saw none of them');
  // a client that waits for it (node's fetch does not send Expect; this one does)
  const body = JSON.stringify({ module: MOD });
  const deployed = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(`${router.controlUrl}/v1/functions/hello`, {
      method: 'PUT',
      agent: false,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' },
    });
    let continued = false;
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: continued ? (res.statusCode ?? 0) : -1, text }));
    });
    req.on('error', reject);
  });
  t.equal(deployed.status, 201, 'it is told to go on, sends its body and is answered');
  t.equal(JSON.parse(deployed.text).version, 1);
  t.equal((await api('GET', '/v1/functions/hello')).status, 200, 'the API serves on');
});

t.test('logs: NDJSON; follow streams lines as they come and stops when the client goes away', async (t) => {
  const { api, control, router } = await setup(t);
  await api('PUT', '/v1/functions/hello', { module: MOD });
  const line = (text: string) => ({ time: '2026-11-28T00:00:00.000Z', fn: 'hello', version: 1, instance: 'sb1', requestId: 'r1', stream: 'stdout' as const, text });
  control.lines.push(line('kept'));
  const kept = await api('GET', '/v1/functions/hello/logs');
  t.equal(kept.status, 200);
  t.match(kept.headers.get('content-type'), /application\/x-ndjson/);
  t.same(kept.text.trim().split('\n').map((l) => JSON.parse(l)), [line('kept')]);
  t.equal((await api('GET', '/v1/functions/nope/logs')).status, 404);

  const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
    http.get(`${router.controlUrl}/v1/functions/hello/logs?follow=1`, { headers: { authorization: `Bearer ${TOKEN}` }, agent: false }, resolve).on('error', reject),
  );
  t.equal(res.statusCode, 200);
  t.same(JSON.parse(await nextChunk(res)), line('kept'));
  for (let i = 0; i < 40 && control.followersOpen === 0; i++) await sleep(10);
  control.push(line('new one'));
  t.same(JSON.parse(await nextChunk(res)), line('new one'), 'a new line arrives while the stream is open');
  res.destroy();
  for (let i = 0; i < 100 && control.followersOpen > 0; i++) await sleep(20);
  t.equal(control.followersOpen, 0, 'the follow ended when the client went away');
  control.push(line('after'));
  t.equal((await api('GET', '/healthz')).status, 200, 'the API still answers');
});

t.test('a follow ends when the router closes: it does not hold the drain open', async (t) => {
  const { api, control, router } = await setup(t);
  await api('PUT', '/v1/functions/hello', { module: MOD });
  const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
    http.get(`${router.controlUrl}/v1/functions/hello/logs?follow=1`, { headers: { authorization: `Bearer ${TOKEN}` }, agent: false }, resolve).on('error', reject),
  );
  t.equal(res.statusCode, 200);
  for (let i = 0; i < 40 && control.followersOpen === 0; i++) await sleep(10);
  const ended = new Promise<void>((resolve) => res.on('end', resolve).resume());
  const began = Date.now();
  await router.close();
  await ended;
  t.ok(Date.now() - began < 2000, `closed in ${Date.now() - began} ms, the follow's answer ended cleanly`);
  t.equal(control.followersOpen, 0);
});

t.test('a client that goes away mid-body does not take the API down', async (t) => {
  const { api, router, control } = await setup(t);
  await api('PUT', '/v1/functions/hello', { module: MOD });
  const paths = ['/v1/functions/hello', '/v1/functions/hello/secrets/KEY', '/v1/functions/hello/rollback'];
  for (const path of paths) {
    for (const headers of [{ 'content-length': '1000000' }, { 'transfer-encoding': 'chunked' }]) {
      const req = http.request(`${router.controlUrl}${path}`, { method: path.endsWith('rollback') ? 'POST' : 'PUT', headers: { authorization: `Bearer ${TOKEN}`, ...headers }, agent: false });
      req.on('error', () => {});
      req.write('{"module": "' + 'x'.repeat(1000));
      await sleep(30);
      req.destroy();
      await sleep(30);
    }
  }
  t.equal((await api('GET', '/healthz')).status, 200, 'the API still answers');
  t.same(control.calls.map((c) => c[0]), ['deploy'], 'no half body reached the service');
});
