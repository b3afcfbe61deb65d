/**
 * The layer store: content-addressed, read-only filesystem trees under
 * `<stateDir>/layers/<sha256hex>/`, each dir being the root of one layer.
 * A sandbox mounts them as overlay lower dirs, so a layer is never changed
 * after it got its name.
 *
 * Write protocol, so a crash never leaves half a layer under a digest name:
 *
 *   mkdtemp layers/.tmp-<pid>-XXXXXX    builder fills it
 *   walk + hash (fsync each entry)      digest = treeDigest(tmp)
 *   rename tmp -> layers/<digest>       atomic; if taken, same content: drop tmp
 *   fsync layers/                       the rename itself survives power loss
 *
 * The pid in the temp name lets sweepTemp() tell a crashed writer's leftovers
 * from a live writer's work in progress, even in another process.
 */
import { createHash, type Hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, open, readdir, readlink, rename, rm, utimes } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { WarrenError, errnoOf } from '../lib/errors.js';
import { pidAlive } from '../lib/leases.js';
import { syncDir } from '../lib/sync-dir.js';
import { isOpaque } from './overlay-marks.js';

const DIGEST_RE = /^[0-9a-f]{64}$/;
const TEMP_PREFIX = '.tmp-';
const FORMAT_HEADER = 'warren-layer-v1\n';
const READ_CHUNK = 1 << 20;

/** Temp dirs this process is filling right now; sweepTemp() must not touch them. */
const activeTemps = new Set<string>();

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

export class LayerStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'layers');
  }

  /** Absolute dir of a layer. Rejects anything but 64 hex digits, so a corrupt manifest cannot point outside the store. */
  path(digest: string): string {
    if (!isDigest(digest)) {
      throw new WarrenError('WARREN_LAYER_INVALID_DIGEST', `invalid layer digest '${digest}'`);
    }
    return join(this.dir, digest);
  }

  has(digest: string): boolean {
    return existsSync(this.path(digest));
  }

  /**
   * Lets `build` populate a fresh dir (mode 0755, owned by the caller), then
   * stores it under its digest and returns the digest. Errors from `build`
   * are rethrown as they are: they belong to the caller.
   */
  async add(build: (dir: string) => Promise<void>): Promise<string> {
    // 0700: a layer holds whatever modes its source had (a 0777 dir, a 0666 file), and an
    // imported one is someone else's tarball; no host user but root may reach into it.
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = await mkdtemp(join(this.dir, `${TEMP_PREFIX}${process.pid}-`));
    activeTemps.add(tmp);
    try {
      // mkdtemp makes 0700; a layer root should look like a normal `/`.
      await chmod(tmp, 0o755);
      await build(tmp);
      // Hash with fsync: once renamed, the content must be on disk too.
      const digest = await hashTree(tmp, true);
      const final = this.path(digest);
      // Reusing a layer counts as publishing it again: see remove().
      if (await touch(final)) {
        await removeTree(tmp);
        return digest;
      }
      // The layer dir's mtime is its publish time, which GC's grace counts from (the build may have taken long).
      await touch(tmp);
      try {
        await rename(tmp, final);
      } catch (err) {
        // Another writer won the race with the same content.
        if (errnoOf(err) !== 'ENOTEMPTY' && errnoOf(err) !== 'EEXIST') throw err;
        await removeTree(tmp);
        return digest;
      }
      await syncDir(this.dir);
      return digest;
    } catch (err) {
      await removeTree(tmp).catch(() => {});
      throw err;
    } finally {
      activeTemps.delete(tmp);
    }
  }

  /** Digests of all layers, sorted; temp dirs are not layers. */
  async list(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter(isDigest).sort();
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return [];
      throw err;
    }
  }

  /**
   * Removes a layer unless it was published or reused less than `graceMs`
   * ago; true when it removed it. The caller (GC) has decided that no
   * manifest names the layer, but an import may be about to write one: add()
   * renames first and writes the manifest after, and reuses an existing
   * layer by touching it. So:
   *
   *   GC                                   add() reusing the same digest
   *   mtime old? else keep                 touch(final): ENOENT -> rename tmp -> final
   *   rename final -> .tmp-<pid>-gc-...    (the layer is gone: add publishes its own copy)
   *   mtime old still? else rename back    (add touched it between the two checks)
   *   rm -rf
   *
   * graceMs 0 (`warren image gc --now`) skips both checks: only safe when
   * nothing imports at the same time.
   */
  async remove(digest: string, graceMs: number): Promise<boolean> {
    const final = this.path(digest);
    const young = async (dir: string) => graceMs > 0 && Date.now() - (await lstat(dir)).mtimeMs < graceMs;
    const doomed = join(this.dir, `${TEMP_PREFIX}${process.pid}-gc-${digest}`);
    activeTemps.add(doomed);
    try {
      if (await young(final)) return false;
      await rename(final, doomed);
      if (await young(doomed)) {
        try {
          await rename(doomed, final);
        } catch (err) {
          // add() already published a fresh copy: ours is surplus.
          if (errnoOf(err) !== 'ENOTEMPTY' && errnoOf(err) !== 'EEXIST') throw err;
          await removeTree(doomed);
        }
        return false;
      }
      await removeTree(doomed);
      return true;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return false;
      throw err;
    } finally {
      activeTemps.delete(doomed);
    }
  }

  /** Bytes a layer takes on disk, like `du -s`: allocated blocks, a hard-linked inode once. */
  async usage(digest: string): Promise<number> {
    const seen = new Set<number>();
    const walk = async (abs: string): Promise<number> => {
      const st = await lstat(abs);
      if (seen.has(st.ino)) return 0;
      seen.add(st.ino);
      let bytes = st.blocks * 512;
      if (st.isDirectory()) for (const name of await readdir(abs)) bytes += await walk(join(abs, name));
      return bytes;
    };
    return walk(this.path(digest));
  }

  /** Recomputes a layer's digest; false when it differs or the layer is missing. */
  async verify(digest: string): Promise<boolean> {
    const dir = this.path(digest);
    if (!existsSync(dir)) return false;
    return (await hashTree(dir, false)) === digest;
  }

  /**
   * Removes temp dirs left by writers that died (their pid is gone) and any
   * of this process that no add() is using. Returns how many it removed.
   * A temp dir of a live process is left alone: it may be mid-build.
   */
  async sweepTemp(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return 0;
      throw err;
    }
    let removed = 0;
    for (const name of names) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const abs = join(this.dir, name);
      if (activeTemps.has(abs)) continue;
      const pid = Number(/^\.tmp-(\d+)-/.exec(name)?.[1]);
      if (Number.isInteger(pid) && pid !== process.pid && pidAlive(pid)) continue;
      await removeTree(abs);
      removed++;
    }
    return removed;
  }
}

/*
 * Digest of a tree, format v1. sha256 over:
 *
 *   "warren-layer-v1\n"
 *   then one record per entry, in pre-order, the root first (path "."),
 *   the children of a directory sorted by the bytes of their UTF-8 names:
 *
 *     <path> NUL <type> NUL <mode> NUL <uid> NUL <gid> NUL <extra> NUL
 *
 *   path   relative to the root, '/'-separated, "." for the root
 *   type   d dir | f regular file | l symlink | c char dev | b block dev | p fifo
 *   mode   (st_mode & 07777) in octal, e.g. "755", "1777"
 *   uid, gid in decimal
 *   extra  f: sha256 hex of the content; l: the link target;
 *          c, b: st_rdev in decimal (overlay whiteouts are c 0);
 *          d: "opaque" when overlay marked it so (trusted.overlay.opaque=y), else empty; p: empty
 *
 * Paths and targets cannot contain NUL, and every record has exactly six
 * fields, so the encoding is unambiguous. Timestamps, other xattrs and
 * hard-link identity are left out on purpose: the same tree copied elsewhere
 * keeps its digest. The opaque mark counts because it changes what the
 * layer means (the dir hides what lower layers hold). Sockets are refused.
 */
export async function treeDigest(dir: string): Promise<string> {
  return hashTree(dir, false);
}

interface Walk {
  readonly root: string;
  readonly hash: Hash;
  readonly buf: Buffer;
  readonly sync: boolean;
}

async function hashTree(root: string, sync: boolean): Promise<string> {
  const w: Walk = { root, hash: createHash('sha256'), buf: Buffer.allocUnsafe(READ_CHUNK), sync };
  w.hash.update(FORMAT_HEADER);
  await hashEntry(w, '.');
  return w.hash.digest('hex');
}

async function hashEntry(w: Walk, rel: string): Promise<void> {
  const abs = rel === '.' ? w.root : join(w.root, rel);
  const st = await lstat(abs);
  const type = typeOf(st, rel);
  let extra = '';
  if (type === 'f') extra = await hashFile(w, abs);
  else if (type === 'l') extra = await readlink(abs);
  else if (type === 'c' || type === 'b') extra = String(st.rdev);
  else if (type === 'd' && isOpaque(abs)) extra = 'opaque';
  const mode = (st.mode & 0o7777).toString(8);
  w.hash.update(`${rel}\0${type}\0${mode}\0${st.uid}\0${st.gid}\0${extra}\0`);
  if (type !== 'd') return;
  const names = (await readdir(abs)).sort(byteOrder);
  for (const name of names) await hashEntry(w, rel === '.' ? name : `${rel}/${name}`);
  // A dir is synced after its entries exist, so their names are durable.
  if (w.sync) await syncDir(abs);
}

function typeOf(st: Stats, rel: string): string {
  if (st.isDirectory()) return 'd';
  if (st.isFile()) return 'f';
  if (st.isSymbolicLink()) return 'l';
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  if (st.isFIFO()) return 'p';
  throw new WarrenError('WARREN_LAYER_UNSUPPORTED_ENTRY', `layer entry '${rel}' is a socket`);
}

async function hashFile(w: Walk, abs: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(abs, 'r');
  try {
    for (;;) {
      const { bytesRead } = await fh.read(w.buf, 0, w.buf.length, null);
      if (bytesRead === 0) break;
      h.update(w.buf.subarray(0, bytesRead));
    }
    // fsync works on a read-only fd and flushes what the builder wrote.
    if (w.sync) await fh.sync();
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

/** Sorts names by their UTF-8 bytes, not UTF-16 units, so the order is the same in any implementation. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Sets a dir's mtime to now; false when it does not exist. */
async function touch(dir: string): Promise<boolean> {
  const now = new Date();
  try {
    await utimes(dir, now, now);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * rm -rf that also works when a builder left a dir without write permission
 * (a non-root owner cannot unlink inside a 0555 dir): on EACCES it makes
 * every dir 0700 and tries again.
 */
export async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } catch (err) {
    if (errnoOf(err) !== 'EACCES' && errnoOf(err) !== 'EPERM') throw err;
    await makeDirsWritable(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

async function makeDirsWritable(dir: string): Promise<void> {
  try {
    await chmod(dir, 0o700);
    for (const ent of await readdir(dir, { withFileTypes: true })) {
      if (ent.isDirectory()) await makeDirsWritable(join(dir, ent.name));
    }
  } catch (err) {
    // The failed rm's other branches may still be deleting while we walk.
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
}


