/**
 * What `warren network create|ls|rm`, `warren run --network NAME` and `warren gc` do with user
 * networks on the host (user-networks.ts holds the records and the pure choices). Creating only
 * writes the record: the bridge, table and DNS server come with the network's first sandbox
 * (SandboxNetwork.open is idempotent), so a record also brings them back after a reboot.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Dirs } from '../../lib/dirs.js';
import { errnoOf, WarrenError } from '../../lib/errors.js';
import { pidAlive } from '../../lib/leases.js';
import { claimsDir, type NetworkConfig, SandboxNetwork } from './host-network.js';
import { claimName, readNames } from './names.js';
import { nftCommand } from './nftables.js';
import { readRoutes } from './routes.js';
import { DEFAULT_POOL, isNetworkOf, type NetworkRecord, NetworkStore, planNetwork } from './user-networks.js';

export interface CreateNetworkOptions {
  name: string;
  subnet?: string;
  internal?: boolean;
  /** Where a subnet is picked from without `subnet`; WARREN_NETWORK_POOL or DEFAULT_POOL. */
  pool?: string;
}

/** Plans and saves under the store's lock: two creates at once never pick one bridge or subnet. */
export async function createNetwork(dirs: Dirs, opts: CreateNetworkOptions): Promise<NetworkRecord> {
  const store = new NetworkStore(dirs);
  const routes = await readRoutes();
  return withLock(store.dir, () => {
    const ctx = { bridge: dirs.net.bridge, table: dirs.net.table, defaultSubnet: dirs.net.subnet, pool: opts.pool ?? DEFAULT_POOL, existing: store.list(), routes };
    const record = planNetwork(opts, ctx);
    store.add(record);
    return record;
  });
}

const LOCK_WAIT_MS = 5_000;

/**
 * `<dir>/.lock`, made with O_EXCL and holding our pid, around `fn` (synchronous: it only reads
 * and writes records). A holder that died is taken over; a live one is waited for, boundedly.
 */
async function withLock<T>(dir: string, fn: () => T): Promise<T> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const file = path.join(dir, '.lock');
  for (const end = Date.now() + LOCK_WAIT_MS; ; await new Promise((r) => setTimeout(r, 20))) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw new WarrenError('WARREN_NETWORK_STATE', `lock '${file}'`, { cause: err });
      let holder = 0;
      try {
        holder = Number(fs.readFileSync(file, 'utf8').trim());
      } catch {
        continue; // released meanwhile: try again
      }
      if (holder > 0 && !pidAlive(holder)) fs.rmSync(file, { force: true }); // a dead holder's
      else if (Date.now() > end) throw new WarrenError('WARREN_NETWORK_STATE', `lock '${file}': held by pid ${holder || '?'} for over ${LOCK_WAIT_MS} ms`);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** The host side of a network's sandboxes, for SandboxHost (HostOptions.network). */
export function networkConfig(dirs: Dirs, record: NetworkRecord): NetworkConfig {
  return {
    bridge: record.bridge,
    table: record.table,
    subnet: record.subnet,
    runDir: new NetworkStore(dirs).runDir(record.name),
    ...(dirs.net.resolvConf ? { resolvConf: dirs.net.resolvConf } : {}),
    user: { name: record.name, internal: record.internal },
  };
}

/**
 * A sandbox's --name is its own on its network, as a container's is Docker's (aliases may be
 * shared: both answer): claimed before the sandbox is made, by this process until `release()`.
 */
export function claimSandboxName(config: NetworkConfig, name: string): () => void {
  const network = config.user?.name ?? config.bridge;
  const release = claimName(claimsDir(config), name, network);
  // a sandbox by that name from before claims were made (an older warren still running)
  if (readNames(path.join(config.runDir, 'names')).byName.has(name.toLowerCase())) {
    release();
    throw new WarrenError('WARREN_NETWORK_NAME_TAKEN', `name '${name}' is taken on network '${network}' by a running sandbox`);
  }
  return release;
}

/**
 * What `warren run --network NAME` holds while its sandbox may run: a mark `<run>/networks/NAME/
 * users/<pid>`, made before the record is read. removeNetwork hides the record first and looks
 * for marks after, so of a run and an rm racing, at least one sees the other (and fails): a
 * sandbox never joins a network being removed.
 */
export function claimNetwork(dirs: Dirs, name: string): { record: NetworkRecord; release(): void } {
  const store = new NetworkStore(dirs);
  store.get(name); // an unknown name leaves no mark behind
  const users = path.join(store.runDir(name), 'users');
  fs.mkdirSync(users, { recursive: true, mode: 0o700 });
  const mark = path.join(users, String(process.pid));
  fs.writeFileSync(mark, '');
  const release = () => fs.rmSync(mark, { force: true });
  try {
    return { record: store.get(name), release };
  } catch (err) {
    release();
    throw err;
  }
}

/** Refused while a live warren holds one of its addresses or a claim; then its bridge, table and
 * files go. The record is hidden (renamed) while it looks, so no run claims it meanwhile. */
export async function removeNetwork(dirs: Dirs, name: string, isAlive = pidAlive): Promise<void> {
  const store = new NetworkStore(dirs);
  const record = store.get(name);
  const file = path.join(store.dir, `${name}.json`);
  const hidden = `${file}.removing`;
  fs.renameSync(file, hidden);
  const claims = safeReaddir(path.join(store.runDir(name), 'users')).filter((pid) => isAlive(Number(pid))).length;
  const users = Math.max(claims, store.inUse(record, isAlive));
  if (users > 0) {
    fs.renameSync(hidden, file);
    throw new WarrenError('WARREN_NETWORK_IN_USE', `network '${name}' is in use by ${users} sandbox${users === 1 ? '' : 'es'}: stop ${users === 1 ? 'it' : 'them'} first`);
  }
  await SandboxNetwork.collect(networkConfig(dirs, record), isAlive, 'keep'); // a crashed owner's elements
  await SandboxNetwork.remove(record);
  store.remove(name);
  fs.rmSync(hidden, { force: true });
}

/**
 * `warren gc`: each network's dead owners' addresses, elements and names; then the bridges,
 * tables and run dirs of this installation's networks that no record claims (a network removed
 * while warren crashed midway). Returns how many addresses it freed and what it removed.
 */
export async function collectNetworks(dirs: Dirs, isAlive = pidAlive): Promise<{ addresses: number; removed: string[] }> {
  const store = new NetworkStore(dirs);
  const records = store.list();
  let addresses = 0;
  for (const r of records) {
    addresses += await SandboxNetwork.collect(networkConfig(dirs, r), isAlive, 'keep');
    const users = path.join(store.runDir(r.name), 'users');
    for (const pid of safeReaddir(users).filter((p) => !isAlive(Number(p)))) fs.rmSync(path.join(users, pid), { force: true }); // a crashed run's claim
  }
  const removed: string[] = [];
  const bridges = new Set(records.map((r) => r.bridge));
  const tables = new Set(records.map((r) => r.table));
  const allBridges = listBridges();
  const allTables = await listTables();
  for (const b of allBridges.filter((b) => isNetworkOf(dirs.net.bridge, b) && !bridges.has(b))) {
    await SandboxNetwork.remove({ bridge: b });
    removed.push(`bridge ${b}`);
  }
  for (const t of allTables.filter((t) => isNetworkOf(dirs.net.table, t) && !tables.has(t))) {
    await SandboxNetwork.remove({ table: t });
    removed.push(`table ${t}`);
  }
  for (const f of safeReaddir(store.dir).filter((f) => f.endsWith('.json.removing'))) fs.rmSync(path.join(store.dir, f), { force: true }); // an rm that crashed
  const names = new Set(records.map((r) => r.name));
  for (const d of safeReaddir(store.runRoot).filter((d) => !names.has(d))) {
    fs.rmSync(store.runDir(d), { recursive: true, force: true });
    removed.push(`run dir networks/${d}`);
  }
  return { addresses, removed };
}

/** The host's bridges: the links with a bridge/ dir in sysfs. Read there, not from `ip -j link`:
 * serve runs this at every start, and spawning a process blocked its event loop 15-40 ms here. */
export function listBridges(netDir = '/sys/class/net'): string[] {
  return safeReaddir(netDir).filter((l) => fs.existsSync(path.join(netDir, l, 'bridge')));
}

async function listTables(): Promise<string[]> {
  const stdout = await nftCommand('-j', 'list', 'tables', 'inet');
  const doc = JSON.parse(stdout) as { nftables?: Array<{ table?: { name?: string } }> };
  return (doc.nftables ?? []).flatMap((o) => (o.table?.name ? [o.table.name] : []));
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
