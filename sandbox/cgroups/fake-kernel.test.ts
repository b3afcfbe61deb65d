/**
 * A fake cgroupfs on plain directories in a temp dir, for unit tests without root. It plays the
 * kernel's part in what the drivers do through CgroupDirOps:
 *
 *   mkdir  creates the interface files a new cgroup would have (by hierarchy on v1, by the
 *          parent's enabled controllers on v2, whose pending `+x -y` writes it applies first)
 *   rmdir  EBUSY while cgroup.procs lists a pid or a child cgroup exists; else removes it all
 *
 * Reads and writes of interface files go to the plain files. Imported by the other tests; run on
 * its own, it tests itself.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { detectCgroups } from './detect.js';
import type { CgroupDirOps, CgroupDriver } from './types.js';

/** All a fake needs from a tap test: removing the tree at its end. */
type Test = { teardown(fn: () => void): void };

export interface FakeOptions {
  version: 1 | 2;
  /** v1: cpu and cpuacct co-mounted at <root>/cpu,cpuacct (else separate, like this machine). */
  coMount?: boolean;
  /** Swap accounting: memory.memsw.* (v1), memory.swap.max (v2). Default true. */
  swap?: boolean;
  /** v2: cgroup.kill (5.14+). Default true. */
  cgroupKill?: boolean;
  /** v2: memory.peak (5.19+). Default true. */
  memoryPeak?: boolean;
  /** v2: the root's cgroup.controllers. */
  rootControllers?: string;
  /** v2: the root's cgroup.subtree_control. */
  rootSubtree?: string;
}

const V2_ALL = 'cpuset cpu io memory hugetlb pids rdma misc';
const V1_HIERARCHIES = ['cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'];
const UNLIMITED = '9223372036854771712';

export class FakeKernel implements CgroupDirOps {
  readonly root: string;
  readonly mounts: string;
  readonly opts: Required<FakeOptions>;
  /** Interface files that new cgroups get as directories, so writing them fails (EISDIR). */
  readonly broken = new Set<string>();
  /** v2: controllers enabled in each dir's subtree_control, as the kernel holds them. */
  readonly #enabled = new Map<string, Set<string>>();
  /** v1: mount point -> controllers of that hierarchy. */
  readonly #hierarchies = new Map<string, string[]>();

  constructor(root: string, opts: FakeOptions) {
    this.root = root;
    this.opts = { coMount: false, swap: true, cgroupKill: true, memoryPeak: true, rootControllers: V2_ALL, rootSubtree: '', ...opts };
    this.mounts = opts.version === 2 ? this.#setupV2() : this.#setupV1();
  }

  /** The driver detected from this tree's mount table. */
  driver(parent = 'warren'): CgroupDriver {
    return detectCgroups({ root: this.root, mounts: this.mounts, parent, dirOps: this });
  }

  mkdir(dir: string): void {
    fs.mkdirSync(dir); // EEXIST, ENOENT as the kernel would
    const files = this.opts.version === 2 ? this.#v2Files(path.dirname(dir)) : this.#v1Files(this.#hierarchyOf(dir));
    for (const [name, text] of Object.entries(files)) {
      if (this.broken.has(name)) fs.mkdirSync(`${dir}/${name}`);
      else fs.writeFileSync(`${dir}/${name}`, text);
    }
  }

  rmdir(dir: string): void {
    if (!fs.existsSync(dir)) throw errno('ENOENT', 'rmdir', dir);
    const children = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && fs.existsSync(`${dir}/${e.name}/cgroup.procs`));
    const procs = fs.existsSync(`${dir}/cgroup.procs`) ? fs.readFileSync(`${dir}/cgroup.procs`, 'utf8').trim() : '';
    if (children.length > 0 || procs !== '') throw errno('EBUSY', 'rmdir', dir);
    fs.rmSync(dir, { recursive: true });
    this.#enabled.delete(dir);
  }

  /** Write a file, creating dirs: for stats fixtures and pids in cgroup.procs. */
  put(file: string, text: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }

  read(file: string): string {
    return fs.readFileSync(file, 'utf8').trim();
  }

  #setupV1(): string {
    const r = this.root;
    const lines = [`tmpfs ${r} tmpfs rw,nosuid,nodev,noexec,mode=755 0 0`];
    const cpu = this.opts.coMount ? [['cpu,cpuacct', ['cpu', 'cpuacct']]] : [['cpu', ['cpu']], ['cpuacct', ['cpuacct']]];
    const all = [...cpu, ...V1_HIERARCHIES.map((h) => [h, [h]])] as [string, string[]][];
    for (const [dir, ctrls] of all) {
      const mount = `${r}/${dir}`;
      fs.mkdirSync(mount);
      this.#hierarchies.set(mount, ctrls);
      for (const [name, text] of Object.entries(this.#v1Files(ctrls))) {
        if (name !== 'pids.max') fs.writeFileSync(`${mount}/${name}`, text); // roots have no pids.max
      }
      lines.push(`cgroup ${mount} cgroup rw,nosuid,nodev,noexec,relatime,${ctrls.join(',')} 0 0`);
    }
    fs.mkdirSync(`${r}/systemd`);
    lines.push(`cgroup ${r}/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0`);
    fs.mkdirSync(`${r}/unified`);
    fs.writeFileSync(`${r}/unified/cgroup.controllers`, 'hugetlb\n');
    lines.push(`cgroup2 ${r}/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0`);
    return lines.join('\n') + '\n';
  }

  #setupV2(): string {
    const r = this.root;
    fs.writeFileSync(`${r}/cgroup.controllers`, `${this.opts.rootControllers}\n`);
    fs.writeFileSync(`${r}/cgroup.subtree_control`, this.opts.rootSubtree ? `${this.opts.rootSubtree}\n` : '');
    fs.writeFileSync(`${r}/cgroup.procs`, '1\n');
    fs.writeFileSync(`${r}/cpu.stat`, 'usage_usec 0\n');
    this.#enabled.set(r, words(this.opts.rootSubtree));
    return `cgroup2 ${r} cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0\n`;
  }

  #hierarchyOf(dir: string): string[] {
    for (const [mount, ctrls] of this.#hierarchies) if (dir.startsWith(`${mount}/`)) return ctrls;
    throw errno('EPERM', 'mkdir', dir); // outside any hierarchy: the tmpfs is read-only
  }

  #v1Files(ctrls: string[]): Record<string, string> {
    const f: Record<string, string> = { 'cgroup.procs': '', tasks: '', notify_on_release: '0\n' };
    if (ctrls.includes('memory')) {
      Object.assign(f, {
        'memory.limit_in_bytes': `${UNLIMITED}\n`,
        'memory.max_usage_in_bytes': '0\n',
        'memory.usage_in_bytes': '0\n',
        'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n',
      });
      if (this.opts.swap) Object.assign(f, { 'memory.memsw.limit_in_bytes': `${UNLIMITED}\n`, 'memory.memsw.max_usage_in_bytes': '0\n' });
    }
    if (ctrls.includes('cpu')) Object.assign(f, { 'cpu.cfs_period_us': '100000\n', 'cpu.cfs_quota_us': '-1\n', 'cpu.shares': '1024\n' });
    if (ctrls.includes('cpuacct')) Object.assign(f, { 'cpuacct.usage': '0\n' });
    if (ctrls.includes('pids')) Object.assign(f, { 'pids.max': 'max\n', 'pids.current': '0\n' });
    return f;
  }

  /** Files of a new child of parent: what parent enabled, after applying its pending writes. */
  #v2Files(parent: string): Record<string, string> {
    const ctrls = this.#applySubtreeControl(parent);
    const f: Record<string, string> = {
      'cgroup.procs': '',
      'cgroup.controllers': [...ctrls].join(' ') + '\n',
      'cgroup.subtree_control': '',
      'cgroup.events': 'populated 0\nfrozen 0\n',
      'cgroup.type': 'domain\n',
      'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n',
    };
    if (this.opts.cgroupKill) f['cgroup.kill'] = '';
    if (ctrls.has('memory')) {
      Object.assign(f, { 'memory.max': 'max\n', 'memory.current': '0\n', 'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n' });
      if (this.opts.swap) f['memory.swap.max'] = 'max\n';
      if (this.opts.memoryPeak) f['memory.peak'] = '0\n';
    }
    if (ctrls.has('cpu')) Object.assign(f, { 'cpu.max': 'max 100000\n', 'cpu.weight': '100\n' });
    if (ctrls.has('pids')) Object.assign(f, { 'pids.max': 'max\n', 'pids.current': '0\n' });
    return f;
  }

  /** Apply `+x -y` left in <dir>/cgroup.subtree_control and rewrite it the way the kernel reads back. */
  #applySubtreeControl(dir: string): Set<string> {
    const file = `${dir}/cgroup.subtree_control`;
    const enabled = this.#enabled.get(dir) ?? new Set<string>();
    const available = words(fs.readFileSync(`${dir}/cgroup.controllers`, 'utf8'));
    const text = fs.readFileSync(file, 'utf8');
    for (const w of text.split(/\s+/).filter(Boolean)) {
      const name = w.replace(/^[+-]/, '');
      if (!available.has(name)) throw new Error(`fake kernel: '${w}' written to '${file}' but not in cgroup.controllers`);
      if (w.startsWith('-')) enabled.delete(name);
      else enabled.add(name);
    }
    this.#enabled.set(dir, enabled);
    const normal = enabled.size ? [...enabled].sort().join(' ') + '\n' : '';
    if (text !== normal) fs.writeFileSync(file, normal); // keep mtime when nothing was written
    return enabled;
  }
}

/** A fake tree in a new temp dir, removed when the test ends. */
export function fakeKernel(t: Test, opts: FakeOptions): FakeKernel {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-cg-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  return new FakeKernel(root, opts);
}

function words(text: string): Set<string> {
  return new Set(text.split(/\s+/).filter(Boolean));
}

function errno(code: string, syscall: string, p: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: fake kernel, ${syscall} '${p}'`), { code, syscall, path: p });
}

// The fake's own tests run only when this file is the entry, not when other tests import it.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  t.test('v1 mkdir makes the files of its hierarchy; rmdir is EBUSY while tasks remain', async (t) => {
    const k = fakeKernel(t, { version: 1, coMount: true });
    k.mkdir(`${k.root}/cpu,cpuacct/a`);
    t.equal(k.read(`${k.root}/cpu,cpuacct/a/cpu.cfs_quota_us`), '-1');
    t.equal(k.read(`${k.root}/cpu,cpuacct/a/cpuacct.usage`), '0');
    t.notOk(fs.existsSync(`${k.root}/cpu,cpuacct/a/memory.limit_in_bytes`));
    k.put(`${k.root}/cpu,cpuacct/a/cgroup.procs`, '42\n');
    t.throws(() => k.rmdir(`${k.root}/cpu,cpuacct/a`), { code: 'EBUSY' });
    k.put(`${k.root}/cpu,cpuacct/a/cgroup.procs`, '');
    k.rmdir(`${k.root}/cpu,cpuacct/a`);
    t.throws(() => k.rmdir(`${k.root}/cpu,cpuacct/a`), { code: 'ENOENT' });
    t.throws(() => k.mkdir(`${k.root}/nowhere`), { code: 'EPERM' });
  });

  t.test('v2 mkdir gives a child the controllers its parent enabled', async (t) => {
    const k = fakeKernel(t, { version: 2, rootSubtree: 'memory pids' });
    k.put(`${k.root}/cgroup.subtree_control`, '+cpu -pids');
    k.mkdir(`${k.root}/a`);
    t.equal(k.read(`${k.root}/cgroup.subtree_control`), 'cpu memory');
    t.equal(k.read(`${k.root}/a/cgroup.controllers`), 'memory cpu');
    t.ok(fs.existsSync(`${k.root}/a/cpu.max`));
    t.notOk(fs.existsSync(`${k.root}/a/pids.max`));
    k.mkdir(`${k.root}/a/b`);
    t.throws(() => k.rmdir(`${k.root}/a`), { code: 'EBUSY' }, 'child cgroup');
  });
}
