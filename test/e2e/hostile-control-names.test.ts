/**
 * Hostile names, keys and envs through the control API of a real `warren serve` (needs root):
 * function names and secret keys with odd characters are refused with a clear error and write
 * nothing to the state dir; vars and secrets too big for an instance's env are refused before
 * they could break its starts; odd secret values reach the function byte for byte. A live
 * function answers throughout. What each case attacks is its name.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { NEEDS_ROOT } from '../integration/helpers.js';
import { allOk, liveModule, rawExchange, tree, withLive, type Raw } from './hostile-control-helpers.js';
import { api, deploy, invoke, ports, serveDirs, startServe } from './serve-helpers.js';

const dirs = serveDirs('wrntest-hostile-names');
const KiB = 1024;

/** The function's env as JSON, so a test can see what each secret became. */
const ENV_ECHO = `export default { fetch(request, env) { return Response.json(env) } };`;

const bodyOf = (r: Raw) => r.text.slice(r.text.indexOf('\r\n\r\n') + 4);

t.test('hostile names and envs: refused clearly, nothing written out of place', { skip: NEEDS_ROOT, timeout: 300_000 }, async (t) => {
  const port = ports(22180);
  const s = await startServe(dirs, port, ['--no-demo', '--pool', '1']);
  t.teardown(async () => {
    await s.stop();
  });
  t.equal((await deploy(s, 'live', liveModule('live v1'))).status, 201);
  t.equal((await invoke(s, '/live/')).text, 'live v1');
  /** A raw request line, as a hostile client writes it (undici would normalise or refuse it). */
  const raw = (method: string, target: string, body = '') =>
    rawExchange(port.control, `${method} ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, [], 10_000);

  t.test('function names with odd characters: refused with a clear error, nothing written outside its place', async (t) => {
    const body = JSON.stringify({ module: liveModule('odd') });
    const names: string[] = [
      '..', '.', '%2e%2e', '%2E%2E%2F%2E%2E%2Fetc', '..%2F..%2Ftmp%2Fx', 'a%2Fb', 'a%5Cb', '%2F', '~root',
      'caf%C3%A9', '%EF%BD%81', '%E2%80%AEa', 'a%00b', 'a%0Ab', 'a%0D%0AX-Injected:%201', 'a%1Bb', 'a%20b',
      'A', 'UPPER', '-lead', 'trail-', 'a_b', 'a.b', '.hidden', 'a'.repeat(64), 'a'.repeat(12_000), '%',
      '%zz', 'a;b', 'a%3Fb', 'a%23b',
    ];
    const stateBefore = tree(dirs.state);
    const besideBefore = fs.readdirSync(path.dirname(dirs.state)).sort();
    const { statuses } = await withLive(s, 'live', ['live v1'], async () => {
      for (const name of names) {
        const r = await raw('PUT', `/v1/functions/${name}`, body);
        const shown = name.length > 40 ? `${name.slice(0, 20)}... (${name.length})` : name;
        t.ok([400, 404, 431].includes(r.status), `'${shown}': ${r.status} ${bodyOf(r).slice(0, 140)}`);
        if (r.status !== 431) t.match(JSON.parse(bodyOf(r)), { code: /^WARREN_API_(INVALID|NOT_FOUND)$/, fault: 'user' }, `'${shown}': a JSON error that says why`);
        t.notMatch(r.text.slice(0, r.text.indexOf('\r\n\r\n')), /X-Injected/i, `'${shown}': no header injected into the answer`);
      }
      // a control character raw in the request line never reaches warren's routes
      const ctl = await raw('PUT', '/v1/functions/a\x01b', body);
      t.equal(ctl.status, 400, 'a raw control character: 400');
    });
    t.ok(allOk(statuses), `the live function answered throughout (${statuses.length} requests)`);
    t.same((await api(s, 'GET', '/v1/functions')).json().functions.map((f: { name: string }) => f.name), ['live'], 'no function was made');
    t.same(tree(dirs.state), stateBefore, 'nothing new in the state dir');
    // the dir beside it is shared (other tests' state dirs come and go): what these names would
    // have made there is what must not appear
    const made = fs.readdirSync(path.dirname(dirs.state)).filter((e) => !besideBefore.includes(e) && !e.startsWith('wrntest-state'));
    t.same(made, [], 'nothing new beside it');
    // a dot segment is resolved before routing, as in any URL: it names the route it resolves to
    const resolved = await raw('GET', '/v1/functions/../functions/live');
    t.equal(resolved.status, 200, "'/v1/functions/../functions/live' is '/v1/functions/live'");
  });

  t.test("names the data plane might seem to reserve are ordinary: it has no paths of its own", async (t) => {
    for (const name of ['healthz', 'v1', 'metrics']) {
      t.equal((await deploy(s, name, liveModule(`fn ${name}`))).status, 201, `'${name}' deploys`);
      t.equal((await invoke(s, `/${name}/`)).text, `fn ${name}`, `/${name}/ on the data plane is that function`);
    }
    t.same((await api(s, 'GET', '/healthz', undefined, null)).json(), { ok: true }, "the control API's /healthz is still its own");
    t.match((await api(s, 'GET', '/metrics')).text, /^# HELP/m, "and its /metrics");
    for (const name of ['healthz', 'v1', 'metrics']) t.equal((await api(s, 'DELETE', `/v1/functions/${name}`)).status, 204);
  });

  t.test('secret keys with odd characters: refused with a clear error, no secret kept', async (t) => {
    const keys = ['A-B', '1A', 'A%00', 'A%0A', '%C3%84', 'A'.repeat(129), '..', 'A%2FB', 'A%3DB', '%24HOME', 'A%20B'];
    for (const key of keys) {
      const r = await raw('PUT', `/v1/functions/live/secrets/${key}`, 'value');
      const shown = key.length > 40 ? `${key.slice(0, 10)}... (${key.length})` : key;
      t.ok([400, 404].includes(r.status), `'${shown}': ${r.status} ${bodyOf(r).slice(0, 140)}`);
      t.match(JSON.parse(bodyOf(r)), { code: /^WARREN_API_(INVALID|NOT_FOUND)$/, fault: 'user' });
    }
    t.same((await api(s, 'GET', '/v1/functions/live/secrets')).json(), { secrets: [] }, 'no secret was kept');
  });

  t.test('odd secret values reach the function byte for byte', async (t) => {
    t.equal((await deploy(s, 'envecho', ENV_ECHO, { vars: { PLAIN: 'var' } })).status, 201);
    const values: Record<string, string> = {
      NUL: 'a\0b',
      NEWLINES: 'line1\nline2\r\nKEY=injected',
      QUOTES: `"'\`$(id)\${HOME}`,
      UNICODE: 'caf\u00e9 \u{1f600} \u202e',
      EMPTY: '',
      PLAIN: 'a secret over the var of the same name',
    };
    for (const [key, value] of Object.entries(values)) t.equal((await api(s, 'PUT', `/v1/functions/envecho/secrets/${key}`, value)).status, 204, key);
    t.same((await invoke(s, '/envecho/')).json(), values, 'the env is exactly the secrets (each over its var)');
  });

  t.test('vars and secrets too big for an instance: refused before they could break its starts', async (t) => {
    const { statuses } = await withLive(s, 'live', ['live v1'], async () => {
      const huge = await deploy(s, 'live', liveModule('live v2'), { vars: { BIG: 'x'.repeat(2 * KiB * KiB) } });
      t.equal(huge.status, 413, 'a 2 MiB var: 413');
      t.match(huge.json(), { code: 'WARREN_DEPLOY_ENV_TOO_LARGE', fault: 'user', error: /vars and secrets come to \d+ bytes/ });
      const many = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`K${i}`, 'value']));
      t.equal((await deploy(s, 'live', liveModule('live v2'), { vars: many })).status, 413, '100,000 vars: 413');
      // raw: the 413 may come (and the connection close) while the body is still being written
      const over = await rawExchange(port.control, `PUT /v1/functions/live/secrets/ONE HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.token}\r\nContent-Length: ${64 * KiB + 1}\r\n\r\n`, [Buffer.alloc(64 * KiB + 1, 0x78)], 10_000);
      t.equal(over.status, 413, 'a secret over 64 KiB: 413');
      // filled on a function of its own: each secret drains its instances, and the live one's
      // would start again on every poll
      t.equal((await deploy(s, 'envfull', liveModule('envfull'))).status, 201);
      const put: number[] = [];
      for (let i = 0; i < 18; i++) put.push((await api(s, 'PUT', `/v1/functions/envfull/secrets/S${i}`, 'y'.repeat(64 * KiB - 8))).status);
      t.same(put, [...Array(16).fill(204), 413, 413], 'sixteen secrets of 64 KiB fit the 1 MiB env, the next are 413');
    });
    t.ok(allOk(statuses), `the live function answered v1 throughout (${statuses.length} requests: ${[...new Set(statuses)].join(",")})`);
    t.equal((await api(s, 'GET', '/v1/functions/live')).json().live.version, 1, 'the live version is unchanged');
    t.equal((await deploy(s, 'envfull', liveModule('envfull v2'))).status, 201, 'with its secrets, the full function still deploys');
    t.equal((await invoke(s, '/envfull/')).text, 'envfull v2', 'and starts');
  });
});
