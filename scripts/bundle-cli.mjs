// Bundles the `warren` command (cli/main.ts and everything it imports, JS dependencies included)
// into dist/warren/, which bin/warren.js runs; `npm run build` and the install script call it
// after tsc.
//
// Why: node loaded ~180 modules compiled by tsc, and the dependencies' own trees (prom-client's
// alone took 70 ms), before `warren serve` could do anything, and that start is on the way back
// after a restart (issue 13: service back within 2 s). One chunk per command, the JS dependencies
// inside: serve's CPU time from exec to its control API answering, after a SIGKILL, went from
// 710-830 ms to 430-520 ms on this 2-core VM (medians of 10, A/B interleaved), its wall time by
// the same third.
//
// Splitting keeps each command's modules lazy (cli/main.ts imports them on demand): without it,
// every command would load what `serve` needs (and the externals below, which ESM imports at the
// top of the bundle), and `warren --help` took three times as long (and serve was slower too).
//
// External, loaded from node_modules at run time:
//   better-sqlite3, koffi  native addons (.node files found from their own directory)
//   esbuild                runs its platform binary, found from its own package
//   undici                 runtime/client.ts requires it lazily by name (createRequire, which esbuild
//                          leaves alone): bundled too, it would load twice, as two copies
// Every module's import.meta.url is its chunk's (dist/warren/...): lib/package-root.ts finds the
// package root from there as from dist/<dir>/ or the sources, and bench/warm.ts finds its load
// child in dist/bench/ (tsc still compiles every module there, for the benches run from dist/).
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const OUT = 'dist/warren';

/** 'prom-client' is its four classes warren uses (prom-client-core.mjs says why). */
const promClientCore = {
  name: 'prom-client-core',
  setup(b) {
    b.onResolve({ filter: /^prom-client$/ }, () => ({ path: fileURLToPath(new URL('./prom-client-core.mjs', import.meta.url)) }));
  },
};

// stale chunks (their names carry a hash) would pile up otherwise
rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: ['cli/main.ts'],
  outdir: OUT,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'koffi', 'esbuild', 'undici'],
  // a package's ES build first: jsonc-parser's main is a UMD whose require() calls esbuild cannot
  // follow (they would look for ./impl/*.js beside the chunk); the others name theirs in exports
  mainFields: ['module', 'main'],
  // the CommonJS dependencies (prom-client...) call require() for node's modules; an ES module
  // has none, so each chunk makes one
  banner: { js: "import { createRequire as __warrenRequire } from 'node:module'; const require = __warrenRequire(import.meta.url);" },
  plugins: [promClientCore],
  logLevel: 'warning',
});
