/**
 * A project's entry module and its imports, bundled by esbuild into one ES module, as wrangler
 * bundles a worker: the same resolve conditions ('workerd', 'worker', 'browser' on esbuild's
 * browser platform, which wrangler uses by default), so that a package with a Workers build gives
 * that build, the code the project was written and tested against. TypeScript and JSX are
 * esbuild's own; npm packages resolve from the project's node_modules (and those of the dirs
 * above it, as Node does). Node's built-ins (`node:fs`, or `fs`) stay imports: warren runs the
 * module in Node, where wrangler's nodejs_compat is simply true.
 *
 * Refused here, with file:line:column: a build error, and a `cloudflare:*` import (sockets,
 * workers, email...: warren does not provide them; an esbuild plugin says so where it is imported).
 */
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { WarrenError } from '../lib/errors.js';
import { MAX_LOAD_BYTES } from '../runtime/protocol.js';

export interface BundleOptions {
  /** The project's dir: paths in messages are relative to it. */
  dir: string;
  define?: Record<string, string>;
  alias?: Record<string, string>;
}

export interface Bundle {
  code: string;
  bytes: number;
  ms: number;
  /** The source files it was built from (absolute; node_modules included). */
  inputs: string[];
  warnings: string[];
}

/** Conditions wrangler passes to esbuild for a worker (its getBuildConditions). */
export const CONDITIONS = ['workerd', 'worker', 'browser'];

const NODE_BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith('_')));
const UNSUPPORTED = 'warren-unsupported';
/** No file bigger than a whole deploy may be (its module travels in one load request). */
export const MAX_INPUT_BYTES = MAX_LOAD_BYTES;
/** Workers' older format: a script that listens for fetch events instead of exporting a handler. */
const SERVICE_WORKER = /addEventListener\(\s*["']fetch["']/;

export function buildOptions(entry: string, opts: BundleOptions): esbuild.BuildOptions & { metafile: true; write: false } {
  return {
    entryPoints: [entry],
    absWorkingDir: opts.dir,
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'browser',
    conditions: CONDITIONS,
    target: 'es2022',
    // class and function names survive, as wrangler keeps them (error messages, instanceof checks by name)
    keepNames: true,
    sourcemap: false,
    logLevel: 'silent',
    define: opts.define ?? {},
    alias: opts.alias ?? {},
    plugins: [nodeAndCloudflare, regularFiles],
  };
}

/** `node:x` and Node's bare built-ins stay imports; `cloudflare:x` is refused where it is imported. */
const nodeAndCloudflare: esbuild.Plugin = {
  name: UNSUPPORTED,
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, external: true }));
    build.onResolve({ filter: /^[a-z_]+(\/[a-z_/]+)?$/ }, (args) => (NODE_BUILTINS.has(args.path) ? { path: args.path, external: true } : undefined));
    build.onResolve({ filter: /^cloudflare:/ }, (args) => ({
      errors: [{ text: `'${args.path}' is a Cloudflare Workers module: warren does not provide it` }],
    }));
  },
};

/**
 * Each file is checked before esbuild reads it: a device, FIFO or socket (an import of a symlink
 * to /dev/zero, in a project cloned from someone else) would have esbuild read without end, its
 * memory growing until the machine's runs out; a file bigger than a deploy could never deploy.
 * Symlinks are followed, as Node and wrangler follow them: what a project imports is its own.
 */
const regularFiles: esbuild.Plugin = {
  name: 'warren-inputs',
  setup(build) {
    const dir = build.initialOptions.absWorkingDir ?? process.cwd();
    // a path in the project is named from it; one outside it (a symlink's target) in full
    const shown = (file: string) => (file.startsWith(dir + path.sep) ? path.relative(dir, file) : file);
    build.onLoad({ filter: /.*/, namespace: 'file' }, (args) => {
      let st: fs.Stats;
      try {
        st = fs.statSync(args.path);
      } catch {
        return undefined; // esbuild names a missing or unreadable file itself
      }
      if (!st.isFile()) return { errors: [{ text: `'${shown(args.path)}' is not a regular file (a device, FIFO or socket): it cannot be bundled` }] };
      if (st.size > MAX_INPUT_BYTES) return { errors: [{ text: `'${shown(args.path)}' is ${st.size} bytes, more than a deploy may hold (${MAX_INPUT_BYTES})` }] };
      return undefined;
    });
  },
};

export async function bundle(entry: string, opts: BundleOptions): Promise<Bundle> {
  const started = performance.now();
  let result: esbuild.BuildResult<{ metafile: true; write: false }>;
  try {
    result = await esbuild.build(buildOptions(entry, opts));
  } catch (err) {
    throw buildError(err, opts.dir);
  }
  return toBundle(result, opts.dir, performance.now() - started);
}

/** The same project built again and again (`warren dev`): esbuild's incremental context, which
 * re-reads only what changed. */
export class Bundler {
  readonly #ctx: esbuild.BuildContext<{ metafile: true; write: false }>;
  readonly #dir: string;

  private constructor(ctx: esbuild.BuildContext<{ metafile: true; write: false }>, dir: string) {
    this.#ctx = ctx;
    this.#dir = dir;
  }

  static async create(entry: string, opts: BundleOptions): Promise<Bundler> {
    return new Bundler(await esbuild.context(buildOptions(entry, opts)), opts.dir);
  }

  async build(): Promise<Bundle> {
    const started = performance.now();
    let result: esbuild.BuildResult<{ metafile: true; write: false }>;
    try {
      result = await this.#ctx.rebuild();
    } catch (err) {
      throw buildError(err, this.#dir);
    }
    return toBundle(result, this.#dir, performance.now() - started);
  }

  async close(): Promise<void> {
    await this.#ctx.dispose();
  }
}

/** A build's output, refused when it has no default export: nothing there for warren to call.
 * (Whether the default has fetch or scheduled is the runtime's to say, when it loads it.) */
export function toBundle(result: esbuild.BuildResult<{ metafile: true; write: false }>, dir: string, ms: number): Bundle {
  const out = result.outputFiles[0];
  if (out === undefined) throw new WarrenError('WARREN_BUNDLE_BUILD', 'esbuild wrote no output');
  const meta = Object.values(result.metafile.outputs)[0];
  if (meta !== undefined && !meta.exports.includes('default')) {
    const entry = meta.entryPoint ?? 'the entry module';
    throw new WarrenError(
      'WARREN_BUNDLE_EXPORT',
      `${entry} has no default export: a worker exports default { fetch(request, env, ctx) } (or an app with a fetch method, as Hono's)` +
        (meta.exports.length ? `; it exports ${meta.exports.join(', ')}` : '') +
        (SERVICE_WORKER.test(out.text) ? "; addEventListener('fetch', ...) is the service-worker format, which warren does not run" : ''),
    );
  }
  return {
    code: out.text,
    bytes: out.contents.byteLength,
    ms: Math.round(ms),
    inputs: Object.keys(result.metafile.inputs).map((f) => path.resolve(dir, f)),
    warnings: result.warnings.map((w) => formatMessage(w, dir, 'warning')),
  };
}

/** esbuild's failure as a WarrenError: one line per error, `file:line:column: message`. */
export function buildError(err: unknown, dir: string): WarrenError {
  const errors = (err as { errors?: esbuild.Message[] }).errors;
  if (!Array.isArray(errors) || errors.length === 0) return new WarrenError('WARREN_BUNDLE_BUILD', `the build failed: ${(err as Error).message}`, { cause: err });
  const shown = errors.slice(0, 10).map((e) => formatMessage(e, dir, 'error'));
  if (errors.length > shown.length) shown.push(`... and ${errors.length - shown.length} more`);
  const code = errors.some((e) => e.pluginName === UNSUPPORTED) ? 'WARREN_BUNDLE_UNSUPPORTED' : 'WARREN_BUNDLE_BUILD';
  return new WarrenError(code, `the build failed:\n${shown.join('\n')}`, { cause: err });
}

/** `src/index.ts:3:7: error: Expected ";" but found "x"` and the line it points at. */
export function formatMessage(m: esbuild.Message, dir: string, kind: 'error' | 'warning'): string {
  const loc = m.location;
  if (loc === null) return `${kind}: ${m.text}`;
  const file = path.isAbsolute(loc.file) ? path.relative(dir, loc.file) : loc.file;
  const caret = loc.lineText ? `\n    ${loc.lineText}\n    ${' '.repeat(loc.column)}^` : '';
  return `${file}:${loc.line}:${loc.column + 1}: ${kind}: ${m.text}${caret}`;
}
