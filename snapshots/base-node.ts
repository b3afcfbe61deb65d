/**
 * The built-in base image `node`: the host's node binary, the shared
 * libraries `ldd` names for it, the extra files its caller names (the CLI
 * adds warren's runtime bundle: cli/wiring.ts), a minimal /etc and empty
 * mount points.
 * Nothing else of the host goes in, so a sandbox sees only what it needs.
 *
 * ensureNodeImage() runs before every `warren run`, so its fast path is a
 * manifest read plus one stat per input file: the manifest records a
 * fingerprint (path, size, mtimeMs, ino) of every input, and only a changed
 * fingerprint (or option, or recipe) pays for ldd, copying and hashing.
 */
import { execFile } from 'node:child_process';
import { constants, statSync } from 'node:fs';
import { chmod, copyFile, lchown, link, lstat, mkdir, readdir, realpath, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { promisify } from 'node:util';
import { WarrenError, errnoOf, isWarrenError } from '../lib/errors.js';
import { readImage, writeImage, type Image } from './image.js';
import { LayerStore } from './store.js';

export const NODE_IMAGE = 'node';

/**
 * Bump when the layer recipe in populate() changes, so images built by an
 * older warren get rebuilt even though no input file changed.
 */
const RECIPE = 2;

export interface ExtraFile {
  /** A regular file on the host. */
  readonly src: string;
  /** Absolute path inside the layer. */
  readonly dest: string;
}

export interface NodeImageOptions {
  /** The node binary to put in the image; default process.execPath. */
  readonly nodePath?: string;
  /** Files carried besides node and its libraries (the CLI adds warren's runtime bundle). */
  readonly extraFiles?: readonly ExtraFile[];
}

interface Fingerprint {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
}

/** What the manifest's `inputs` holds for this image (a type alias, so it fits Image's record type). */
type NodeInputs = {
  readonly recipe: number;
  readonly node: string;
  readonly extraFiles: readonly ExtraFile[];
  readonly files: readonly Fingerprint[];
};

export async function ensureNodeImage(stateDir: string, opts: NodeImageOptions = {}): Promise<Image> {
  const node = resolve(opts.nodePath ?? process.execPath);
  const extraFiles = (opts.extraFiles ?? []).map(checkExtraFile);
  const current = readCurrent(stateDir);
  if (current && isFresh(stateDir, current, node, extraFiles)) return current;
  return buildNodeImage(stateDir, node, extraFiles);
}

function readCurrent(stateDir: string): Image | undefined {
  try {
    return readImage(stateDir, NODE_IMAGE);
  } catch (err) {
    // A corrupt manifest is rebuilt rather than reported: we own this image.
    if (isWarrenError(err, 'WARREN_IMAGE_NOT_FOUND') || isWarrenError(err, 'WARREN_IMAGE_CORRUPT')) return undefined;
    throw err;
  }
}

function isFresh(stateDir: string, image: Image, node: string, extraFiles: readonly ExtraFile[]): boolean {
  const inputs = image.inputs as Partial<NodeInputs> | undefined;
  if (!inputs || inputs.recipe !== RECIPE || inputs.node !== node) return false;
  if (JSON.stringify(inputs.extraFiles) !== JSON.stringify(extraFiles)) return false;
  if (!Array.isArray(inputs.files)) return false;
  for (const f of inputs.files) {
    let now: Fingerprint;
    try {
      now = fingerprint(f.path);
    } catch {
      return false;
    }
    if (now.size !== f.size || now.mtimeMs !== f.mtimeMs || now.ino !== f.ino) return false;
  }
  const store = new LayerStore(stateDir);
  return image.layers.length > 0 && image.layers.every((d) => store.has(d));
}

/** stat, not lstat: a library symlink retargeted by an upgrade shows up as a new ino. */
function fingerprint(path: string): Fingerprint {
  const st = statSync(path);
  return { path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
}

async function buildNodeImage(stateDir: string, node: string, extraFiles: readonly ExtraFile[]): Promise<Image> {
  const libs = await lddLibs(node);
  // Fingerprints come before the copies: a file changed mid-build leaves a
  // stale fingerprint, so the next run rebuilds, instead of a fresh
  // fingerprint hiding old content.
  const paths = [...new Set([node, ...libs, ...extraFiles.map((e) => e.src)])];
  const files = paths.map(fingerprint);
  const digest = await new LayerStore(stateDir).add((dir) => populate(dir, node, libs, extraFiles));
  const inputs: NodeInputs = { recipe: RECIPE, node, extraFiles, files };
  const image: Image = { name: NODE_IMAGE, layers: [digest], created: new Date().toISOString(), inputs };
  // Last, so a crash before this leaves the old image (or none), never a manifest without its layer.
  await writeImage(stateDir, image);
  return image;
}

function checkExtraFile(e: ExtraFile): ExtraFile {
  const dest = posix.normalize(e.dest);
  if (!posix.isAbsolute(dest) || dest === '/' || dest.endsWith('/')) {
    throw new WarrenError('WARREN_IMAGE_BAD_INPUT', `extra file destination '${e.dest}' is not an absolute file path`);
  }
  const src = resolve(e.src);
  let isFile = false;
  try {
    isFile = statSync(src).isFile();
  } catch (err) {
    throw new WarrenError('WARREN_IMAGE_BAD_INPUT', `extra file '${src}': ${(err as Error).message}`, { cause: err });
  }
  if (!isFile) throw new WarrenError('WARREN_IMAGE_BAD_INPUT', `extra file '${src}' is not a regular file`);
  return { src, dest };
}

const run = promisify(execFile);

async function lddLibs(binary: string): Promise<string[]> {
  try {
    const { stdout } = await run('ldd', [binary], { timeout: 10_000 });
    return parseLdd(stdout, binary);
  } catch (err) {
    if (isWarrenError(err)) throw err;
    const out = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
    // A static node needs no libraries; ldd says so and exits 1.
    if (/not a dynamic executable|statically linked/.test(out)) return [];
    throw new WarrenError('WARREN_IMAGE_LDD', `ldd '${binary}': ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The absolute library paths in ldd's output, in order, without duplicates:
 *
 *   libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)   the path after =>
 *   /lib64/ld-linux-x86-64.so.2 (0x...)                     the loader itself
 *   linux-vdso.so.1 (0x...)                                  in the kernel: skipped
 *   libfoo.so.1 => not found                                 an error
 */
export function parseLdd(output: string, binary: string): string[] {
  const libs = new Set<string>();
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (/=>\s*not found/.test(line)) {
      const lib = line.split(/\s/)[0] ?? line;
      throw new WarrenError('WARREN_IMAGE_LIB_NOT_FOUND', `library '${lib}' of '${binary}' not found`);
    }
    const m = /=>\s*(\/\S+)\s+\(0x/.exec(line) ?? /^(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  return [...libs];
}

/** Dirs every sandbox root needs: mount points, homes, scratch space. */
const DIRS: ReadonlyArray<readonly [string, number]> = [
  ['/bin', 0o755], ['/sbin', 0o755], ['/dev', 0o755], ['/etc', 0o755], ['/home', 0o755],
  ['/proc', 0o755], ['/root', 0o700], ['/run', 0o755], ['/sys', 0o755], ['/tmp', 0o1777],
  ['/usr/bin', 0o755], ['/usr/local/bin', 0o755], ['/var/tmp', 0o1777],
];

/** Just enough for getpwuid(), hostname and localhost lookups. resolv.conf is filled per sandbox by the network setup. */
const ETC: ReadonlyArray<readonly [string, string]> = [
  ['/etc/passwd', 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n'],
  ['/etc/group', 'root:x:0:\nnogroup:x:65534:\n'],
  ['/etc/hostname', ''],
  ['/etc/hosts', '127.0.0.1 localhost\n::1 localhost\n'],
  ['/etc/resolv.conf', ''],
  ['/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n'],
];

/**
 * Fills a layer dir. Every mode is set explicitly, so the caller's umask
 * cannot change the digest. Libraries are copied (symlinks resolved) to
 * the exact path ldd named, creating real dirs on the way even where the
 * host has a symlink (/lib64 -> usr/lib64): the loader is found by the path
 * baked into the binary, the libraries by the loader's default dirs.
 */
async function populate(root: string, node: string, libs: readonly string[], extraFiles: readonly ExtraFile[]): Promise<void> {
  for (const [dir, mode] of DIRS) {
    await mkdirs(root, dir);
    await chmod(join(root, dir), mode);
  }
  await shareInto(root, node, '/usr/local/bin/node');
  await symlink('/usr/local/bin/node', join(root, '/usr/bin/node'));
  for (const lib of libs) await shareInto(root, lib, lib);
  for (const [file, text] of ETC) {
    await writeFile(join(root, file), text);
    await chmod(join(root, file), 0o644);
  }
  // After /etc, so an extra file may replace one of ours on purpose. No setuid bits from the host.
  for (const e of extraFiles) await copyInto(root, e.src, e.dest, (await stat(e.src)).mode & 0o777);
  // Only root can chown; a non-root build (unit tests) keeps the caller's ids.
  if (process.geteuid?.() === 0) await chownTree(root);
}

/** mkdir -p inside the layer with 0755 for every dir it creates. */
async function mkdirs(root: string, absDir: string): Promise<void> {
  let cur = root;
  for (const part of absDir.split('/').filter(Boolean)) {
    cur = join(cur, part);
    try {
      await mkdir(cur);
      await chmod(cur, 0o755);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
  }
}

async function copyInto(root: string, src: string, dest: string, mode: number): Promise<void> {
  const to = join(root, dest);
  await mkdirs(root, dirname(dest));
  try {
    // FICLONE shares extents where the filesystem can (btrfs, xfs) and falls back to a copy.
    await copyFile(src, to, constants.COPYFILE_FICLONE);
  } catch (err) {
    throw new WarrenError('WARREN_IMAGE_COPY', `copy '${src}' to '${dest}': ${(err as Error).message}`, { cause: err });
  }
  await chmod(to, mode);
}

/**
 * node and its libraries: the host's very file, hard-linked, where the layer needs nothing of it
 * changed (root's, no setuid, setgid or write bit for others) and both are on one filesystem;
 * else a copy, mode kept without those bits. A sandbox then maps the page cache that every node
 * process of the host maps, `warren serve` included, not a copy only the sandboxes share: node's
 * binary was most of an idle instance's PSS (13.7 of 23.4 MB with three instances, against
 * 1.2 MB for a plain node on the host). A package upgrade replaces the host's file (a new inode):
 * the layer keeps the old one until the fingerprint check rebuilds the image. Nothing writes into
 * a layer once built, and a sandbox's writes go to its overlay's upper dir.
 */
async function shareInto(root: string, src: string, dest: string): Promise<void> {
  // link() does not follow a symlink (libstdc++.so.6 -> libstdc++.so.6.0.30): the file itself
  const file = await realpath(src);
  const st = await stat(file);
  const mode = st.mode & 0o755;
  if (process.geteuid?.() === 0 && st.uid === 0 && st.gid === 0 && (st.mode & 0o7777) === mode) {
    const to = join(root, dest);
    await mkdirs(root, dirname(dest));
    try {
      await link(file, to);
      return;
    } catch (err) {
      // another filesystem (EXDEV), or one that refuses links: a copy, as before
      if (!['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP'].includes(errnoOf(err) ?? '')) {
        throw new WarrenError('WARREN_IMAGE_COPY', `link '${file}' to '${dest}': ${(err as Error).message}`, { cause: err });
      }
    }
  }
  await copyInto(root, file, dest, mode);
}

/** Everything in the layer is root's: a sandbox's root must not find files owned by some host uid. */
async function chownTree(path: string): Promise<void> {
  await lchown(path, 0, 0);
  if (!(await lstat(path)).isDirectory()) return;
  for (const name of await readdir(path)) await chownTree(join(path, name));
}
