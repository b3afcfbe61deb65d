/**
 * `warren deploy` end to end (needs root): a real `warren serve`, and the CLI run as a user runs
 * it, in a project's folder, with WARREN_URL / WARREN_TOKEN. A Hono app written for Cloudflare
 * Workers answers on every route as it would there; what cannot deploy is refused with a clear
 * message and exit code 1 while the live version keeps serving.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { NEEDS_ROOT, warren } from '../integration/helpers.js';
import { invoke, ports, serveDirs, startServe, type Server } from './serve-helpers.js';

const dirs = serveDirs('wrntest-deploy');
const HONO_APP = path.resolve(import.meta.dirname, '../fixtures/hono-app');

/** A project in a temp dir: file name -> contents. */
function project(t: Test, files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-deploy-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const worker = (answer: string) => `export default { fetch(request: Request, env: Record<string, string>): Response { return new Response(${answer}); } };\n`;

t.test('warren deploy', { skip: NEEDS_ROOT, timeout: 600_000 }, async (t) => {
  const s: Server = await startServe(dirs, ports(19080), ['--pool', '1', '--keep-alive', '5s', '--no-demo']);
  t.teardown(async () => {
    await s.stop();
    fs.rmSync(dirs.state, { recursive: true, force: true });
  });
  const env = { ...process.env, WARREN_URL: s.control, WARREN_TOKEN: s.token };
  const cli = (...args: string[]) => warren(['deploy', ...args], { env, timeoutMs: 120_000 });

  await t.test('a Hono app written for Workers answers on every route as it would there', async (t) => {
    const r = await cli(HONO_APP);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /deployed hono-app version 1/);
    t.match(r.stdout, new RegExp(`url +${s.data.replace(/\./g, '\\.')}/hono-app/`));
    t.match(r.stdout, /bundle +\d+(\.\d)? KiB \(built in \d+ ms\)/);
    t.match(r.stdout, /deploy +\d+ ms/);
    t.equal(r.stderr, '', 'no progress lines in a pipe');

    const home = await invoke(s, '/hono-app/');
    t.equal(home.status, 200);
    t.equal(home.text, 'Hello Hono!');
    t.same((await invoke(s, '/hono-app/greeting')).json(), { greeting: 'hello from wrangler.toml' }, 'a var read through c.env');
    const list = await invoke(s, '/hono-app/api/books');
    t.equal(list.headers['x-powered-by'], 'Hono', 'the middleware ran');
    t.equal(list.json().length, 2);
    t.same((await invoke(s, '/hono-app/api/books/2')).json(), { id: 2, title: 'Structure and Interpretation of Computer Programs' }, 'a path parameter');
    t.equal((await invoke(s, '/hono-app/api/books/9')).status, 404);
    const made = await invoke(s, '/hono-app/api/books', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Hackers' }) });
    t.equal(made.status, 201, made.text);
    t.same(made.json(), { id: 3, title: 'Hackers' }, 'a JSON body');
    t.equal((await invoke(s, '/hono-app/api/books', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 400);
    const missing = await invoke(s, '/hono-app/nowhere');
    t.equal(missing.status, 404);
    t.equal(missing.text, 'no such page');
  });

  await t.test('--json: one object for scripts', async (t) => {
    const r = await cli(HONO_APP, '--json', '--var', 'GREETING=from a flag');
    t.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    t.match(out, { name: 'hono-app', version: 2, url: `${s.data}/hono-app/`, bundleBytes: Number, buildMs: Number, deployMs: Number, notes: [], warnings: [], compatibilityDate: '2024-09-23' });
    t.equal(r.stdout.trim().split('\n').length, 1, 'one line');
    t.same((await invoke(s, '/hono-app/greeting')).json(), { greeting: 'from a flag' }, '--var wins over the config');
  });

  await t.test('refused with a clear message and exit code 1; the live version keeps serving', async (t) => {
    const live = project(t, { 'wrangler.toml': 'name = "guarded"\nmain = "src/index.ts"\n', 'src/index.ts': worker("'live v1'") });
    t.equal((await cli(live)).code, 0);
    t.equal((await invoke(s, '/guarded/')).text, 'live v1');
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['a syntax error', { 'src/index.ts': 'export default {\n  fetch() { return new Response("x" }\n};\n' }, /src\/index\.ts:2:\d+: error: Expected "\)" but found "}"/],
      ['no default export', { 'src/index.ts': 'export const handler = { fetch() { return new Response("x"); } };\n' }, /src\/index\.ts has no default export/],
      ['a default export without fetch', { 'src/index.ts': 'export default { hello() { return 1; } };\n' }, /version \d+ did not load: .*fetch/],
      ['a cloudflare: import', { 'src/index.ts': "import { connect } from 'cloudflare:sockets';\nexport default { fetch() { return new Response(String(connect)); } };\n" }, /src\/index\.ts:1:\d+: error: 'cloudflare:sockets' is a Cloudflare Workers module: warren does not provide it/],
      ['an unknown binding', { 'wrangler.toml': 'name = "guarded"\nmain = "src/index.ts"\n\n[[kv_namespaces]]\nbinding = "CACHE"\nid = "abc"\n', 'src/index.ts': worker("'kv'") }, /wrangler\.toml:4: "kv_namespaces" \(binding 'CACHE'\): warren does not provide Workers KV/],
    ];
    for (const [what, files, message] of cases) {
      const dir = project(t, { 'wrangler.toml': 'name = "guarded"\nmain = "src/index.ts"\n', ...files });
      const r = await cli(dir);
      t.equal(r.code, 1, `${what}: exit code 1`);
      t.match(r.stderr, message, `${what}: ${r.stderr}`);
      t.equal(r.stdout, '', `${what}: nothing on stdout`);
      t.equal((await invoke(s, '/guarded/')).text, 'live v1', `${what}: the live version still serves`);
    }
    const json = await cli(project(t, { 'wrangler.toml': 'name = "guarded"\nmain = "src/index.ts"\n', 'src/index.ts': 'export default {\n' }), '--json');
    t.equal(json.code, 1);
    t.match(JSON.parse(json.stdout), { code: 'WARREN_BUNDLE_BUILD', error: /src\/index\.ts:2/, exitCode: 1 }, '--json says why too');
  });

  await t.test('wrangler.json and wrangler.jsonc (with comments) are read too', async (t) => {
    const json = project(t, { 'wrangler.json': JSON.stringify({ name: 'from-json', main: 'index.ts', vars: { WHO: 'json' } }), 'index.ts': worker("'hi ' + env.WHO") });
    t.equal((await cli(json)).code, 0);
    t.equal((await invoke(s, '/from-json/')).text, 'hi json');
    const jsonc = project(t, {
      'wrangler.jsonc': '{\n  // the worker\n  "name": "from-jsonc",\n  "main": "index.ts", /* its entry */\n  "vars": { "WHO": "jsonc" },\n}\n',
      'index.ts': worker("'hi ' + env.WHO"),
    });
    const r = await cli(jsonc);
    t.equal(r.code, 0, r.stderr);
    t.equal((await invoke(s, '/from-jsonc/')).text, 'hi jsonc');
  });

  await t.test('--env staging deploys that section, as wrangler does', async (t) => {
    const dir = project(t, {
      'wrangler.toml': 'name = "envapp"\nmain = "index.ts"\n\n[vars]\nSTAGE = "production"\nTOP = "top"\n\n[env.staging.vars]\nSTAGE = "staging"\n',
      'index.ts': worker("env.STAGE + ' ' + (env.TOP ?? 'no top')"),
    });
    const r = await cli(dir, '--env', 'staging');
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /deployed envapp-staging version 1/, "the environment's worker is <name>-<env>");
    t.equal((await invoke(s, '/envapp-staging/')).text, 'staging no top', 'vars are not inherited');
    const none = await cli(dir, '--env', 'nope');
    t.equal(none.code, 1);
    t.match(none.stderr, /no \[env\.nope\] section \(it has staging\)/);
  });

  await t.test('usage errors are exit code 2; an unreachable server 3', async (t) => {
    t.equal((await cli('--bogus')).code, 2);
    // a port of this file's own block that nothing listens on
    const nobody = `http://127.0.0.1:${ports(19080).control + 5}`;
    const r = await warren(['deploy', HONO_APP, '--server', nobody, '--token', 'x'], { env: process.env });
    t.equal(r.code, 3, r.stderr);
    t.match(r.stderr, `cannot reach the warren control API at ${nobody}: ECONNREFUSED`);
  });
});
