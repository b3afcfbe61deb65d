/**
 * Hostile bundles and bodies through the control API of a real `warren serve` (needs root): each
 * case deploys what a careless or hostile caller could send, to a function that is live, and
 * that function must keep answering its version throughout, with its live version unchanged.
 * What each case attacks is its name.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import t from 'tap';
import { request } from 'undici';
import { NEEDS_ROOT } from '../integration/helpers.js';
import { allOk, liveModule, rawExchange, rssOf, withLive } from './hostile-control-helpers.js';
import { api, deploy, invoke, ports, sandboxCgroups, serveDirs, startServe, until, type Server } from './serve-helpers.js';

const dirs = serveDirs('wrntest-hostile-ctl');
const MiB = 1024 * 1024;
/** Tasks a function's sandbox may hold (cli/serve.ts FUNCTION_PIDS). */
const PIDS_CAP = 128;
const MARKER = 'wrn-hostile-spawn-marker';

/**
 * A function that spawns: /child starts one node process and answers what it saw (its pid, the
 * pids in its /proc, its cgroup paths, pid 1); /spawn?n=N starts N idle ones at once (each a
 * handful of tasks) and answers how many started and how each refusal was spelled.
 */
const SPAWNER = `
import { execFileSync, spawn } from 'node:child_process';
const kids = [];
const VIEW = 'const fs = require("fs"); console.log(JSON.stringify({ pid: process.pid, procs: fs.readdirSync("/proc").filter((d) => /^[0-9]+$/.test(d)).map(Number), cgroup: fs.readFileSync("/proc/self/cgroup", "utf8"), pid1: fs.readFileSync("/proc/1/cmdline", "utf8").split(String.fromCharCode(0))[0], host: (() => { try { return fs.readFileSync("/proc/" + process.argv[1] + "/cmdline", "utf8"); } catch (e) { return e.code; } })() }))';
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/child') return new Response(execFileSync(process.execPath, ['-e', VIEW, url.searchParams.get('host')], { encoding: 'utf8', timeout: 20000 }));
    const n = Number(url.searchParams.get('n'));
    const results = await Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
      const c = spawn(process.execPath, ['--v8-pool-size=1', '--max-old-space-size=8', '-e', 'setInterval(() => {}, 1e9) // ${MARKER}'], { stdio: 'ignore' });
      c.on('error', (e) => resolve(e.code));
      c.on('spawn', () => { kids.push(c); resolve('started'); });
    })));
    const count = {};
    for (const r of results) count[r] = (count[r] ?? 0) + 1;
    return Response.json(count);
  },
};`;

/** Host processes running the marker, and whether each is in a sandbox cgroup of `parent`. */
function marked(parent: string): Array<{ pid: number; inSandbox: boolean }> {
  const out: Array<{ pid: number; inSandbox: boolean }> = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(MARKER)) continue;
      const cgroup = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      out.push({ pid: Number(pid), inSandbox: /^\d+:pids:\/.+$/m.test(cgroup) && cgroup.includes(`/${parent}/`) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** A raw control API request: bytes as given, no JSON encoding on this side. */
async function send(s: Server, method: string, p: string, body: string | Buffer, contentType = 'application/json') {
  const res = await request(`${s.control}${p}`, { method: method as 'PUT', headers: { authorization: `Bearer ${s.token}`, 'content-type': contentType }, body });
  const text = await res.body.text();
  return { status: res.statusCode, text, json: () => JSON.parse(text) as { code: string; error: string; fault: string } };
}

t.test('hostile bundles: each is refused with a clear 4xx and the live version keeps serving', { skip: NEEDS_ROOT, timeout: 300_000 }, async (t) => {
  const port = ports(22080);
  const s = await startServe(dirs, port, ['--no-demo', '--pool', '1']);
  t.teardown(async () => {
    await s.stop();
  });
  t.equal((await deploy(s, 'live', liveModule('live v1'))).status, 201);
  const live = async () => (await api(s, 'GET', '/v1/functions/live')).json<{ live: { version: number } }>().live.version;
  const versions = async () => (await api(s, 'GET', '/v1/functions/live/versions')).json<{ versions: Array<{ version: number }> }>().versions.map((v) => v.version);

  t.test('an oversized bundle is 413 while it is still being sent, never buffered whole', async (t) => {
    const rssBefore = rssOf(s.child.pid as number);
    const head = (framing: string) => `PUT /v1/functions/live HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.token}\r\nContent-Type: application/json\r\n${framing}\r\n\r\n`;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    function* upTo(bytes: number, wrap: (b: Buffer) => Buffer | string = (b) => b) {
      for (let sent = 0; sent < bytes; sent += chunk.length) yield wrap(chunk);
    }
    const { result, statuses } = await withLive(s, 'live', ['live v1'], async () => {
      const declared = await rawExchange(port.control, head(`Content-Length: ${1024 * MiB}`), upTo(64 * MiB));
      const chunked = await rawExchange(port.control, head('Transfer-Encoding: chunked'), upTo(64 * MiB, (b) => `${b.length.toString(16)}\r\n${b.toString('latin1')}\r\n`));
      return { declared, chunked };
    });
    t.equal(result.declared.status, 413, 'a declared 1 GiB body: 413');
    t.ok(result.declared.sentBeforeAnswer < 8 * MiB, `answered after ${result.declared.sentBeforeAnswer} bytes, from its Content-Length alone`);
    t.match(result.declared.text, /"code":"WARREN_API_BODY_TOO_LARGE"/);
    t.match(result.declared.text, /\r\nconnection: close\r\n/i, 'the connection ends with the 413: the unread rest is never taken for a next request');
    t.match(result.chunked.text, /\r\nconnection: close\r\n/i, 'also for the chunked body');
    t.equal(result.chunked.status, 413, 'a chunked body past 32 MiB: 413');
    t.ok(result.chunked.sentBeforeAnswer < 48 * MiB, `answered after ${result.chunked.sentBeforeAnswer} bytes of 64 MiB: at the limit, not the end`);
    const grown = rssOf(s.child.pid as number) - rssBefore;
    t.ok(grown < 256 * MiB, `warren serve grew ${Math.round(grown / MiB)} MiB`);
    t.ok(allOk(statuses), `the live function answered throughout (${statuses.length} requests)`);
    t.equal(await live(), 1, 'the live version is unchanged');
  });

  t.test('malformed bundles: each a clear 4xx naming what is wrong, the live version unchanged', async (t) => {
    const binary = randomBytes(4096).toString('latin1');
    const cases: Array<[string, string | Buffer, number, string, RegExp]> = [
      ['not UTF-8', Buffer.concat([Buffer.from('{"module":"export default { fetch() { return new Response(\\"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('\\") } }"}')]), 400, 'WARREN_API_INVALID', /not UTF-8/],
      ['binary bytes as the module', JSON.stringify({ module: binary }), 422, 'WARREN_DEPLOY_LOAD', /did not load/],
      ['a syntax error', JSON.stringify({ module: 'export default { fetch() { return new Response("x" } }' }), 422, 'WARREN_DEPLOY_LOAD', /SyntaxError|missing|Unexpected/],
      ['a module that throws at load', JSON.stringify({ module: 'throw new Error("boom at load"); export default { fetch() {} }' }), 422, 'WARREN_DEPLOY_LOAD', /boom at load/],
      ['a rejected top-level await', JSON.stringify({ module: 'await Promise.reject(new Error("rejected at load")); export default { fetch() {} }' }), 422, 'WARREN_DEPLOY_LOAD', /rejected at load/],
      ['a module that exits the runtime at load', JSON.stringify({ module: 'import process from "node:process"; process.exit(0); export default { fetch() {} }' }), 422, 'WARREN_DEPLOY_LOAD', /did not load/],
      ['no default export', JSON.stringify({ module: 'export const fetch = () => new Response("x");' }), 422, 'WARREN_DEPLOY_LOAD', /default/],
      ['a default export without fetch', JSON.stringify({ module: 'export default { hello() { return 1 } };' }), 422, 'WARREN_DEPLOY_LOAD', /fetch/],
      ['a default export that is a number', JSON.stringify({ module: 'export default 42;' }), 422, 'WARREN_DEPLOY_LOAD', /fetch/],
      ['an empty module', JSON.stringify({ module: '   ' }), 400, 'WARREN_DEPLOY_INVALID', /"module"/],
      ['a module that is not a string', JSON.stringify({ module: { fetch: 1 } }), 400, 'WARREN_DEPLOY_INVALID', /"module"/],
    ];
    const { statuses } = await withLive(s, 'live', ['live v1'], async () => {
      for (const [what, body, status, code, message] of cases) {
        const a = await send(s, 'PUT', '/v1/functions/live', body);
        t.equal(a.status, status, `${what}: ${status}`);
        t.match(a.json(), { code, fault: 'user', error: message }, `${what}: ${a.text.slice(0, 200)}`);
      }
    });
    t.ok(allOk(statuses), `the live function answered v1 throughout (${statuses.length} requests)`);
    t.equal(await live(), 1, 'the live version is unchanged');
    t.same(await versions(), [1], 'no version of a refused bundle was kept');
  });

  t.test('malformed JSON bodies and content types: 400 that says the body is wrong, never a 5xx', async (t) => {
    const cases: Array<[string, string, string, string]> = [
      ['a cut JSON object', '{"module": "export default', 'application/json', 'WARREN_API_INVALID'],
      ['no body', '', 'application/json', 'WARREN_DEPLOY_INVALID'],
      ['null', 'null', 'application/json', 'WARREN_DEPLOY_INVALID'],
      ['a list', '[]', 'application/json', 'WARREN_DEPLOY_INVALID'],
      ['a string', '"export default {}"', 'application/json', 'WARREN_DEPLOY_INVALID'],
      ['a million nested lists', '['.repeat(1_000_000) + ']'.repeat(1_000_000), 'application/json', 'WARREN_DEPLOY_INVALID'],
      ['a form', 'module=export+default+%7B%7D', 'application/x-www-form-urlencoded', 'WARREN_API_INVALID'],
      ['multipart', '--b\r\nContent-Disposition: form-data; name="module"\r\n\r\nexport default {}\r\n--b--\r\n', 'multipart/form-data; boundary=b', 'WARREN_API_INVALID'],
      ['an unknown field', JSON.stringify({ module: liveModule('x'), limit: { memory: '1g' } }), 'application/json', 'WARREN_DEPLOY_INVALID'],
      ['a limit of the wrong type', JSON.stringify({ module: liveModule('x'), limits: { memory: ['1g'] } }), 'application/json', 'WARREN_DEPLOY_INVALID'],
    ];
    for (const [what, body, type, code] of cases) {
      const a = await send(s, 'PUT', '/v1/functions/live', body, type);
      t.equal(a.status, 400, `${what}: 400`);
      t.match(a.json(), { code, fault: 'user' }, `${what}: ${a.text.slice(0, 160)}`);
    }
    const rollbacks: Array<[string, string]> = [
      ['not JSON', 'version=1'],
      ['a version that is a string', '{"version":"1"}'],
      ['a version past what a number holds', '{"version":1e400}'],
      ['a negative version', '{"version":-1}'],
      ['an unknown field', '{"version":1,"force":true}'],
    ];
    for (const [what, body] of rollbacks) {
      const a = await send(s, 'POST', '/v1/functions/live/rollback', body);
      t.equal(a.status, 400, `rollback with ${what}: 400 ${a.text.slice(0, 160)}`);
    }
    // the content type is not what decides: the body must be JSON whatever it says (a browser
    // cannot send one cross-site anyway, since the bearer token needs a preflight nothing grants)
    t.equal((await send(s, 'PUT', '/v1/functions/plain', JSON.stringify({ module: liveModule('plain') }), 'text/plain')).status, 201, 'a JSON body labelled text/plain deploys');
    t.equal(await live(), 1, 'the live version is unchanged');
    t.equal(s.child.exitCode, null, 'warren serve is running');
  });
  t.test('a bundle that imports node:child_process and spawns: what it starts stays in its sandbox, under its pids cap, seeing only the sandbox', async (t) => {
    // Spawning is allowed: warren runs modules in Node (wrangler's nodejs_compat), and a child is
    // one more task of the same sandbox: the same namespaces, cgroup, limits and egress.
    t.equal((await deploy(s, 'spawner', SPAWNER, { limits: { memory: '512m' } })).status, 201);
    const { result, statuses } = await withLive(s, 'live', ['live v1'], async () => {
      const childAnswer = await invoke(s, `/spawner/child?host=${s.child.pid}`);
      const view = childAnswer.json<{ pid: number; procs: number[]; cgroup: string; pid1: string; host: string }>();
      const spawned = (await invoke(s, '/spawner/spawn?n=40')).json<Record<string, number>>();
      const pids = sandboxCgroups(dirs.cgroupParent).filter((d) => d.startsWith('/sys/fs/cgroup/pids/')).map((d) => ({
        max: fs.readFileSync(`${d}/pids.max`, 'utf8').trim(),
        current: Number(fs.readFileSync(`${d}/pids.current`, 'utf8')),
      }));
      return { view, spawned, pids, marked: marked(dirs.cgroupParent) };
    });
    const { view, spawned, pids } = result;
    t.ok(view.pid < 100 && view.procs.length <= 5, `the child sees its sandbox's pids only (it is pid ${view.pid} of ${view.procs.join(',')})`);
    t.notMatch(view.host, /serve/, `the server's pid is not there to read (${view.host.slice(0, 40)})`);
    t.ok(view.cgroup.split('\n').filter(Boolean).every((l) => l.endsWith(':/')), 'its cgroups are its namespace root');
    t.not(view.pid1, '/sbin/init', 'pid 1 is the sandbox init, not the host one');
    t.ok((spawned.started ?? 0) > 0 && (spawned.EAGAIN ?? 0) > 0, `40 spawns at once: some started, the rest refused at the cap (${JSON.stringify(spawned)})`);
    t.ok(pids.length > 0 && pids.every((p) => p.max === String(PIDS_CAP) && p.current <= PIDS_CAP), `every sandbox under its cap of ${PIDS_CAP} (${pids.map((p) => p.current).join(',')})`);
    t.ok(result.marked.length > 0 && result.marked.every((p) => p.inSandbox), `all ${result.marked.length} children are in a sandbox cgroup`);
    t.ok(allOk(statuses), `the live function answered throughout (${statuses.length} requests)`);
    t.equal((await api(s, 'DELETE', '/v1/functions/spawner')).status, 204);
    await until('the children to end with their function', () => marked(dirs.cgroupParent).length === 0, 20_000);
    t.pass('none outlived its function');
  });
});
