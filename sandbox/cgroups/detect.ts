/**
 * Which cgroup version to drive, decided from the mount table:
 *
 *   cgroup2 mounted at <root> itself          -> v2 (pure v2 hosts; needs memory, cpu, pids)
 *   else cgroup (v1) hierarchies under <root>  -> v1 (needs memory, cpu, cpuacct, pids)
 *
 * A hybrid host (v1 hierarchies plus a cgroup2 at <root>/unified, usually with no controllers)
 * gets v1: the controllers live in the v1 hierarchies.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WarrenError } from '../../lib/errors.js';
import { describe, kernelDirOps, readList } from './files.js';
import { checkParent } from './spec.js';
import type { CgroupDirOps, CgroupDriver } from './types.js';
import { V1Driver, V1_CONTROLLERS, type V1Controller, type V1Mounts } from './v1.js';
import { V2Driver, V2_CONTROLLERS } from './v2.js';

export interface DetectOptions {
  /** cgroupfs root; default /sys/fs/cgroup. */
  root?: string;
  /** Contents of /proc/self/mounts; default read from there. */
  mounts?: string;
  /** Parent cgroup of every sandbox cgroup, a relative path such as 'warren'. */
  parent: string;
  /** How cgroup dirs are made and removed; default plain mkdir/rmdir (tests pass a fake kernel). */
  dirOps?: CgroupDirOps;
}

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
  options: string[];
}

export function detectCgroups(opts: DetectOptions): CgroupDriver {
  checkParent(opts.parent);
  const root = path.resolve(opts.root ?? '/sys/fs/cgroup');
  const ops = opts.dirOps ?? kernelDirOps;
  const mounts = parseMounts(opts.mounts ?? readMounts());

  if (mounts.some((m) => m.fstype === 'cgroup2' && path.resolve(m.target) === root)) {
    const file = `${root}/cgroup.controllers`;
    let have: Set<string>;
    try {
      have = readList(file);
    } catch (err) {
      throw unsupported(`read '${file}': ${describe(err)}`, err);
    }
    const missing = V2_CONTROLLERS.filter((c) => !have.has(c));
    if (missing.length > 0) {
      throw unsupported(`cgroup v2 at '${root}' lacks controller(s) ${missing.join(', ')} (cgroup.controllers: '${[...have].join(' ')}')`);
    }
    return new V2Driver(root, opts.parent, ops);
  }

  const found: Partial<Record<V1Controller, string>> = {};
  for (const m of mounts) {
    const target = path.resolve(m.target);
    if (m.fstype !== 'cgroup' || !(target === root || target.startsWith(`${root}/`))) continue;
    // Co-mounted controllers (cpu,cpuacct) share one mount and so one hierarchy. The first mount
    // of a hierarchy wins; later ones are bind mounts of the same tree.
    for (const c of V1_CONTROLLERS) if (m.options.includes(c)) found[c] ??= target;
  }
  const missing = V1_CONTROLLERS.filter((c) => found[c] === undefined);
  if (missing.length > 0) {
    const what = missing.length === V1_CONTROLLERS.length ? 'no cgroup v1 hierarchies' : `no cgroup v1 hierarchy for ${missing.join(', ')}`;
    throw unsupported(`no cgroup2 mounted at '${root}' and ${what} under it`);
  }
  return new V1Driver(found as V1Mounts, opts.parent, ops);
}

/** Lines of /proc/self/mounts: `source target fstype options dump pass`, spaces escaped as \040. */
export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [source, target, fstype, options] = line.trim().split(/\s+/);
    if (!source || !target || !fstype || options === undefined) continue;
    out.push({ source: unescape(source), target: unescape(target), fstype, options: options.split(',') });
  }
  return out;
}

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function readMounts(): string {
  try {
    return fs.readFileSync('/proc/self/mounts', 'utf8');
  } catch (err) {
    throw unsupported(`read '/proc/self/mounts': ${describe(err)}`, err);
  }
}

function unsupported(why: string, cause?: unknown): WarrenError {
  return new WarrenError(
    'WARREN_CGROUP_UNSUPPORTED',
    `unsupported cgroups: ${why}; warren needs cgroup v2 with memory, cpu and pids, or cgroup v1 with memory, cpu, cpuacct and pids`,
    { cause },
  );
}
