/**
 * Images are small JSON manifests, `<stateDir>/images/<name>.json`, naming
 * their layers top first (the order overlay's `lowerdir=` wants). The
 * content lives in the layer store; a manifest is only a list of digests.
 *
 * Reads are synchronous on purpose: they sit on the path of every
 * `warren run` and touch one small file. writeImage is async because it
 * fsyncs before the rename that publishes the manifest.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { WarrenError, errnoOf } from '../lib/errors.js';
import { syncDir } from '../lib/sync-dir.js';
import { LayerStore, isDigest } from './store.js';
import { listKept } from './kept.js';

export interface Image {
  readonly name: string;
  /** Layer digests, top first. */
  readonly layers: readonly string[];
  /** ISO 8601 time the manifest was written. */
  readonly created: string;
  /** What the image was built from, as its builder records it (used to skip rebuilds). */
  readonly inputs?: Readonly<Record<string, unknown>>;
}

// A name becomes a file name: no '/', no leading '.', which marks temp files.
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$/;

function imagesDir(stateDir: string): string {
  return join(stateDir, 'images');
}

export function checkImageName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new WarrenError('WARREN_IMAGE_INVALID_NAME', `invalid image name '${name}'`);
  }
}

export function readImage(stateDir: string, name: string): Image {
  checkImageName(name);
  const file = join(imagesDir(stateDir), `${name}.json`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') {
      throw new WarrenError('WARREN_IMAGE_NOT_FOUND', `unknown image '${name}'`, { cause: err });
    }
    throw new WarrenError('WARREN_IMAGE_READ', `read image '${name}': ${(err as Error).message}`, { cause: err });
  }
  return parseImage(text, name);
}

/** Validates a manifest, so later code can trust digests and the layer order. */
function parseImage(text: string, name: string): Image {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new WarrenError('WARREN_IMAGE_CORRUPT', `image '${name}' is not valid json`, { cause: err });
  }
  const m = data as Partial<Record<keyof Image, unknown>> | null;
  const ok =
    typeof m === 'object' && m !== null &&
    m.name === name &&
    Array.isArray(m.layers) && m.layers.every((d) => typeof d === 'string' && isDigest(d)) &&
    typeof m.created === 'string' &&
    (m.inputs === undefined || (typeof m.inputs === 'object' && m.inputs !== null));
  if (!ok) throw new WarrenError('WARREN_IMAGE_CORRUPT', `image '${name}' has an invalid manifest`);
  return data as Image;
}

/** Publishes a manifest atomically: a reader sees the old one or the new one, never a mix. */
export async function writeImage(stateDir: string, image: Image): Promise<void> {
  checkImageName(image.name);
  for (const d of image.layers) {
    if (!isDigest(d)) throw new WarrenError('WARREN_LAYER_INVALID_DIGEST', `invalid layer digest '${d}'`);
  }
  const dir = imagesDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.tmp-${image.name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  const final = join(dir, `${image.name}.json`);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(JSON.stringify(image, null, 2) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new WarrenError('WARREN_IMAGE_WRITE', `write image '${image.name}': ${(err as Error).message}`, { cause: err });
  }
  await syncDir(dir);
}


/**
 * The kept sandboxes that need image `name` to stay (`warren run --name N --keep`): their
 * changes sit on its layers until `warren commit` or `warren kept rm`. Returns their names.
 */
export function imageUsers(stateDir: string, name: string): string[] {
  return listKept(stateDir).filter((k) => k.image === name).map((k) => k.name);
}

/**
 * Removes an image's manifest; its layers stay until `warren image gc`,
 * since another image may share them. The built-in `node` may go too: the
 * next run that needs it builds it again.
 */
export async function removeImage(stateDir: string, name: string): Promise<void> {
  checkImageName(name);
  const users = imageUsers(stateDir, name);
  if (users.length > 0) {
    throw new WarrenError('WARREN_IMAGE_IN_USE', `image '${name}' is used by sandbox ${users.map((u) => `'${u}'`).join(', ')}`);
  }
  const dir = imagesDir(stateDir);
  try {
    await unlink(join(dir, `${name}.json`));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw new WarrenError('WARREN_IMAGE_NOT_FOUND', `unknown image '${name}'`, { cause: err });
    throw new WarrenError('WARREN_IMAGE_WRITE', `remove image '${name}': ${(err as Error).message}`, { cause: err });
  }
  await syncDir(dir);
}

/** All images, sorted by name. Temp files of unfinished writes (leading '.') are not names, so are skipped. */
export function listImages(stateDir: string): Image[] {
  let names: string[];
  try {
    names = readdirSync(imagesDir(stateDir));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .filter((n) => NAME_RE.test(n))
    .sort()
    .map((name) => readImage(stateDir, name));
}

/**
 * The absolute layer dirs of an image, top first, ready for overlay's
 * lowerdir. Each must exist: a missing one means GC or a manual rm broke the
 * image, and mounting without it would silently give a different root.
 */
export function imageLayerPaths(stateDir: string, name: string): string[] {
  const image = readImage(stateDir, name);
  const store = new LayerStore(stateDir);
  return image.layers.map((digest) => {
    if (!store.has(digest)) {
      throw new WarrenError('WARREN_LAYER_NOT_FOUND', `image '${name}' needs missing layer '${digest}'`);
    }
    return store.path(digest);
  });
}
