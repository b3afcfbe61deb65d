/**
 * `warren image import`: a root filesystem tarball (what `docker export` or
 * debootstrap + tar make), plain or gzip, becomes an image of one layer.
 *
 *   file -> [gunzip] -> size limit -> readTar -> Extractor -> LayerStore.add's temp dir
 *        -> mount points -> digest + rename -> manifest
 *
 * Everything streams, so memory does not grow with the archive. A refusal
 * anywhere throws out of the builder, and LayerStore.add() then removes its
 * temp dir: nothing half-imported remains, and the manifest is written only
 * after the layer exists under its digest.
 */
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { WarrenError, errnoOf, isWarrenError } from '../lib/errors.js';
import { NODE_IMAGE } from './base-node.js';
import { Extractor, tooLarge, unsafe, type ExtractStats } from './extract.js';
import { checkImageName, writeImage, type Image } from './image.js';
import { LayerStore } from './store.js';
import { readTar } from './tar.js';

export const DEFAULT_MAX_IMPORT_BYTES = 2 * 1024 ** 3;

export interface ImportOptions {
  /** Largest archive accepted, compressed and uncompressed alike; default 2 GiB. */
  readonly maxBytes?: number;
}

export interface ImportResult extends ExtractStats {
  readonly image: Image;
}

/**
 * Imports `file` as image `name`, replacing an image of that name (like
 * `docker tag`). The built-in `node` cannot be replaced: ensureNodeImage()
 * would take its name back on the next run.
 */
export async function importImage(stateDir: string, name: string, file: string, opts: ImportOptions = {}): Promise<ImportResult> {
  checkImageName(name);
  if (name === NODE_IMAGE) {
    throw new WarrenError('WARREN_IMAGE_RESERVED', `image '${NODE_IMAGE}' is built in and cannot be replaced by an import`);
  }
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_IMPORT_BYTES;
  const path = resolve(file);
  let size: number;
  let regular: boolean;
  try {
    const st = await stat(path);
    [size, regular] = [st.size, st.isFile()];
  } catch (err) {
    throw new WarrenError('WARREN_IMAGE_IMPORT_READ', `read '${file}': ${(err as Error).message}`, { cause: err });
  }
  // A pipe (/dev/stdin) has no size up front; the uncompressed limit still holds for it.
  if (regular && size > maxBytes) tooLarge(`archive '${file}' (${size} bytes)`, maxBytes);

  const isRoot = process.geteuid?.() === 0;
  let stats: ExtractStats = { entries: 0, bytes: 0 };
  const digest = await new LayerStore(stateDir).add(async (dir) => {
    const x = new Extractor(dir, { maxBytes, chown: isRoot });
    for await (const entry of readTar(limit(decompress(path, file), maxBytes))) await x.add(entry);
    await x.finish();
    await ensureNeededDirs(dir);
    stats = x.stats;
  });
  const image: Image = { name, layers: [digest], created: new Date().toISOString(), inputs: { importedFrom: path } };
  await writeImage(stateDir, image);
  return { image, ...stats };
}

/**
 * Dirs a sandbox needs in its root; a root fs without them gets empty ones.
 * It mounts /proc, /sys, /dev and a writable /tmp with host paths into the
 * overlay before it pivots, so a symlink there (`dev -> /etc`) would aim
 * its mkdir and mounts at the host's own dirs: refused, not fixed up, so the
 * user learns the archive is odd. /etc/hosts, /etc/hostname and
 * /etc/resolv.conf are written after the pivot, where a symlinked /etc
 * resolves inside the sandbox: only a missing /etc needs help.
 */
const NEEDED_DIRS: ReadonlyArray<readonly [name: string, mode: number, mountPoint: boolean]> = [
  ['proc', 0o555, true], ['sys', 0o555, true], ['dev', 0o755, true], ['tmp', 0o1777, true], ['etc', 0o755, false],
];

async function ensureNeededDirs(root: string): Promise<void> {
  for (const [name, mode, mountPoint] of NEEDED_DIRS) {
    const abs = `${root}/${name}`;
    const st = await lstat(abs).catch((err: unknown) => {
      if (errnoOf(err) === 'ENOENT') return null;
      throw err;
    });
    if (st?.isDirectory() || (st && !mountPoint)) continue;
    if (st) unsafe(name, 'the sandbox mounts on it, so it must be a directory');
    await mkdir(abs);
    // Explicit chmod: mkdir's mode passes through the umask, which must not change the digest.
    await chmod(abs, mode);
  }
}

/** Compression by magic number, not by file name: a `.tar` that is really gzip works too. */
function compressionOf(head: Buffer): 'gzip' | 'none' | string {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  return 'none';
}

/** The archive's bytes, gunzipped when the first chunk says gzip. Works on pipes, which cannot be read twice. */
async function* decompress(path: string, file: string): AsyncGenerator<Buffer> {
  const input = createReadStream(path, { highWaterMark: 1 << 18 });
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const next = async (): Promise<IteratorResult<Buffer>> => {
    try {
      return await it.next();
    } catch (err) {
      throw new WarrenError('WARREN_IMAGE_IMPORT_READ', `read '${file}': ${(err as Error).message}`, { cause: err });
    }
  };
  try {
    const first = await next();
    if (first.done) return;
    const kind = compressionOf(first.value);
    async function* all(): AsyncGenerator<Buffer> {
      yield first.value as Buffer;
      for (let r = await next(); !r.done; r = await next()) yield r.value;
    }
    if (kind === 'none') {
      yield* all();
      return;
    }
    if (kind !== 'gzip') {
      throw new WarrenError('WARREN_IMAGE_IMPORT_UNSUPPORTED', `'${file}' is compressed with ${kind}: only gzip and plain tar are supported`);
    }
    // pipeline() destroys both streams on an error or when we stop reading early; the error reaches us through the loop.
    const gunzip = pipeline(Readable.from(all()), createGunzip({ chunkSize: 1 << 17 }), () => {});
    try {
      for await (const chunk of gunzip) yield chunk as Buffer;
    } catch (err) {
      if (isWarrenError(err)) throw err;
      throw new WarrenError('WARREN_IMAGE_IMPORT_CORRUPT', `'${file}' is not valid gzip: ${(err as Error).message}`, { cause: err });
    }
  } finally {
    await it.return?.();
  }
}

/** Stops a gzip bomb: counts uncompressed bytes and fails past the limit, before they are written. */
async function* limit(source: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > maxBytes) tooLarge('the uncompressed archive', maxBytes);
    yield chunk;
  }
}
