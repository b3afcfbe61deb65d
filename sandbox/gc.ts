/**
 * What a crashed warren leaves, and its removal. A sandbox's spawner kills it when its runner
 * dies (control socket EOF, or the parent-death signal), so what remains is host-side state:
 * cgroups, run dirs and uid leases. A sandbox is garbage when no live process holds its lease,
 * and, with live restore, no live spawner holds it waiting for the next runner (its restore
 * record names it: restore-records.ts). Running it twice is harmless; it never touches a sandbox
 * whose owner is alive. `warren gc` ends a waiting spawner first (stopWaitingSpawner).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Dirs } from '../lib/dirs.js';
import { LeaseSet, pidAlive } from '../lib/leases.js';
import { runDirOfThisBoot } from '../lib/run-dir.js';
import type { CgroupDriver } from './cgroups/index.js';
import { ATTACH_SOCKET, IO_DIRS, UID_LEASES, UID_SLOTS_DEFAULT } from './defaults.js';
import { removeIoDir } from './io-dir.js';
import { sweepLayerRecords } from './layer-use.js';
import { collectNetworks, SandboxNetwork } from './network/index.js';
import { heldNames } from './restore-records.js';
import { attachWaiting } from './adopt.js';
import { processRuns } from './spawner-identity.js';

export interface GcReport {
  cgroups: string[];
  rundirs: string[];
  leases: number;
  addresses: number;
  /** Layer-use records of dead sandboxes: their layers are free for `warren image gc` again. */
  layerRecords: number;
  /** Bridges, tables and run dirs of user networks that no network record claims. */
  networks: string[];
}

export interface GcOptions {
  /** The caller opens the network again next (serve's start): when no sandbox is left, the
   * table is emptied and the bridge and table kept, not removed to be made again at once. */
  reopen?: boolean;
  /** false: the user networks' leftovers are not looked for here (serve sweeps them with
   * collectNetworks while it starts: it makes nothing on them, and the look spawns ip and nft). */
  userNetworks?: boolean;
}

export async function collectGarbage(dirs: Dirs, cgroups: CgroupDriver, isAlive?: (pid: number) => boolean, opts: GcOptions = {}): Promise<GcReport> {
  runDirOfThisBoot(dirs.run, { create: false });
  const leases = new LeaseSet(path.join(dirs.run, UID_LEASES), UID_SLOTS_DEFAULT);
  // first: a record of a spawner gone is removed there, and its sandbox swept below (a given
  // isAlive judges spawners too; by default a zombie spawner or a reused pid is gone)
  const held = heldNames(dirs.run, isAlive);
  const alive = isAlive ?? pidAlive;
  const entries = leases.entries(alive);
  const stale = entries.filter((e) => !e.alive && !held.has(e.owner));
  const live = new Set([...entries.filter((e) => e.alive).map((e) => e.owner), ...held]);
  const report: GcReport = { cgroups: [], rundirs: [], leases: 0, addresses: 0, layerRecords: 0, networks: [] };
  for (const name of await cgroups.list()) {
    if (live.has(name)) continue;
    // kept empty for reuse by a live warren process (v1 idle cgroups: i<pid>.<k>)
    const idle = /^i(\d+)\./.exec(name);
    if (idle && alive(Number(idle[1]))) continue;
    const cg = cgroups.open(name);
    await cg.killAll();
    await cg.destroy();
    report.cgroups.push(name);
  }
  const sandboxes = path.join(dirs.run, 'sandboxes');
  for (const name of safeReaddir(sandboxes)) {
    if (live.has(name)) continue;
    try {
      fs.rmdirSync(path.join(sandboxes, name)); // never recursive: it is only ever an empty mount point
      report.rundirs.push(name);
    } catch {
      // not empty: not ours to judge
    }
  }
  // io dirs are tmpfs mounts holding only what their sandbox made (sockets): unmounted, removed
  const io = path.join(dirs.run, IO_DIRS);
  for (const name of safeReaddir(io)) {
    if (live.has(name)) continue;
    removeIoDir(path.join(io, name));
    report.rundirs.push(`${IO_DIRS}/${name}`);
  }
  // not from `live`: it lists the records first and reads the leases after (see layer-use.ts)
  report.layerRecords = sweepLayerRecords(dirs.run, alive, held);
  for (const s of stale) {
    leases.drop(s.n);
    report.leases++;
  }
  // the default bridge's and the user networks' (<bridge>n<N>) are apart: both at once, each
  // waits on processes it spawns (ip, nft)
  const none = { addresses: 0, removed: [] };
  const [addresses, networks] = await Promise.all([SandboxNetwork.collect({ ...dirs.net, runDir: dirs.run }, alive, opts.reopen ? 'empty' : 'remove', held), opts.userNetworks === false ? none : collectNetworks(dirs, alive)]);
  report.addresses = addresses + networks.addresses;
  report.networks = networks.removed;
  if (live.size === 0) await cgroups.removeParent();
  // a spawner killed while it waited for a runner leaves its socket; none holds anything now
  if (held.size === 0) fs.rmSync(path.join(dirs.run, ATTACH_SOCKET), { force: true });
  return report;
}

/**
 * `warren gc`: a spawner that outlived its runner (live restore) and waits for the next one is
 * attached to and told `close`: it kills its sandboxes and exits, and their host side becomes
 * garbage like any other. Returns its pid, or undefined when none waited.
 */
export async function stopWaitingSpawner(dirs: Dirs, waitMs = 5000): Promise<number | undefined> {
  const spawner = await attachWaiting(dirs.run);
  if (!spawner) return undefined;
  await spawner.close();
  // its socket closes as it exits; wait for the process itself, bounded (a zombie is gone). Not
  // spawnerLives: a spawner on its way out has no environment to read any more while it still
  // runs, and its sandboxes' sweep below must come after it
  for (const end = Date.now() + waitMs; processRuns(spawner.pid) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
  return spawner.pid;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
