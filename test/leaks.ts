/**
 * Run by tap after the whole suite (package.json "tap.after"): nothing that any test's sandboxes
 * made may be left, neither cgroups, mounts, run dirs, leases nor processes. A leak here means a
 * cleanup path has a bug. It then removes the suite's own (empty) parent dirs, bridges and tables.
 * It looks only at its own run's names (owned.ts: WRNTEST_SLOT), so a run of another worktree on
 * the same machine neither fails it nor loses its bridges to it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { SandboxNetwork } from '../sandbox/network/index.js';
import { isOwn, ownSlot } from './owned.js';

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
    for (const e of entries) if (e.startsWith(PREFIX) && isOwn(e)) out.push(path.join(root, e));
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
    .filter((l) => /warren:\[(spawner|init)\]/.test(l) && ownProcess(Number(l.trim().split(' ')[0])));
  t.same(procs, [], 'no spawner or init process');
  const leftCgroups = cgroupParents().flatMap((p) => subdirs(p).map((s) => path.join(p, s)));
  t.same(leftCgroups, [], 'no sandbox cgroup');
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => isOwn(l));
  t.same(mounts, [], 'no mount');
  const loops = execFileSync('losetup', ['-a'], { encoding: 'utf8' }).split('\n').filter((l) => isOwn(l));
  t.same(loops, [], 'no loop device on a test file (a kept sandbox\'s image, a volume\'s)');
  // a volume a test made and left holds the disk space it was given (its lock file stays)
  for (const d of safeList('/var/tmp').filter((d) => d.startsWith(PREFIX) && isOwn(d))) {
    t.same(safeList(path.join('/var/tmp', d, 'volumes')).filter((n) => !n.startsWith('.')), [], `/var/tmp/${d}/volumes holds no test volume`);
  }
  const runDirs = fs.readdirSync('/run').filter((d) => d.startsWith(PREFIX) && isOwn(d));
  for (const d of runDirs) {
    for (const sub of ['sandboxes', 'io', 'layers', 'uids', 'ips', 'nft', 'volumes', 'networks']) {
      t.same(safeList(path.join('/run', d, sub)), [], `/run/${d}/${sub} is empty`);
    }
  }
  // `ip -o link` lines: "7: NAME@peer: <...> ... master BRIDGE ..."
  const listLinks = () =>
    execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => ({ name: l.split(': ')[1]?.split('@')[0] ?? '', master: / master (\S+)/.exec(l)?.[1] }));
  // a test's bridges, and its user networks' (`warren network create`: the bridge's name + n<k>)
  const TEST_BRIDGE = /^(wrntest\d+|wrnts\d+b\d+)(n\d+)?$/;
  const ownVeths = () => listLinks().filter((l) => /^wrn[0-9a-f]{12}$/.test(l.name) && l.master !== undefined && TEST_BRIDGE.test(l.master) && isOwn(l.master));
  // a closed pool's namespaces are freed by the kernel asynchronously, their veths with them
  for (let i = 0; i < 600 && ownVeths().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.same(ownVeths().map((l) => l.name), [], 'no sandbox veth');
  const links = listLinks().map((l) => l.name);
  const bridges = links.filter((l) => TEST_BRIDGE.test(l) && isOwn(l));
  t.same(links.filter((l) => l.startsWith(PREFIX) && isOwn(l) && !bridges.includes(l)), [], "no test link but the tests' bridges");
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(PREFIX) && isOwn(l));
  t.same(netns, [], 'no test network namespace');
  // a user network is a record in the state dir: every test removes those it made
  const stateDirs = fs.readdirSync('/var/tmp').filter((d) => d.startsWith(PREFIX) && isOwn(d)).map((d) => path.join('/var/tmp', d, 'networks'));
  t.same(stateDirs.flatMap((d) => safeList(d).map((f) => path.join(d, f))), [], 'no network record');
  for (const d of stateDirs) fs.rmSync(d, { recursive: true, force: true });
  // the tests' bridges and tables stay while sandboxes run, like warren0; now they go
  // with any iptables rules warren added for them (another firewall on the host: foreign-firewall.ts)
  for (const b of bridges) await SandboxNetwork.remove({ bridge: b });
  t.same(firewallRules().filter((b) => isOwn(b)), [], 'no iptables rule for a test bridge left');
  for (const m of execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).matchAll(/^table inet ((?:wrntest\d*|wrnts\d+b\d+)(?:n\d+)?)$/gm)) {
    if (isOwn(m[1] as string)) execFileSync('nft', ['delete', 'table', 'inet', m[1] as string]);
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

/** An init sits in one of this run's cgroups. A spawner is this run's when the process that
 * started it (a `warren` command or a test) was told this run's slot or dirs, or, told neither
 * (a host opened inside a test file), runs from this checkout. A process gone meanwhile is no leak. */
function ownProcess(pid: number): boolean {
  try {
    if (fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').some((l) => isOwn(l))) return true;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      fs.readFileSync(`/proc/${ppid}/environ`, 'utf8').split('\0').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    if (env.WARREN_CGROUP_PARENT !== undefined) return isOwn(env.WARREN_CGROUP_PARENT);
    if (env.WRNTEST_SLOT !== undefined) return (Number(env.WRNTEST_SLOT) || 0) === ownSlot();
    const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
    return ownSlot() === 0 && (cwd === process.cwd() || cwd.startsWith(process.cwd() + '/'));
  } catch {
    return false;
  }
}

/** The bridges named by warren's iptables rules (commented `warren:<bridge>`), in the chains it
 * uses; none when iptables is not installed. */
function firewallRules(): string[] {
  const out: string[] = [];
  for (const chain of ['DOCKER-USER', 'FORWARD']) {
    let listed = '';
    try {
      listed = execFileSync('iptables', ['-w', '-S', chain], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      continue;
    }
    for (const m of listed.matchAll(/--comment "?warren:([^"\s]+)"?/g)) out.push(m[1] as string);
  }
  return out;
}
