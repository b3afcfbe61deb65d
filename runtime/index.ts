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


/** The esbuild bundle of main.ts (`npm run build` writes it), the same from source and from dist/. */
export const RUNTIME_BUNDLE = path.join(packageRoot(import.meta.url), 'runtime', 'build', 'runtime.mjs');

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
 * node's flags for the runtime, in a sandbox and in the benches' host baselines alike.
 *
 * --no-short-builtin-calls: with short builtin calls on (V8's default on x64 and arm64 here), V8
 * maps its embedded builtins next to the JIT code by mapping the node binary's file again; it
 * checks that the file it opens is the one mapped, by device and inode. In a sandbox node runs
 * from an overlayfs, whose stat() gives the overlay's device while /proc/self/maps names the
 * lower file's, so V8 copies the builtins instead: 1.6 MB of private memory per instance (an
 * idle instance's anonymous memory 10.5 -> 8.9 MB, PSS by smaps_rollup). Without them the builtins
 * are called where the binary is mapped, in the page cache every instance shares; CPU per answer
 * did not change measurably (49 vs 51 us, medians of 7 interleaved rounds at 50 connections).
 */
export const RUNTIME_NODE_FLAGS: readonly string[] = ['--no-short-builtin-calls'];

/** The command that starts the runtime in a sandbox from the base image, with `args` for it. */
export function runtimeArgv(...args: string[]): string[] {
  return [NODE_IN_IMAGE, ...RUNTIME_NODE_FLAGS, RUNTIME_IN_IMAGE, ...args];
}

export { RuntimeConnection, RuntimeSocket, waitForSocket } from './client.js';
