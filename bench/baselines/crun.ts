/**
 * Baseline: crun (containers/crun) running the same pause binary from an OCI bundle that isolates
 * like a warren sandbox (oci.ts). `crun run` in the foreground creates the container, runs it and,
 * when it ends, deletes it (cgroups, state), so one `crun run` is one full cycle.
 *
 * Each concurrency slot has its own bundle, because a bundle names the container's cgroup path and
 * two containers cannot share one. Everything lives under directories of this run, removed by close().
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { WarrenError } from '../../lib/errors.js';
import type { Dirs } from '../../lib/dirs.js';
import { DEFAULT_LIMITS } from '../../sandbox/index.js';
// not (yet) part of sandbox/index.ts: the very values a sandbox gets, so the bundle matches them
import { DEFAULT_RLIMITS, MASKED_PATHS, READONLY_PATHS } from '../../sandbox/index.js';
import { defaultPolicy } from '../../sandbox/seccomp/index.js';
import { hybridUnifiedMount, readMountinfo } from '../machine.js';
import type { Subject } from '../scenario.js';
import { runDriver } from './driver.js';
import { ociConfig } from './oci.js';

export interface CrunOptions {
  crun: string;
  unshare: string | undefined;
  native: { driver: string; pause: string };
  dirs: Pick<Dirs, 'run' | 'cgroupParent'>;
  concurrency: number;
  notes: string[];
  cgroupRoot?: string;
  proc?: string;
}

/** Above warren's own uid leases (1e9 + 4096 * 65536), so no sandbox shares a uid with crun's. */
const CRUN_UID_BASE = 1_500_000_000;
const CRUN_UID_COUNT = 65536;
const CRUN_WORK_PARENT = '/var/tmp';

/** `/var/tmp/<cgroup parent>-bench-crun-<pid>`: the prefix keeps a test run's apart, the pid lets
 * sweepStale find a killed bench's. */
export function crunWorkDir(cgroupParent: string, pid: number): string {
  return path.join(CRUN_WORK_PARENT, `${cgroupParent}-bench-crun-${pid}`);
}

export function crunSubject(o: CrunOptions): Subject {
  const cgroupRoot = o.cgroupRoot ?? '/sys/fs/cgroup';
  // "crun version 1.8.1" -> "crun 1.8.1"
  const version = (execFileSync(o.crun, ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? 'crun').trim().replace(/ version /, ' ');
  // not under the state dir: crun's user namespace maps root to CRUN_UID_BASE, which cannot
  // pass a 0700 dir (a fresh /var/lib/warren is one); /var/tmp is on disk and exec-able where
  // /tmp may be a noexec tmpfs
  const base = crunWorkDir(o.dirs.cgroupParent, process.pid);
  fs.mkdirSync(base, { mode: 0o711 });
  fs.chmodSync(base, 0o711);
  const rootfs = path.join(base, 'rootfs');
  // crun's state, like warren's run dirs, belongs on the run dir (a tmpfs on most hosts)
  const stateDir = path.join(o.dirs.run, `bench-crun-${process.pid}`);
  // a top-level cgroup of its own, so close() can remove everything crun made, whole
  const cgTop = `${o.dirs.cgroupParent}-bench-crun-${process.pid}`;
  for (const d of ['proc', 'dev', 'sys']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync(o.native.pause, path.join(rootfs, 'pause'));
  fs.chmodSync(path.join(rootfs, 'pause'), 0o755);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  for (let slot = 0; slot < o.concurrency; slot++) {
    const config = ociConfig({
      args: ['/pause', '--until-eof'],
      rootfs,
      hostname: 'bench',
      cgroupsPath: `/${cgTop}/c${slot}`,
      uid: { host: CRUN_UID_BASE, count: CRUN_UID_COUNT },
      limits: { memoryBytes: DEFAULT_LIMITS.memoryBytes, cpus: DEFAULT_LIMITS.cpus, pids: DEFAULT_LIMITS.pids },
      rlimits: DEFAULT_RLIMITS,
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      seccomp: defaultPolicy(),
    });
    fs.mkdirSync(path.join(base, `b${slot}`), { recursive: true });
    fs.writeFileSync(path.join(base, `b${slot}`, 'config.json'), JSON.stringify(config));
  }
  let wrapper: string[] | undefined;
  const unified = hybridUnifiedMount(readMountinfo(o.proc));
  if (unified) {
    if (!o.unshare) throw new WarrenError('WARREN_BENCH_BASELINE', 'crun needs unshare (util-linux) on a hybrid cgroup layout');
    // once per batch, outside the measured time: the driver and its crun children see v1 only
    wrapper = [o.unshare, '--mount', '--propagation', 'private', 'sh', '-c', `umount '${unified}' && exec "$0" "$@"`];
    o.notes.push(
      `crun: this machine's cgroup layout is hybrid (cgroup2 on ${unified} besides the v1 controllers), which ${version} refuses ` +
        `("cgroups in hybrid mode not supported"); its cycles run in a private mount namespace where ${unified} is unmounted, ` +
        'so crun uses the v1 controllers as warren does.',
    );
  }
  o.notes.push(`crun: ${version}, OCI bundle with warren's namespaces, limits, masked paths, rlimits and seccomp policy; its root is a plain shared directory, not an overlay.`);
  let batches = 0;
  let closed = false;
  return {
    name: 'crun',
    baseline: true,
    description: `${version}: crun run of an OCI bundle isolating like a warren sandbox (its root: a plain directory)`,
    batch(count, concurrency, tick, signal) {
      const id = `wb${process.pid}-${batches++}-{n}`;
      const command = [o.crun, '--root', stateDir, 'run', '--bundle', path.join(base, 'b{slot}'), id];
      return runDriver({ driver: o.native.driver, wrapper, command, count, concurrency, tick, signal });
    },
    async close() {
      if (closed) return;
      closed = true;
      fs.rmSync(stateDir, { recursive: true, force: true });
      fs.rmSync(base, { recursive: true, force: true });
      const left = sweepCgroups(cgroupRoot, cgTop);
      if (left.length) throw new WarrenError('WARREN_BENCH_LEFTOVER', `crun left cgroups that could not be removed: ${left.join(', ')}`);
    },
  };
}

/** Removes `<hierarchy>/<top>/*` and `<hierarchy>/<top>` in every hierarchy (v1: one per controller,
 * v2: the root itself); returns what could not be removed. */
export function sweepCgroups(cgroupRoot: string, top: string): string[] {
  const hierarchies = [cgroupRoot, ...subdirs(cgroupRoot).map((d) => path.join(cgroupRoot, d))];
  const left: string[] = [];
  for (const h of hierarchies) {
    const dir = path.join(h, top);
    if (!fs.existsSync(dir)) continue;
    for (const leaf of [...subdirs(dir).map((d) => path.join(dir, d)), dir]) {
      try {
        fs.rmdirSync(leaf);
      } catch {
        left.push(leaf);
      }
    }
  }
  return left;
}

function subdirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}
