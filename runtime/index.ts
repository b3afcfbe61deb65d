/**
 * The runtime's public surface for the host side: where its bundle is built, and the protocol.
 * Nothing here runs inside a sandbox; main.ts is the code that does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../lib/package-root.js';
import { WarrenError } from '../lib/errors.js';

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

export { RuntimeConnection, RuntimeSocket, waitForSocket } from './client.js';
