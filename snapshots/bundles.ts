/**
 * Function bundles in the layer store: a version's bundle (one ES module's source) is a layer
 * holding one file, `fn/worker.mjs`, read-only for everyone (0444, in a 0755 dir) so a sandbox
 * whatever its uid can import it once the layer is mounted or bound in. Being a layer, it is named
 * by its digest: the same bytes stored twice are one layer, and a registry (or, later, S3) needs
 * to keep nothing but that digest. The digest is the layer's tree digest (store.ts), not a plain
 * sha256 of the bytes: it also covers the file's name, mode and owner.
 *
 * GC keeps a bundle layer only while something names it: the caller passes the registry's
 * digests to collectLayers as `keep`.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, WarrenError } from '../lib/errors.js';
import { LayerStore } from './store.js';

/** Where the module sits inside its layer. */
export const BUNDLE_FILE = 'fn/worker.mjs';

export interface StoredBundle {
  digest: string;
  sizeBytes: number;
  /** The module file on the host. */
  path: string;
}

export async function putBundle(stateDir: string, source: string | Buffer): Promise<StoredBundle> {
  const bytes = typeof source === 'string' ? Buffer.from(source, 'utf8') : source;
  const digest = await new LayerStore(stateDir).add(async (dir) => {
    const file = join(dir, BUNDLE_FILE);
    await mkdir(join(dir, 'fn'));
    await writeFile(file, bytes);
    // explicit modes: what mkdir and writeFile make depends on the umask, and the modes are in the digest
    await chmod(join(dir, 'fn'), 0o755);
    await chmod(file, 0o444);
  });
  return { digest, sizeBytes: bytes.length, path: bundlePath(stateDir, digest) };
}

/** The module file of the bundle layer `digest` (WARREN_LAYER_INVALID_DIGEST for a malformed one). */
export function bundlePath(stateDir: string, digest: string): string {
  return join(new LayerStore(stateDir).path(digest), BUNDLE_FILE);
}

/** The module's bytes; WARREN_LAYER_NOT_FOUND when GC or a hand took the layer. */
export async function readBundle(stateDir: string, digest: string): Promise<Buffer> {
  const file = bundlePath(stateDir, digest);
  try {
    return await readFile(file);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw new WarrenError('WARREN_LAYER_NOT_FOUND', `bundle layer '${digest}' is missing ('${file}')`, { cause: err });
    throw err;
  }
}
