/**
 * The CLI bundle (dist/warren/, scripts/bundle-cli.mjs), as `npm run build` left it: the tests run
 * the TypeScript sources, so only this sees what bundling changed. Each chunk loads (a dependency
 * whose require() calls esbuild cannot follow fails here: jsonc-parser's UMD build did, and took
 * `warren deploy` and `warren dev` with it), and the files its modules find from the package
 * root are there.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const BUNDLE = path.join(ROOT, 'dist', 'warren');

const NOT_BUILT = fs.existsSync(path.join(BUNDLE, 'main.js')) ? false : 'dist/warren is not built: npm run build';

t.test('every chunk loads', { skip: NOT_BUILT }, async (t) => {
  const chunks = fs.readdirSync(path.join(BUNDLE, 'chunks')).filter((f) => f.endsWith('.js'));
  t.ok(chunks.length > 10, 'one chunk per command, and shared ones');
  // in a child: a chunk's top level loads what its command needs (undici, http2...)
  const script = `for (const f of ${JSON.stringify(chunks)}) await import('./chunks/' + f).catch((e) => console.log(f + ': ' + e.message.split('\\n')[0]));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: BUNDLE, encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, '', 'no chunk failed to load');
});

t.test('warren --help runs from the bundle', { skip: NOT_BUILT }, async (t) => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'warren.js'), '--help'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^usage: warren <command>/);
});

t.test('what bundled modules find from the package root is there', { skip: NOT_BUILT }, async (t) => {
  // runtime/index.ts, sandbox/spawner.ts, cli/serve.ts and bench/warm.ts, as they name them
  for (const file of ['runtime/build/runtime.cjs', 'sandbox/native/build/warren-spawner', 'examples/hello/worker.js', 'dist/bench/load.js', 'bin/warren.js']) {
    t.ok(fs.existsSync(path.join(ROOT, file)), file);
  }
  t.notOk(fs.existsSync(path.join(ROOT, 'dist', 'package.json')), 'no package.json under dist/: packageRoot() goes up to this one');
});
