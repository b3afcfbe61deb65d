/**
 * User networks (`warren network create NAME`), Docker's user-defined bridge networks: each is
 * a bridge, an nftables table and a subnet of its own, whose sandboxes reach each other (and
 * nothing else the default bridge's would not). A network is a record in the state dir,
 * `<state>/networks/<name>.json`, so it outlives the warren processes; its bridge and table are
 * made on demand by the first sandbox that joins it (again after a reboot), and its leases and
 * name records live in `<run>/networks/<name>/` (ips/, nft/, names/) as the default bridge's do
 * in the run dir.
 *
 * Names on the host derive from the configured bridge and table: network k of bridge `warren0`
 * is bridge `warren0n<k>` and table `warrenn<k>` (a test's `wrnts1b37` makes `wrnts1b37n<k>`),
 * so `warren gc` and the test suite's leak check know them as that installation's.
 *
 * Choosing a record (name, bridge number, subnet) is pure: planNetwork, over plain data.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Dirs } from '../../lib/dirs.js';
import { errnoOf, WarrenError } from '../../lib/errors.js';
import { LeaseSet, pidAlive } from '../../lib/leases.js';
import { runDirOfThisBoot } from '../../lib/run-dir.js';
import { formatCidr, type Ipv4Net, overlaps, parseCidr, size } from './cidr.js';
import { capacity } from './ipam.js';
import { describeRoute, parseRoutes } from './routes.js';

export interface NetworkRecord {
  readonly name: string;
  readonly subnet: string;
  readonly internal: boolean;
  readonly bridge: string;
  readonly table: string;
  readonly created: string;
}

/** What planNetwork needs of the host: the configured names, the records, the routes. */
export interface PlanContext {
  readonly bridge: string;
  readonly table: string;
  /** The default bridge's subnet: no network may overlap it. */
  readonly defaultSubnet: string;
  /** Where subnets are picked from, a /24 at a time, when none is given. */
  readonly pool: string;
  readonly existing: readonly NetworkRecord[];
  /** `ip -j route` output (routes.ts) */
  readonly routes: string;
}

/** Docker's rule for network names. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Names `--network` takes for what is not a user network. */
const RESERVED = new Set(['none', 'bridge', 'host', 'default']);
const IFNAMSIZ = 15;
/** Where subnets come from unless WARREN_NETWORK_POOL says: next to the default 10.88.0.0/16. */
export const DEFAULT_POOL = '10.89.0.0/16';
const PICK_PREFIX = 24;

export function checkNetworkName(name: string): void {
  if (!NAME.test(name) || RESERVED.has(name)) {
    throw new WarrenError('WARREN_NETWORK_BAD_NAME', `network name '${name}' must be letters, digits, _ . - (at most 64) and not none, bridge, host or default`);
  }
}

/** Network k's bridge and table names, from the configured ones. */
export function hostNames(bridge: string, table: string, k: number): { bridge: string; table: string } {
  const b = `${bridge}n${k}`;
  if (b.length > IFNAMSIZ) {
    throw new WarrenError('WARREN_NETWORK_BRIDGE_NAME', `bridge name '${bridge}' is too long for network bridges ('${b}' is over ${IFNAMSIZ} bytes): choose a shorter WARREN_BRIDGE`);
  }
  return { bridge: b, table: `${table}n${k}` };
}

/** The bridges (or tables) of `base`'s networks: `<base>n<k>`. */
export function isNetworkOf(base: string, name: string): boolean {
  return name.startsWith(`${base}n`) && /^\d+$/.test(name.slice(base.length + 1));
}

/**
 * The record for a new network: its bridge number is the lowest free one; its subnet the given
 * one, or the first free /24 of the pool. A subnet is refused when it overlaps the default
 * bridge's, another network's or a host route (but a route of this network's own bridge, left
 * from an earlier network of that number).
 */
export function planNetwork(input: { name: string; subnet?: string; internal?: boolean }, ctx: PlanContext, now = new Date()): NetworkRecord {
  checkNetworkName(input.name);
  if (ctx.existing.some((r) => r.name === input.name)) throw new WarrenError('WARREN_NETWORK_EXISTS', `network '${input.name}' exists`);
  const used = new Set(ctx.existing.map((r) => r.bridge));
  let k = 1;
  while (used.has(hostNames(ctx.bridge, ctx.table, k).bridge)) k++;
  const names = hostNames(ctx.bridge, ctx.table, k);
  const taken: Array<{ net: Ipv4Net; what: string }> = [
    { net: parseCidr(ctx.defaultSubnet), what: `the default bridge's subnet ${ctx.defaultSubnet}` },
    ...ctx.existing.map((r) => ({ net: parseCidr(r.subnet), what: `network '${r.name}' (${r.subnet})` })),
    ...parseRoutes(ctx.routes).filter((r) => r.dev !== names.bridge).map((r) => ({ net: r.dst, what: `route ${describeRoute(r)}` })),
  ];
  const clash = (net: Ipv4Net) => taken.find((t) => overlaps(t.net, net));
  let subnet: string;
  if (input.subnet !== undefined) {
    const net = parseCidr(input.subnet, { strict: true });
    if (capacity(net) < 1) throw new WarrenError('WARREN_NETWORK_OPTION', `subnet ${input.subnet} has no room for a sandbox (at most /30)`);
    const c = clash(net);
    if (c) throw new WarrenError('WARREN_NETWORK_SUBNET_OVERLAP', `subnet ${input.subnet} of network '${input.name}' overlaps ${c.what}`);
    subnet = formatCidr(net);
  } else {
    subnet = pickSubnet(parseCidr(ctx.pool, { strict: true }), (net) => clash(net) === undefined, input.name);
  }
  return { name: input.name, subnet, internal: input.internal === true, ...names, created: now.toISOString() };
}

function pickSubnet(pool: Ipv4Net, free: (net: Ipv4Net) => boolean, name: string): string {
  const prefix = Math.max(PICK_PREFIX, pool.prefix);
  const step = 2 ** (32 - prefix);
  for (let base = pool.base; base < pool.base + size(pool); base += step) {
    const net = { base, prefix };
    if (free(net)) return formatCidr(net);
  }
  throw new WarrenError('WARREN_NETWORK_NO_SUBNET', `no free /${prefix} left in ${formatCidr(pool)} for network '${name}': give one with --subnet`);
}

/** The network records of a state dir, read and written as files. */
export class NetworkStore {
  readonly dir: string;
  readonly runRoot: string;

  constructor(dirs: Pick<Dirs, 'state' | 'run'>) {
    this.dir = path.join(dirs.state, 'networks');
    this.runRoot = path.join(dirs.run, 'networks');
    runDirOfThisBoot(dirs.run, { create: false });
  }

  list(): NetworkRecord[] {
    let files: string[];
    try {
      files = fs.readdirSync(this.dir).filter((f) => f.endsWith('.json')).sort();
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return [];
      throw new WarrenError('WARREN_NETWORK_STATE', `read ${this.dir}`, { cause: err });
    }
    return files.flatMap((f) => this.#read(path.join(this.dir, f)) ?? []);
  }

  get(name: string): NetworkRecord {
    checkNetworkName(name);
    const record = this.#read(path.join(this.dir, `${name}.json`));
    if (!record) throw new WarrenError('WARREN_NETWORK_NOT_FOUND', `network '${name}' does not exist (warren network create ${name})`);
    return record;
  }

  /** Saves a planned record; a network of that name made meanwhile wins (O_EXCL). */
  add(record: NetworkRecord): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    try {
      fs.writeFileSync(path.join(this.dir, `${record.name}.json`), `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx' });
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') throw new WarrenError('WARREN_NETWORK_EXISTS', `network '${record.name}' exists`);
      throw new WarrenError('WARREN_NETWORK_STATE', `write network '${record.name}'`, { cause: err });
    }
  }

  remove(name: string): void {
    fs.rmSync(path.join(this.dir, `${name}.json`), { force: true });
    fs.rmSync(this.runDir(name), { recursive: true, force: true });
  }

  /** Where its address leases, nft undo files and name records live. */
  runDir(name: string): string {
    return path.join(this.runRoot, name);
  }

  /** How many of its addresses live warren processes hold: its sandboxes (and their spares). */
  inUse(record: NetworkRecord, isAlive: (pid: number) => boolean = pidAlive): number {
    const ips = path.join(this.runDir(record.name), 'ips');
    if (!fs.existsSync(ips)) return 0;
    return new LeaseSet(ips, capacity(parseCidr(record.subnet))).entries(isAlive).filter((e) => e.alive).length;
  }

  #read(file: string): NetworkRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as NetworkRecord;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw new WarrenError('WARREN_NETWORK_STATE', `read network record '${file}'`, { cause: err });
    }
  }
}
