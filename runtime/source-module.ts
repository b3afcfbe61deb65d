/**
 * A function's module evaluated from the source the host sent, without node's ES module loader:
 * a vm.SourceTextModule (node runs the runtime with --experimental-vm-modules: RUNTIME_NODE_FLAGS
 * in index.ts), its imports of node's built-ins linked to modules made from the built-ins
 * themselves. The runtime is CommonJS and nothing else in it imports, so a runtime whose function
 * imports nothing but built-ins never starts node's ES module loader: its first import() cost
 * 5-6 ms of CPU, and an ES module entry 15 ms more than a CommonJS one (node v20.20 here,
 * medians of 20 interleaved starts).
 *
 * What the function sees is what an import of its source as a data: URL gave (the way before):
 * an ES module (strict, top-level await, live bindings), named `name` in stack traces,
 * import.meta.url the data: URL of its source; built-ins by either name ('node:fs', 'fs');
 * absolute URLs (data:, file:) through node's own loader; a relative or bare specifier fails to
 * resolve, as it did from a data: URL. Without vm.SourceTextModule (node run without the flag)
 * it is imported as that data: URL.
 */
import { isBuiltin } from 'node:module';
import vm from 'node:vm';

/** Evaluates `source` as an ES module named `name`; its namespace. Throws what its compile,
 * link or evaluation threw. */
export async function evaluateSource(source: string, name: string): Promise<unknown> {
  if (typeof vm.SourceTextModule !== 'function') return import(sourceUrl(source, name));
  const linked = new Map<string, Promise<vm.Module>>();
  const mod = quietly(
    () =>
      new vm.SourceTextModule(source, {
        identifier: name,
        initializeImportMeta: (meta) => {
          // made on first use: the URL is the source's size again, x1.33
          let url: string | undefined;
          Object.defineProperty(meta, 'url', { get: () => (url ??= sourceUrl(source, name)), enumerable: true, configurable: true });
        },
        importModuleDynamically: (specifier) => resolved(specifier, name).then(ready),
      }),
  );
  await mod.link((specifier) => {
    let m = linked.get(specifier);
    if (!m) linked.set(specifier, (m = resolved(specifier, name)));
    return m;
  });
  await mod.evaluate();
  return mod.namespace;
}

/** What `specifier` names for the module `name`, as a module not yet linked. */
async function resolved(specifier: string, name: string): Promise<vm.Module> {
  if (isBuiltin(specifier)) return facade(process.getBuiltinModule(specifier) as Record<string, unknown>, specifier, true);
  if (/^[a-z][a-z0-9+.-]*:/i.test(specifier)) return facade((await import(specifier)) as Record<string, unknown>, specifier, false);
  const err = new Error(`Failed to resolve module specifier "${specifier}" from "${name}": a module loaded from its source imports only node's built-in modules and absolute URLs`);
  Object.assign(err, { code: 'ERR_UNSUPPORTED_RESOLVE_REQUEST' });
  throw err;
}

/** A module with `exports`' own keys: a built-in's (its default is the built-in itself, as
 * node's own facade has it) or another module's namespace. */
function facade(exports: Record<string, unknown>, identifier: string, builtin: boolean): vm.Module {
  const names = Object.keys(exports);
  if (builtin && !names.includes('default')) names.push('default');
  return quietly(
    () =>
      new vm.SyntheticModule(
        names,
        function (this: vm.SyntheticModule) {
          for (const k of names) this.setExport(k, builtin && k === 'default' ? exports : exports[k]);
        },
        { identifier },
      ),
  );
}

/** `m` linked (it imports nothing) and evaluated. */
async function ready(m: vm.Module): Promise<vm.Module> {
  if (m.status === 'unlinked') await m.link(() => Promise.reject(new Error('a synthetic module imports nothing')));
  if (m.status === 'linked') await m.evaluate();
  return m;
}

/**
 * Runs `make` without node's one warning that vm modules are experimental (written to stderr
 * outside any log record); any other warning goes out as before, a function's own
 * ExperimentalWarning too, which --disable-warning=ExperimentalWarning would hide.
 */
function quietly<T>(make: () => T): T {
  const emit = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    if (typeof warning === 'string' && warning.startsWith('VM Modules is an experimental feature')) return;
    return (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return make();
  } finally {
    process.emitWarning = emit;
  }
}

/**
 * A module's source as a data: URL, named `name` in stack traces by a sourceURL comment: what a
 * module from its source was imported as before (node decodes it in place, where a file: URL's
 * source is read by asynchronous fs calls through libuv's thread pool: 9.6-15.6 ms at p50 under
 * load, against 0.6 ms), and its import.meta.url still.
 */
export function sourceUrl(source: string, name: string): string {
  return `data:text/javascript;base64,${Buffer.from(`${source}\n//# sourceURL=${name}\n`).toString('base64')}`;
}
