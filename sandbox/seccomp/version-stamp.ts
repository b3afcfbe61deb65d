/**
 * libseccomp's version for the BPF cache key (compile.ts), without loading the library when its
 * file is the one seen last time. Loading koffi and libseccomp cost each `warren run` ~13 ms,
 * only to learn a version that changes when the package is upgraded, and an upgrade replaces the
 * file: a stamp beside the cache records the file's identity (path, inode, size, mtime) and the
 * version it had. Anything unexpected (no stamp, a changed or missing file) loads the library.
 */
import fs from 'node:fs';
import path from 'node:path';
import { libseccompVersion } from './libseccomp.js';

interface Stamp {
  path: string;
  ino: number;
  size: number;
  mtimeMs: number;
  version: string;
}

export interface Loaded {
  version: string;
  /** The file the dynamic loader mapped, or undefined when it cannot be told. */
  path: string | undefined;
}

/** The libseccomp file this process mapped, from /proc/self/maps. */
export function mappedLibseccomp(maps = '/proc/self/maps'): string | undefined {
  const line = fs.readFileSync(maps, 'utf8').split('\n').find((l) => /\/libseccomp\.so[^/]*$/.test(l));
  return line ? line.slice(line.indexOf('/')) : undefined;
}

function load(): Loaded {
  const version = libseccompVersion();
  return { version, path: mappedLibseccomp() };
}

function same(st: fs.Stats, s: Stamp): boolean {
  return st.ino === s.ino && st.size === s.size && st.mtimeMs === s.mtimeMs;
}

export function libseccompVersionStamped(stampFile: string, loader: () => Loaded = load): string {
  try {
    const stamp = JSON.parse(fs.readFileSync(stampFile, 'utf8')) as Stamp;
    if (typeof stamp.version === 'string' && same(fs.statSync(stamp.path), stamp)) return stamp.version;
  } catch {
    // no stamp yet, or one that does not hold: load the library below
  }
  const loaded = loader();
  if (loaded.path) {
    try {
      const st = fs.statSync(loaded.path);
      const stamp: Stamp = { path: loaded.path, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, version: loaded.version };
      fs.mkdirSync(path.dirname(stampFile), { recursive: true, mode: 0o700 });
      const tmp = `${stampFile}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(stamp));
      fs.renameSync(tmp, stampFile);
    } catch {
      // no stamp: the next start loads the library again, nothing worse
    }
  }
  return loaded.version;
}
