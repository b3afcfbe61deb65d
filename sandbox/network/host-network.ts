/**
 * The host side of sandbox networking, as one object: set up once per warren process (subnet
 * check, bridge, nftables table, forwarding, the sandboxes' DNS forwarder), then an address
 * lease per pooled network namespace and, per sandbox, only when it has egress or published
 * ports, one batch of nftables elements. Egress `none` costs no nft call: a sandbox the table
 * does not know gets nothing. The elements' delete script is kept in the run dir beside the
 * lease, so a crash leaves what `warren gc` needs to undo them.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { WarrenError, errnoOf } from '../../lib/errors.js';
import { pidAlive } from '../../lib/leases.js';
import { ensureBridge, removeBridge } from './bridge.js';
import { admitBridge, releaseBridge } from './foreign-firewall.js';
import { forgetFlows } from './conntrack.js';
import { DnsForwarder } from './dns-forwarder.js';
import { formatIpv4, parseCidr } from './cidr.js';
import { Ipam, type AddressLease } from './ipam.js';
import { egressChangeScript, egressNarrows, purgeScript } from './egress-change.js';
import { applyRules, checkSandboxNet, nftCommand, deleteTableScript, emptyElementsScript, listJson, listPublished, rulesetScript, sandboxElements, type Egress, type Publish, type SandboxNet } from './nftables.js';
import { hostPortInUse, portInUse, takenBy } from './ports.js';
import { checkSubnetFree, readRoutes } from './routes.js';
import { HOST_RESOLV_CONF } from './resolv-conf.js';
import { publishNames, sweepClaims, sweepNames } from './names.js';

function namesDir(config: NetworkConfig): string {
  return path.join(config.runDir, 'names');
}

/** Where the names being run by are claimed (names.ts claimName). */
export function claimsDir(config: NetworkConfig): string {
  return path.join(config.runDir, 'claims');
}

export interface NetworkConfig {
  bridge: string;
  table: string;
  subnet: string;
  runDir: string;
  /** Where to look for host listeners on published ports (ports.ts); '/proc' unless a test says. */
  procRoot?: string;
  /** The host's resolv.conf: the DNS forwarder's upstreams, the sandboxes' search and options. */
  resolvConf?: string;
  /**
   * A user network (user-networks.ts): its sandboxes reach each other, and its DNS server
   * answers their names (read from `<runDir>/names`, names.ts); `internal`: no egress at all.
   */
  user?: { name: string; internal: boolean };
}

/** How often a serving warren checks that its bridge and table are still there (repair()). */
export const WATCH_MS = 1000;

/** The host end of a bridged namespace's veth (spare-netns.ts names it so; repair() puts it back
 * on a bridge made again). */
export function hostVeth(netnsId: string): string {
  return `wrn${netnsId.slice(1)}`;
}

/**
 * Whether the table is there, by a list of its `blocked` set: a few constant intervals. A list of
 * the whole table holds the event loop for as long as it takes to fetch every element of every
 * set (libnftables builds its cache of them even for `list tables`): 10 ms at 3,000 elements here,
 * every second (repair's look), against 0.07 ms for this. A table whose `blocked` set someone
 * removed reads as gone, and repair() applies the whole ruleset again, which puts it back.
 */
function tableExists(table: string): Promise<boolean> {
  return nftCommand('list', 'set', 'inet', table, 'blocked').then(
    () => true,
    () => false,
  );
}

export interface AttachOptions {
  egress: Egress;
  publish?: readonly Publish[];
}

function writeSysctl(name: string, value: string): void {
  try {
    fs.writeFileSync(path.join('/proc/sys', ...name.split('.')), value);
  } catch (err) {
    throw new WarrenError('WARREN_NET_SYSCTL', `set ${name}=${value}`, { cause: err });
  }
}

/** `ip link set VETH master BRIDGE up`; a veth gone meanwhile (its netns ended) is fine. */
function ip(args: string[]): Promise<void> {
  return new Promise((resolve) => execFile('ip', args, () => resolve()));
}

/** Makes `veth` a port of `bridge` again: isolated (the default bridge's sandboxes never reach
 * each other) before it is up, unless it is a user network's port, where they are meant to. */
async function setMaster(veth: string, bridge: string, isolated: boolean): Promise<void> {
  await ip(['link', 'set', veth, 'down']);
  await ip(['link', 'set', veth, 'master', bridge]);
  if (isolated) await ip(['link', 'set', veth, 'type', 'bridge_slave', 'isolated', 'on']);
  await ip(['link', 'set', veth, 'up']);
}

export class SandboxNetwork {
  readonly config: NetworkConfig;
  /** The bridge's address: the sandboxes' default route and nameserver. */
  readonly gateway: string;
  readonly resolvConf: string;
  readonly #ipam: Ipam;
  readonly #undoDir: string;
  readonly #dns: DnsForwarder;
  /** Owners (netns ids) of this process's address leases: their veths are on the bridge. */
  readonly #owners = new Set<string>();
  #watch: NodeJS.Timeout | undefined;
  #repairing: Promise<string[]> | undefined;

  private constructor(config: NetworkConfig, dns: DnsForwarder) {
    this.config = config;
    this.gateway = dns.address;
    this.resolvConf = config.resolvConf ?? HOST_RESOLV_CONF;
    this.#dns = dns;
    this.#ipam = new Ipam({ subnet: config.subnet, runDir: config.runDir });
    this.#undoDir = path.join(config.runDir, 'nft');
    fs.mkdirSync(this.#undoDir, { recursive: true, mode: 0o700 });
    // without its table the bridge's traffic is forwarded unfiltered, and without its bridge no
    // sandbox can start: checked every second, put back when someone else removed them
    this.#watch = setInterval(() => {
      if (this.#repairing) return; // a look per second at most
      this.repair().catch((err) => process.stderr.write(`warren: could not restore the network: ${err instanceof Error ? err.message : String(err)}\n`));
    }, WATCH_MS);
    this.#watch.unref();
  }

  /**
   * Puts back what someone else removed while warren serves: the bridge (its address, up, its
   * route_localnet, and the veths of this process's namespaces as its ports again), and the
   * table (its rules, and the elements of the sandboxes running now, from their undo files). What
   * was removed is found by looking; nothing is touched when both are there. Returns the names of
   * what it restored.
   */
  repair(): Promise<string[]> {
    this.#repairing ??= (async () => {
      const { bridge, table, subnet } = this.config;
      const restored: string[] = [];
      if (!fs.existsSync(path.join('/sys/class/net', bridge))) {
        const net = parseCidr(subnet, { strict: true });
        await ensureBridge({ name: bridge, address: `${this.gateway}/${net.prefix}` });
        writeSysctl(`net.ipv4.conf.${bridge}.route_localnet`, '1');
        for (const owner of this.#owners) await setMaster(hostVeth(owner), bridge, this.config.user === undefined);
        restored.push(`bridge '${bridge}'`);
      }
      if (!(await tableExists(table))) {
        const elements = fs.readdirSync(this.#undoDir).map((ip) => fs.readFileSync(path.join(this.#undoDir, ip), 'utf8').replace(/^delete element /gm, 'add element '));
        // the same ruleset open() applies: a user network's peers and `internal` included
        const user = this.config.user;
        await applyRules(rulesetScript({ table, bridge, subnet, peers: user !== undefined, internal: user?.internal }) + elements.join(''));
        restored.push(`nftables table '${table}'`);
      }
      if (restored.length) process.stderr.write(`warren: ${restored.join(' and ')} had been removed by someone else: restored\n`);
      return restored;
    })().finally(() => (this.#repairing = undefined));
    return this.#repairing;
  }

  /**
   * Idempotent: a bridge and table left by an earlier or concurrent warren are taken as they are.
   * The DNS forwarder comes last: it listens on the bridge's address, which must exist by then.
   */
  static async open(config: NetworkConfig): Promise<SandboxNetwork> {
    const net = parseCidr(config.subnet, { strict: true });
    checkSubnetFree(config.subnet, await readRoutes(), { bridge: config.bridge });
    const gateway = formatIpv4(net.base + 1);
    const user = config.user;
    // the bridge, the table and another firewall's admission are apart, and each is processes to
    // spawn (ip, nft, iptables): made at once, on the way to a server's first sandbox
    const bridge = async () => {
      await ensureBridge({ name: config.bridge, address: `${gateway}/${net.prefix}` });
      writeSysctl('net.ipv4.ip_forward', '1');
      // the host's own `curl 127.0.0.1:HOSTPORT` to a published port is routed out of the bridge
      writeSysctl(`net.ipv4.conf.${config.bridge}.route_localnet`, '1');
    };
    const table = applyRules(rulesetScript({ table: config.table, bridge: config.bridge, subnet: config.subnet, peers: user !== undefined, internal: user?.internal }));
    // another firewall's FORWARD DROP (Docker's) would drop what the table lets through: say so
    // once, when rules are added for it (foreign-firewall.ts)
    const [, , admitted] = await Promise.all([bridge(), table, admitBridge(config.bridge)]);
    if (admitted.length > 0) process.stderr.write(`warren: iptables drops forwarded traffic on this host (Docker?): added ${admitted.map((r) => `'${r}'`).join(' and ')}\n`);
    const names = user ? { dir: namesDir(config), internal: user.internal } : undefined;
    const dns = await DnsForwarder.start({ address: gateway, subnet: config.subnet, resolvConf: config.resolvConf ?? HOST_RESOLV_CONF, ...(names ? { names } : {}) });
    try {
      return new SandboxNetwork(config, dns);
    } catch (err) {
      await dns.close();
      throw err;
    }
  }

  /**
   * Stops the DNS forwarder; the bridge and table stay for the sandboxes of other warren
   * processes (`warren gc` removes them when none is left). Idempotent.
   */
  async close(): Promise<void> {
    clearInterval(this.#watch);
    await this.#repairing?.catch(() => {});
    await this.#dns.close();
  }

  /** An address on the bridge's subnet, for one pooled network namespace. */
  address(owner: string): AddressLease {
    return this.#owned(owner, this.#ipam.allocate(owner));
  }

  /** Live restore: the address of a pooled netns that a process which died leased. */
  adoptAddress(owner: string, ip: string): AddressLease {
    return this.#owned(owner, this.#ipam.adopt(owner, ip));
  }

  /** Its veth is this process's to put back on a bridge made again (repair()) until released. */
  #owned(owner: string, lease: AddressLease): AddressLease {
    this.#owners.add(owner);
    return {
      ...lease,
      release: () => {
        this.#owners.delete(owner);
        lease.release();
      },
    };
  }

  /** Live restore: the undo of the elements that a process which died allowed for `ip` (allow()). */
  adoptElements(ip: string): () => Promise<void> {
    return () => this.#undo(path.join(this.#undoDir, ip));
  }

  /**
   * On a user network, the sandbox at `ip` answers to `names` on the network's DNS server until
   * the returned removal runs (or this process dies); its other lookups are relayed upstream when
   * it has egress. On the default bridge: nothing (no names there, as with Docker's).
   */
  publishNames(ip: string, names: readonly string[], egress: Egress): () => void {
    const user = this.config.user;
    if (!user) return () => {};
    return publishNames(namesDir(this.config), ip, { pid: process.pid, names, relay: egress !== 'none' && !user.internal });
  }

  /**
   * What the sandbox at `ip` may reach and publish: one nft batch, none at all for egress `none`
   * without ports. Returns the undo, which the caller runs when the sandbox ends. A host port
   * that a host process or another sandbox holds fails with WARREN_NET_PORT_IN_USE, having added
   * nothing.
   */
  async allow(ip: string, opts: AttachOptions): Promise<() => Promise<void>> {
    const undoFile = path.join(this.#undoDir, ip);
    await this.#undo(undoFile); // a crashed owner of this address may have left elements
    const sandboxNet = { ip, egress: opts.egress, publish: opts.publish };
    checkSandboxNet(sandboxNet);
    const publish = opts.publish ?? [];
    const onHost = hostPortInUse(publish, this.config.procRoot);
    if (onHost) throw portInUse(onHost, 'host');
    const add = sandboxElements('add', sandboxNet, this.config.table);
    if (add) {
      fs.writeFileSync(undoFile, sandboxElements('delete', sandboxNet, this.config.table));
      try {
        // a table removed by someone else is put back (with this element) before the watch sees it
        await applyRules(add).catch(async (err) => {
          if (!(await this.repair()).some((r) => r.startsWith('nftables'))) await applyRules(add).catch(() => Promise.reject(err));
        });
      } catch (err) {
        // before anything else: this undo would delete the other sandbox's element (keys match)
        fs.rmSync(undoFile, { force: true });
        throw await this.#explain(err, ip, publish);
      }
    }
    return () => this.#undo(undoFile);
  }

  /**
   * A failed batch: if one of our host ports is in the map for another address, that was it
   * (the kernel's "File exists"). Listing after the failure costs nothing when all goes well; if
   * the other sandbox ended meanwhile the listing finds nothing, and the nft error stands.
   */
  async #explain(err: unknown, ip: string, publish: readonly Publish[]): Promise<unknown> {
    if (publish.length === 0) return err;
    const map = await listPublished(this.config.table).catch(() => []);
    const taken = takenBy(publish, ip, map);
    return taken ? portInUse(taken, 'sandbox', err) : err;
  }

  /**
   * Egress of the live sandbox at `ip`, which has `from` now: one transaction (egress-change.ts).
   * The undo file is rewritten first, for the new elements: if warren dies before the change,
   * that exact undo fails and #undo falls back to deleting what the table holds for the address.
   * A narrower egress also forgets the flows the sandbox opened, which the forward chain would
   * otherwise let through as established.
   */
  async setEgress(ip: string, from: AttachOptions, egress: Egress): Promise<void> {
    const next = { ip, egress, publish: from.publish };
    checkSandboxNet(next);
    const script = egressChangeScript(ip, from.egress, egress, this.config.table);
    if (!script) return;
    const undoFile = path.join(this.#undoDir, ip);
    const writeUndo = (s: SandboxNet) => fs.writeFileSync(undoFile, sandboxElements('delete', s, this.config.table));
    writeUndo(next);
    try {
      await applyRules(script);
    } catch (err) {
      writeUndo({ ip, egress: from.egress, publish: from.publish });
      throw new WarrenError('WARREN_NET_EGRESS_SET', `set egress of ${ip}: the old egress stays`, { cause: err });
    }
    if (egressNarrows(from.egress, egress)) await forgetFlows(ip, ['-s']);
  }

  async #undo(file: string): Promise<void> {
    let script: string;
    try {
      script = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw err;
    }
    const ip = path.basename(file);
    // exact, or else (the table was reloaded, or warren died amid an egress change) whatever
    // the table holds for this address, so the next sandbox at it inherits nothing. An empty
    // script is only written by setEgress (to none): listing is the only check there is.
    const purge = () => this.#purge(ip).catch(() => {}); // no table: nothing to inherit
    await (script ? applyRules(script).catch(purge) : purge());
    await forgetFlows(ip);
    fs.rmSync(file, { force: true });
  }

  async #purge(ip: string): Promise<void> {
    const t = this.config.table;
    const set = (name: string) => listJson('set', name, t);
    const lists = { egressPublic: await set('egress_public'), egressAllow: await set('egress_allow'), dnsAllowed: await set('dns_allowed'), publish: await listJson('map', 'publish', t) };
    const script = purgeScript(ip, lists, t);
    if (script) await applyRules(script);
  }

  /**
   * `warren gc`: frees the addresses of dead owners and undoes their elements. When no sandbox is
   * left, `ifLast` says what becomes of the table and the bridge: 'remove' them; 'keep' them (a
   * user network's: its record claims them); 'empty' the table's element sets and keep both (a
   * server about to open them again: what `remove` deletes, open() would make again, one process
   * to spawn at a time, on the path of its start). Returns how many addresses it freed.
   */
  static async collect(config: NetworkConfig, isAlive = pidAlive, ifLast: 'remove' | 'keep' | 'empty' = 'remove', keep: ReadonlySet<string> = new Set()): Promise<number> {
    if (config.user) {
      sweepNames(namesDir(config), isAlive);
      sweepClaims(claimsDir(config), isAlive);
    }
    if (!fs.existsSync(path.join(config.runDir, 'ips'))) return 0;
    const ipam = new Ipam({ subnet: config.subnet, runDir: config.runDir });
    // `keep`: owners a waiting spawner still holds (live restore, restore-records.ts)
    const freed = ipam.reclaim(isAlive, keep);
    const undoDir = path.join(config.runDir, 'nft');
    // no sandbox left: the table goes or is emptied, and the dead ones' elements with it. Undoing
    // them first, one nft run each, was most of a restart's sweep after a SIGKILLed serve
    // (180-620 ms for 13-16 sandboxes under load), for elements deleted a moment later anyway.
    const last = ifLast !== 'keep' && fs.readdirSync(path.join(config.runDir, 'ips')).length === 0;
    for (const { ip } of freed) {
      const file = path.join(undoDir, ip);
      if (!last && fs.existsSync(file)) await applyRules(fs.readFileSync(file, 'utf8')).catch(() => {});
      fs.rmSync(file, { force: true });
    }
    if (last && ifLast === 'remove') await SandboxNetwork.remove(config);
    // no table (someone removed it): open() makes it, empty
    if (last && ifLast === 'empty') await applyRules(emptyElementsScript(config.table)).catch(() => {});
    return freed.length;
  }

  /** Removes the table, the bridge and any iptables rules for it; what is absent already is fine. */
  static async remove(config: { bridge?: string; table?: string }): Promise<void> {
    if (config.table) await applyRules(deleteTableScript(config.table)).catch(() => {});
    if (config.bridge) {
      await removeBridge(config.bridge).catch(() => {});
      await releaseBridge(config.bridge).catch(() => {});
    }
  }
}
