import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { loadProject } from './config.js';

/** The entry modules the configs below name: "main" must name a file that exists. */
const ENTRIES = ['i.ts', 'index.ts', 'a.ts', 'b.ts', 'prod.ts', 'src/index.ts'];

function dir(t: Test, files: Record<string, string>): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-config-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  const all = Object.keys(files).length ? { ...Object.fromEntries(ENTRIES.map((e) => [e, ''])), ...files } : {};
  for (const [name, text] of Object.entries(all)) {
    fs.mkdirSync(path.dirname(path.join(d, name)), { recursive: true });
    fs.writeFileSync(path.join(d, name), text);
  }
  return d;
}

t.test('warren.toml: every key of its own', async (t) => {
  const d = dir(t, {
    'warren.toml': [
      'name = "api"', 'main = "src/index.ts"', 'compatibility_date = 2024-09-23', 'egress = ["10.0.0.0/8"]',
      '[vars]', 'A = "1"', '[triggers]', 'crons = ["*/5 * * * *"]',
      '[limits]', 'memory = "128m"', 'cpus = 0.5', 'timeout = "30s"', 'concurrency = 4',
    ].join('\n'),
  });
  t.same(loadProject(d), {
    dir: d, configFile: path.join(d, 'warren.toml'), name: 'api', main: path.join(d, 'src/index.ts'),
    vars: { A: '1' }, define: {}, alias: {}, compatibilityDate: '2024-09-23', crons: ['*/5 * * * *'],
    limits: { memory: '128m', cpus: 0.5, timeoutMs: 30_000, concurrency: 4 }, egress: ['10.0.0.0/8'], notes: [],
  });
});

t.test('warren.toml wins over wrangler.toml; an entry file given is the main module', async (t) => {
  const d = dir(t, { 'warren.toml': 'name = "w"\nmain = "a.ts"\n', 'wrangler.toml': 'name = "cf"\nmain = "b.ts"\n', 'c.ts': '' });
  t.match(loadProject(d), { name: 'w', main: path.join(d, 'a.ts') });
  t.match(loadProject(path.join(d, 'c.ts')), { name: 'w', main: path.join(d, 'c.ts') });
  const bare = dir(t, { 'worker.js': '' });
  const p = loadProject(path.join(bare, 'worker.js'));
  t.equal(p.name, undefined, 'no config: the name is --name');
  t.equal(p.main, path.join(bare, 'worker.js'));
});

t.test('--env: wrangler inheritance', async (t) => {
  const d = dir(t, {
    'wrangler.toml': [
      'name = "app"', 'main = "index.ts"', 'compatibility_date = "2024-01-01"', 'define = { DEBUG = "false" }',
      '[vars]', 'TOP = "top"', '[triggers]', 'crons = ["0 * * * *"]', '[limits]', 'timeout = "10s"',
      '[env.staging]', 'define = { DEBUG = "true" }', '[env.staging.vars]', 'STAGE = "staging"',
      '[env.prod]', 'name = "app-production"', 'main = "prod.ts"', '[env.prod.triggers]', 'crons = []',
    ].join('\n'),
  });
  t.match(loadProject(d, { env: 'staging' }), {
    name: 'app-staging', main: path.join(d, 'index.ts'), compatibilityDate: '2024-01-01',
    vars: { STAGE: 'staging' }, define: { DEBUG: 'true' }, crons: ['0 * * * *'], limits: { timeoutMs: 10_000 },
  });
  t.same(loadProject(d, { env: 'staging' }).vars, { STAGE: 'staging' }, 'vars are not inherited');
  t.match(loadProject(d, { env: 'prod' }), { name: 'app-production', main: path.join(d, 'prod.ts'), vars: {}, define: {}, crons: [] });
  t.throws(() => loadProject(d, { env: 'dev' }), { code: 'WARREN_CONFIG_INVALID', message: /no \[env\.dev\] section \(it has staging, prod\)/ });
});

t.test('a binding warren does not have is refused by name, with its line', async (t) => {
  const toml = dir(t, { 'wrangler.toml': 'name = "a"\nmain = "i.ts"\n\n[[d1_databases]]\nbinding = "DB"\ndatabase_id = "x"\n' });
  t.throws(() => loadProject(toml), { code: 'WARREN_CONFIG_UNSUPPORTED', message: `${path.join(toml, 'wrangler.toml')}:4: "d1_databases" (binding 'DB'): warren does not provide D1 databases; remove it, or reach such a service over fetch` });
  const json = dir(t, { 'wrangler.jsonc': '{\n  "name": "a",\n  "main": "i.ts",\n  // storage\n  "r2_buckets": [{ "binding": "B", "bucket_name": "b" }]\n}' });
  t.throws(() => loadProject(json), { message: /wrangler\.jsonc:5: "r2_buckets" \(binding 'B'\): warren does not provide R2 buckets/ });
  const ai = dir(t, { 'wrangler.toml': 'name = "a"\nmain = "i.ts"\nai = { binding = "AI" }\n' });
  t.throws(() => loadProject(ai), { message: /wrangler\.toml:3: "ai" \(binding 'AI'\): warren does not provide Workers AI/ });
  const inEnv = dir(t, { 'wrangler.toml': 'name = "a"\nmain = "i.ts"\n[env.s]\n[[env.s.kv_namespaces]]\nbinding = "K"\nid = "1"\n' });
  t.throws(() => loadProject(inEnv, { env: 's' }), { message: /wrangler\.toml:4: "env\.s\.kv_namespaces" \(binding 'K'\): warren does not provide Workers KV/ });
  const durable = dir(t, { 'wrangler.json': '{"name":"a","main":"i.ts","durable_objects":{"bindings":[{"name":"ROOM","class_name":"Room"}]}}' });
  t.throws(() => loadProject(durable), { message: /"durable_objects" \(binding 'ROOM'\): warren does not provide Durable Objects/ });
  const empty = dir(t, { 'wrangler.toml': 'name = "a"\nmain = "i.ts"\nkv_namespaces = []\n' });
  t.equal(loadProject(empty).name, 'a', 'an empty list binds nothing');
});

t.test("wrangler's platform settings are noted; warren.toml refuses what it does not know", async (t) => {
  const d = dir(t, { 'wrangler.toml': 'name = "a"\nmain = "i.ts"\nworkers_dev = true\nroutes = ["x.com/*"]\ncompatibility_flags = ["nodejs_compat"]\n[build]\ncommand = "npm run gen"\n[limits]\ncpu_ms = 50\n' });
  const p = loadProject(d);
  t.match(p.notes, [/build\.command is not run: run `npm run gen` before deploying/, /wrangler\.toml: ignored .*: workers_dev, routes, compatibility_flags, build/, /limits\.cpu_ms = 50 is not enforced/]);
  t.same(p.limits, {});
  const w = dir(t, { 'warren.toml': 'name = "a"\nmain = "i.ts"\n\nworkers_dev = true\n' });
  t.throws(() => loadProject(w), { code: 'WARREN_CONFIG_INVALID', message: /warren\.toml:4: unknown key "workers_dev"/ });
  const typo = dir(t, { 'warren.toml': 'name = "a"\nmain = "i.ts"\n[limits]\nmemroy = "1g"\n' });
  t.throws(() => loadProject(typo), { message: /warren\.toml:3: unknown key "limits\.memroy"/ });
});

t.test('parse errors and wrong shapes name the file and line', async (t) => {
  const toml = dir(t, { 'wrangler.toml': 'name = "a"\nmain = \n' });
  t.throws(() => loadProject(toml), { code: 'WARREN_CONFIG_PARSE', message: /wrangler\.toml:2:\d+: not valid TOML/ });
  const json = dir(t, { 'wrangler.json': '{\n  "name": "a",\n  "main": \n}' });
  t.throws(() => loadProject(json), { code: 'WARREN_CONFIG_PARSE', message: /wrangler\.json:4:1: not valid JSON: value expected/ });
  const num = dir(t, { 'wrangler.toml': 'name = "a"\nmain = "i.ts"\n[vars]\nPORT = 8080\n' });
  t.throws(() => loadProject(num), { code: 'WARREN_CONFIG_INVALID', message: /wrangler\.toml:4: "vars\.PORT" is a number, not a string/ });
  const gone = dir(t, { 'wrangler.toml': 'name = "a"\nmain = "src/gone.ts"\n' });
  t.throws(() => loadProject(gone), { code: 'WARREN_CONFIG_INVALID', message: /wrangler\.toml:2: "main" names 'src\/gone\.ts', which does not exist in/ });
  const nomain = dir(t, { 'wrangler.toml': 'name = "a"\n' });
  t.throws(() => loadProject(nomain), { code: 'WARREN_CONFIG_INVALID', message: /no "main"/ });
  const timeout = dir(t, { 'warren.toml': 'name = "a"\nmain = "i.ts"\n[limits]\ntimeout = "soon"\n' });
  t.throws(() => loadProject(timeout), { message: /warren\.toml:3: "limits\.timeout" must be a duration/ });
});

t.test('nothing to deploy is a clear error', async (t) => {
  const d = dir(t, {});
  t.throws(() => loadProject(d), { code: 'WARREN_CONFIG_NOT_FOUND', message: /no warren\.toml, wrangler\.toml, wrangler\.json, wrangler\.jsonc in/ });
  t.throws(() => loadProject(path.join(d, 'missing')), { code: 'WARREN_CONFIG_NOT_FOUND', message: /does not exist/ });
});
