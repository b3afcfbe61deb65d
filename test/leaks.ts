/**
 * Run by tap after the whole suite (package.json "tap.after"): nothing that any test's sandboxes
 * made may be left, neither cgroups, mounts, run dirs, leases nor processes. A leak here means a
 * cleanup path has a bug. It then removes the suite's own (empty) parent dirs.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const PREFIX = 'wrntest';
const CGROUP_ROOT = '/sys/fs/cgroup';

function cgroupParents(): string[] {
  const out: string[] = [];
  const roots = fs.existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers'))
    ? [CGROUP_ROOT]
    : fs.readdirSync(CGROUP_ROOT).map((d) => path.join(CGROUP_ROOT, d));
  for (const root of roots) {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(root);
    } catch {
      continue;
    }
    for (const e of entries) if (e.startsWith(PREFIX)) out.push(path.join(root, e));
  }
  return out;
}

function subdirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

t.test('no sandbox left anything behind', { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
  const procs = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => /warren:\[(spawner|init)\]/.test(l));
  t.same(procs, [], 'no spawner or init process');
  const leftCgroups = cgroupParents().flatMap((p) => subdirs(p).map((s) => path.join(p, s)));
  t.same(leftCgroups, [], 'no sandbox cgroup');
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(PREFIX));
  t.same(mounts, [], 'no mount');
  const loops = execFileSync('losetup', ['-a'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(PREFIX));
  t.same(loops, [], 'no loop device on a test file (a kept sandbox\'s image)');
  const runDirs = fs.readdirSync('/run').filter((d) => d.startsWith(PREFIX));
  for (const d of runDirs) {
    for (const sub of ['sandboxes', 'io', 'layers', 'uids', 'ips', 'nft']) {
      t.same(safeList(path.join('/run', d, sub)), [], `/run/${d}/${sub} is empty`);
    }
  }
  const listLinks = () => execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }).split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '');
  // a closed pool's namespaces are freed by the kernel asynchronously, their veths with them
  for (let i = 0; i < 600 && listLinks().some((l) => /^wrn[0-9a-f]{12}$/.test(l)); i++) await new Promise((r) => setTimeout(r, 100));
  const links = listLinks();
  t.same(links.filter((l) => /^wrn[0-9a-f]{12}$/.test(l)), [], 'no sandbox veth');
  const bridges = links.filter((l) => /^wrntest\d+$/.test(l));
  t.same(links.filter((l) => l.startsWith(PREFIX) && !bridges.includes(l)), [], "no test link but the tests' bridges");
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(PREFIX));
  t.same(netns, [], 'no test network namespace');
  // the tests' bridges and tables stay while sandboxes run, like warren0; now they go
  for (const b of bridges) execFileSync('ip', ['link', 'del', b]);
  for (const m of execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).matchAll(/^table inet (wrntest\d*)$/gm)) {
    execFileSync('nft', ['delete', 'table', 'inet', m[1] as string]);
  }
  // the suite's own empty parents go; a sandbox cgroup left above would make rmdir fail loudly
  for (const p of cgroupParents()) fs.rmdirSync(p);
  for (const d of runDirs) fs.rmSync(path.join('/run', d), { recursive: true, force: true });
});

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
