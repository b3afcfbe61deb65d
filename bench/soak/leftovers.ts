/**
 * Everything a server (or the cycles' host) of the soak left once it ended: processes, sandbox
 * cgroups, mounts, veths on its bridge (and so network namespaces), address and uid leases, layer records, temp
 * layers in its state dir and any other file in its run dir. A list of lines, [] when nothing;
 * cleanup() then removes what the soak made itself (bridge, table, empty cgroup parents, run dirs).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Dirs } from '../../lib/dirs.js';
import { RUN_DIR_MARKS } from '../../lib/run-dir.js';
import { SandboxNetwork } from '../../sandbox/network/index.js';

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function cgroupRoots(root: string): string[] {
  if (fs.existsSync(path.join(root, 'cgroup.controllers'))) return [root];
  return fs.readdirSync(root).map((d) => path.join(root, d));
}

function subdirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
  } catch {
    return [];
  }
}

/** Files (not directories) under `dir`, recursively. */
function files(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** Processes in the dirs' cgroups, or started with their WARREN_CGROUP_PARENT (serve, spawner). */
function processes(dirs: Dirs): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    const inCgroup = read(`/proc/${pid}/cgroup`).split('\n').some((l) => l.includes(`/${dirs.cgroupParent}/`));
    const env = read(`/proc/${pid}/environ`).split('\0');
    if (inCgroup || env.includes(`WARREN_CGROUP_PARENT=${dirs.cgroupParent}`)) out.push(`process ${pid} ${read(`/proc/${pid}/cmdline`).replace(/\0/g, ' ').trim()}`);
  }
  return out;
}

function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}/`);
}

function veths(bridge: string): string[] {
  return execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => new RegExp(` master ${bridge} `).test(l))
    .map((l) => `veth ${l.split(': ')[1]?.split('@')[0]} on ${bridge}`);
}

export function leftovers(dirs: Dirs, opts: { cgroupRoot?: string; ownMount?: string } = {}): string[] {
  const out: string[] = [];
  out.push(...processes(dirs));
  for (const root of cgroupRoots(opts.cgroupRoot ?? '/sys/fs/cgroup')) for (const d of subdirs(path.join(root, dirs.cgroupParent))) out.push(`cgroup ${d}`);
  for (const line of read('/proc/self/mountinfo').split('\n')) {
    const at = line.split(' ')[4] ?? '';
    if (at === opts.ownMount) continue;
    // under the dir, not merely named like it: slot 0's /run/wrntest-soak is a prefix of slot 9's
    // /run/wrntest-soak-s9 (seen: a CI-sized soak counted another slot's running soak as its leftovers)
    if (under(at, dirs.run) || under(at, dirs.state) || line.includes(`${dirs.run}/`)) out.push(`mount ${at}`);
  }
  // network namespaces: warren never names one (no `ip netns add`), so there is no list of
  // them to look at; one lives only while a process is in it, a descriptor holds it or a mount
  // of it exists, and a sandbox's on the bridge has its veth there: the checks of processes,
  // mounts and veths here find each way one could stay
  out.push(...veths(dirs.net.bridge));
  for (const sub of ['ips', 'uids']) for (const f of files(path.join(dirs.run, sub))) out.push(`lease ${f}`);
  for (const f of files(path.join(dirs.run, 'layers'))) out.push(`layer record ${f}`);
  // a deploy's layer is written under a temp name first: one left means a failed deploy leaked it
  for (const d of safeList(path.join(dirs.state, 'layers')).filter((n) => n.startsWith('.tmp'))) out.push(`temp layer ${path.join(dirs.state, 'layers', d)}`);
  for (const sub of ['sandboxes', 'io', 'nft']) for (const f of [...files(path.join(dirs.run, sub)), ...subdirs(path.join(dirs.run, sub))]) out.push(`run dir entry ${f}`);
  const known = new Set(['ips', 'uids', 'layers', 'sandboxes', 'io', 'nft', ...RUN_DIR_MARKS]);
  for (const f of files(dirs.run)) if (!known.has(path.relative(dirs.run, f).split('/')[0] as string)) out.push(`file ${f}`);
  return out;
}

/** Removes what the soak made: the bridge, the table (and iptables rules warren added for the
 * bridge), the (empty) cgroup parents, the run dir. */
export async function cleanup(dirs: Dirs, cgroupRoot = '/sys/fs/cgroup'): Promise<void> {
  const quiet = (cmd: string, args: string[]) => {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
    } catch {
      // absent already
    }
  };
  await SandboxNetwork.remove({ bridge: dirs.net.bridge, table: dirs.net.table });
  for (const root of cgroupRoots(cgroupRoot)) {
    try {
      fs.rmdirSync(path.join(root, dirs.cgroupParent));
    } catch {
      // absent, or not empty: leftovers() said so
    }
  }
  fs.rmSync(dirs.run, { recursive: true, force: true });
}
