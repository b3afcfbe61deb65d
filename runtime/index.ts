/**
 * The runtime's public surface for the host side: where its bundle is built, and the protocol.
 * Nothing here runs inside a sandbox; main.ts is the code that does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../lib/package-root.js';
import { WarrenError } from '../lib/errors.js';
import { RUNTIME_IN_IMAGE } from './protocol.js';

export * from './protocol.js';


/**
 * The esbuild bundle of main.ts (`npm run build` writes it), the same from source and from dist/.
 * CommonJS: node runs an ES module entry through its ES module loader, 15 ms more CPU than the same
 * file as CommonJS (node v20.20 here, medians of 20 interleaved starts); a function's module is
 * evaluated without that loader too (source-module.ts). As an ES module the bundle reached its
 * control socket ~7 ms later.
 */
export const RUNTIME_BUNDLE = path.join(packageRoot(import.meta.url), 'runtime', 'build', 'runtime.cjs');

/** The bundle's path, or a clear error when it was never built. */
export function runtimeBundle(): string {
  if (!fs.existsSync(RUNTIME_BUNDLE)) {
    throw new WarrenError('WARREN_RUNTIME_NOT_BUILT', `runtime bundle '${RUNTIME_BUNDLE}' is missing: run npm run build`);
  }
  return RUNTIME_BUNDLE;
}

/** Where the base image has node (snapshots/base-node.ts puts the host's node there). */
export const NODE_IN_IMAGE = '/usr/local/bin/node';

/**
 * node's flags for the runtime, in a sandbox and in the benches' host baselines alike: only
 * --experimental-vm-modules (a flag of node's, not V8's: it makes vm.SourceTextModule, which
 * source-module.ts evaluates a function's module with; it costs no measurable CPU at start), and
 * no V8 flag may be added here. node's builtins (node:http, the fetch classes...) are compiled
 * from a code cache built into the binary, which V8 accepts only under the flags it was made with:
 * any V8 flag makes it compile them from source. Loading node:http and Request took 57-80 ms of
 * CPU here with no flag, 110-180 ms with --no-short-builtin-calls, --no-opt or even
 * --max-old-space-size (7 runs each, busy VM); a runtime's boot in a sandbox, cgroup CPU to its
 * first control answer, 265 against 209 ms (medians of 12 interleaved boots).
 *
 * There was --no-short-builtin-calls. With short builtin calls on (V8's default on x64 and arm64
 * here), V8 maps its embedded builtins next to the JIT code by mapping the node binary's file
 * again; it checks that the file it opens is the one mapped, by device and inode. From the
 * image's overlay that check fails (stat() gives the overlay's device, /proc/self/maps the lower
 * file's) and V8 copies the builtins instead: 1.6 MB of private memory per instance. The flag
 * kept them shared, at the cost above; runtimeBinds() makes the check pass instead.
 */
export const RUNTIME_NODE_FLAGS: readonly string[] = ['--experimental-vm-modules'];

/** The command that starts the runtime in a sandbox from the base image, with `args` for it. */
export function runtimeArgv(...args: string[]): string[] {
  return [NODE_IN_IMAGE, ...RUNTIME_NODE_FLAGS, RUNTIME_IN_IMAGE, ...args];
}

/**
 * What a sandbox running the runtime binds besides its io dir: the host's node binary, read-only,
 * over the image's (the image holds that very file, hard-linked, or a copy of it: the same
 * bytes). A bind mount shows the file's own device and inode to stat() and in /proc/self/maps
 * alike, so V8 maps its builtins from the file (shared page cache) rather than copying them
 * (RUNTIME_NODE_FLAGS says why that matters). `node` is the binary the image was made from.
 */
export function runtimeBinds(node: string = process.execPath): Array<{ src: string; dst: string; readonly: boolean }> {
  return [{ src: fs.realpathSync(node), dst: NODE_IN_IMAGE, readonly: true }];
}

export { RuntimeConnection, RuntimeSocket, waitForSocket } from './client.js';
