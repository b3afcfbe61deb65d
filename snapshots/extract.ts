/**
 * Extracts tar entries into a fresh layer dir, refusing anything that could
 * write outside it or smuggle host-dangerous files into it. The archive is
 * untrusted (a downloaded rootfs), and we run as root, so every rule here is
 * about not letting a crafted entry reach the host:
 *
 *   path with '..' or a leading '/'         refused: escapes the root
 *   path through an extracted symlink       refused: `l -> /` then `l/etc/passwd` would write the host's
 *   hard link to a path not extracted       refused: `x => /etc/shadow` would expose a host file
 *   device node, fifo, other types          refused: a layer is files, dirs and links
 *   setuid / setgid bits                    stripped (see stripMode)
 *   more bytes than the limit               refused, before the entry's data is written
 *
 * How "never through a symlink" is kept: every parent of an entry is
 * checked with lstat (or was made by us as a real dir, see #dirs), and the
 * last component is created with calls that do not follow it either:
 * open(O_CREAT|O_EXCL|O_NOFOLLOW), mkdir, symlink, link, unlink. Nothing but
 * this process writes into the temp dir, so what lstat saw stays true.
 */
import { constants, type Stats } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, symlink, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { WarrenError, errnoOf, isWarrenError } from '../lib/errors.js';
import { formatMiB } from '../lib/size.js';
import type { TarEntry } from './tar.js';

export interface ExtractOptions {
  /** Refuse an entry whose data would end past this many archive bytes. */
  readonly maxBytes: number;
  /** Give entries the header's uid/gid (lchown); only root can. */
  readonly chown: boolean;
}

export interface ExtractStats {
  entries: number;
  /** Bytes of file data written. */
  bytes: number;
}

// O_CLOEXEC is not in the list: libuv adds it to every open.
const CREATE_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export function unsafe(path: string, why: string): never {
  throw new WarrenError('WARREN_IMAGE_IMPORT_UNSAFE', `refusing entry '${path}': ${why}`);
}

export function tooLarge(what: string, maxBytes: number): never {
  throw new WarrenError('WARREN_IMAGE_IMPORT_TOO_LARGE', `${what} exceeds the import limit of ${formatLimit(maxBytes)}`);
}

/** "2 GiB", "1.5 MiB", "1000 bytes": a limit of 1k must not print as "0 MiB". */
function formatLimit(bytes: number): string {
  if (bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3} GiB`;
  return bytes >= 1024 ** 2 ? formatMiB(bytes) : `${bytes} bytes`;
}

/**
 * setuid/setgid are stripped, not refused: real root filesystems have them
 * (su, passwd, ping), and refusing would refuse every distro image. They
 * could never work in a sandbox (layers are mounted nosuid), but on the host
 * the layer is an ordinary dir under the state dir, and a setuid-root file
 * from someone's tarball there is a local root exploit waiting for a path to
 * it. File capabilities (xattrs) are not extracted at all, for the same reason.
 */
export function stripMode(mode: number): number {
  return mode & 0o1777;
}

/**
 * An archive path as components under the root ([] is the root itself). A
 * leading './' and empty or '.' components are fine; the rest is refused.
 */
export function splitPath(raw: string, entry: string = raw, what = ''): string[] {
  if (raw.includes('\0')) unsafe(entry, `${what}path contains a NUL byte`);
  if (raw.startsWith('/')) unsafe(entry, `${what}absolute path, escapes the root`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) unsafe(entry, `${what}'..' escapes the root`);
  return parts;
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw err;
  }
}

export class Extractor {
  readonly #root: string;
  readonly #opts: ExtractOptions;
  /**
   * Relative paths known to be real dirs: made by us, or seen by lstat. A
   * dir is never replaced (that conflict is refused), so an entry here stays
   * true and saves the lstat of every parent of every later entry.
   */
  readonly #dirs = new Set<string>(['']);
  /**
   * Mode, owner and mtime of dir entries, applied by finish(), deepest
   * first: a 0555 dir must stay writable while it is being filled (for a
   * non-root importer), and filling it would change its mtime anyway.
   */
  readonly #dirMeta = new Map<string, TarEntry>();
  readonly stats: ExtractStats = { entries: 0, bytes: 0 };

  readonly #uid = process.geteuid?.() ?? -1;
  readonly #gid = process.getegid?.() ?? -1;

  constructor(root: string, opts: ExtractOptions) {
    this.#root = root;
    this.#opts = opts;
  }

  /**
   * A new file or symlink is ours already, as no dir is setgid while we
   * extract (finish() sets dir modes last), so most need no chown: one
   * syscall less per entry. Dirs are always chowned: the root comes from
   * mkdtemp, which takes the group of a setgid layers/ dir.
   */
  #chown(e: TarEntry): boolean {
    return this.#opts.chown && (e.uid !== this.#uid || e.gid !== this.#gid);
  }

  #abs(rel: string): string {
    return rel === '' ? this.#root : join(this.#root, rel);
  }

  async add(e: TarEntry): Promise<void> {
    if (e.offset + 512 + e.size > this.#opts.maxBytes) tooLarge(`entry '${e.path}': the archive`, this.#opts.maxBytes);
    const parts = splitPath(e.path);
    try {
      switch (e.type) {
        case 'file': await this.#file(e, parts); break;
        case 'dir': await this.#dir(e, parts); break;
        case 'symlink': await this.#symlink(e, parts); break;
        case 'hardlink': await this.#hardlink(e, parts); break;
        case 'char': case 'block': unsafe(e.path, 'device node'); break;
        case 'fifo': unsafe(e.path, 'fifo'); break;
        default: unsafe(e.path, `unsupported entry type '${e.typeflag}'`);
      }
    } catch (err) {
      if (isWarrenError(err)) throw err;
      throw new WarrenError('WARREN_IMAGE_IMPORT_WRITE', `extract entry '${e.path}': ${(err as Error).message}`, { cause: err });
    }
    this.stats.entries++;
  }

  /**
   * Makes sure every parent of the entry is a real dir, creating missing
   * ones (0755, like tar) when `create`; false when one is missing and not
   * created. A symlink or a file on the way is refused.
   */
  async #parents(entry: string, parents: readonly string[], create: boolean): Promise<boolean> {
    let rel = '';
    for (const part of parents) {
      rel = rel ? `${rel}/${part}` : part;
      if (this.#dirs.has(rel)) continue;
      const st = await lstatOrNull(this.#abs(rel));
      if (st === null) {
        if (!create) return false;
        // The parent is a known real dir, and mkdir does not follow a link at its last component.
        await mkdir(this.#abs(rel));
        await chmod(this.#abs(rel), 0o755);
      } else if (st.isSymbolicLink()) {
        unsafe(entry, `goes through symlink '${rel}'`);
      } else if (!st.isDirectory()) {
        unsafe(entry, `'${rel}' is not a directory`);
      }
      this.#dirs.add(rel);
    }
    return true;
  }

  /** Prepares the entry's own place: parents exist, and an earlier non-dir entry there is removed, as tar does. */
  async #place(e: TarEntry, parts: readonly string[]): Promise<string> {
    if (parts.length === 0) unsafe(e.path, 'only a directory can be the root');
    await this.#parents(e.path, parts.slice(0, -1), true);
    const rel = parts.join('/');
    const st = await lstatOrNull(this.#abs(rel));
    if (st?.isDirectory()) unsafe(e.path, 'would replace a directory');
    // unlink removes a symlink itself, never what it points to.
    if (st) await unlink(this.#abs(rel));
    return this.#abs(rel);
  }

  async #file(e: TarEntry, parts: readonly string[]): Promise<void> {
    const abs = await this.#place(e, parts);
    const fh = await open(abs, CREATE_FILE, 0o600);
    try {
      for await (const chunk of e.body) {
        for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off)).bytesWritten;
        this.stats.bytes += chunk.length;
      }
      // chown before chmod: chown clears setuid bits, and we want the mode to be exactly ours.
      if (this.#chown(e)) await fh.chown(e.uid, e.gid);
      await fh.chmod(stripMode(e.mode));
      await fh.utimes(e.mtime, e.mtime);
    } finally {
      await fh.close();
    }
  }

  async #dir(e: TarEntry, parts: readonly string[]): Promise<void> {
    const rel = parts.join('/');
    if (parts.length > 0) {
      await this.#parents(e.path, parts.slice(0, -1), true);
      if (!this.#dirs.has(rel)) {
        const st = await lstatOrNull(this.#abs(rel));
        if (st === null) await mkdir(this.#abs(rel), 0o700);
        else if (!st.isDirectory()) unsafe(e.path, 'an earlier entry of this path is not a directory');
        this.#dirs.add(rel);
      }
    }
    this.#dirMeta.set(rel, e);
  }

  async #symlink(e: TarEntry, parts: readonly string[]): Promise<void> {
    // Any target is fine as text: it is never followed while extracting.
    if (e.linkpath === '') unsafe(e.path, 'symlink with an empty target');
    if (e.linkpath.includes('\0')) unsafe(e.path, 'symlink target contains a NUL byte');
    const abs = await this.#place(e, parts);
    await symlink(e.linkpath, abs);
    if (this.#chown(e)) await lchown(abs, e.uid, e.gid);
    await lutimes(abs, e.mtime, e.mtime);
  }

  async #hardlink(e: TarEntry, parts: readonly string[]): Promise<void> {
    const target = splitPath(e.linkpath, e.path, `hard link to '${e.linkpath}': `);
    const targetRel = target.join('/');
    const ok = target.length > 0 && (await this.#parents(e.path, target.slice(0, -1), false));
    const st = ok ? await lstatOrNull(this.#abs(targetRel)) : null;
    if (!st?.isFile()) unsafe(e.path, `hard link to '${e.linkpath}', which is not a regular file extracted earlier`);
    if (targetRel === parts.join('/')) unsafe(e.path, 'hard link to itself');
    const abs = await this.#place(e, parts);
    // link(2) does not follow a symlink at the target, and the target was just seen as a file.
    await link(this.#abs(targetRel), abs);
  }

  /** Applies the dirs' own metadata, deepest first (see #dirMeta). */
  async finish(): Promise<void> {
    const depth = (rel: string) => (rel === '' ? 0 : rel.split('/').length);
    const dirs = [...this.#dirMeta.keys()].sort((a, b) => depth(b) - depth(a));
    for (const rel of dirs) {
      const e = this.#dirMeta.get(rel) as TarEntry;
      const abs = this.#abs(rel);
      try {
        // Every path here is in #dirs, so chmod and utimes, which follow links, meet a real dir.
        if (this.#opts.chown) await lchown(abs, e.uid, e.gid);
        await chmod(abs, stripMode(e.mode));
        await utimes(abs, e.mtime, e.mtime);
      } catch (err) {
        throw new WarrenError('WARREN_IMAGE_IMPORT_WRITE', `extract entry '${e.path}': ${(err as Error).message}`, { cause: err });
      }
    }
  }
}
