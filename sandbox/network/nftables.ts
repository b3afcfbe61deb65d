/**
 * The nftables table that keeps sandboxes in their lane. `rulesetScript` is generated once per
 * warren start and loaded with one `nft -f -`; what changes per sandbox (its egress and published
 * ports) lives in sets and maps, updated by `sandboxElements` batches, never by adding rules.
 *
 * Chains and why each rule sits where it does:
 *  - input (host as destination): from the bridge only replies get in (ct established,related),
 *    and queries to the DNS forwarder (dns-forwarder.ts) on the gateway's port 53 from sandboxes
 *    in dns_allowed (those with egress). Others' queries there are rejected, not dropped, so a
 *    lookup without egress fails at once instead of after the resolver's timeouts.
 *    Nothing for `-p` is needed here: published ports are DNAT'ed in prerouting, before routing,
 *    so they go through forward; the one exception is the host's own connection to a published
 *    port (output DNAT below), whose replies come back from the bridge, hence the replies rule.
 *  - forward: bridge -> bridge is dropped (sandbox to sandbox through the gateway; bridge port
 *    isolation already stops it at L2), except on a user network (`peers`), whose sandboxes talk
 *    (with br_netfilter loaded, as Docker loads it, even bridged frames pass this hook). Another
 *    network's addresses are in 10.0.0.0/8, blocked: each table drops what leaves its bridge for
 *    another's, and what enters its bridge unasked. Into the bridge: replies, and new connections only when
 *    DNAT'ed by the publish map. Out of the bridge: replies first (a published port's client may
 *    sit on a private LAN), then private, link-local (metadata 169.254.169.254), loopback,
 *    multicast and reserved destinations dropped, then `public` sandboxes and allowlisted
 *    (sandbox . destination) pairs accepted, and everything else dropped: egress `none` is simply
 *    no element, so a sandbox the table does not know gets nothing (fail closed).
 *  - prerouting (nat): `-p HOSTPORT:PORT` from outside: DNAT when the host is the destination.
 *  - output (nat): the same for the host's own connections (curl localhost:HOSTPORT). For a
 *    127.0.0.1 destination the kernel then routes a 127.0.0.1 source out of the bridge, which it
 *    only does with net.ipv4.conf.<bridge>.route_localnet=1; postrouting masquerades it to the
 *    gateway address. route_localnet lets the bridge's side send to 127/8 too, which input drops.
 *  - postrouting (nat): masquerade what sandboxes send out of the host (public and allowlisted
 *    egress: nothing else passes forward), optionally only through `uplink`.
 */
import { spawn } from 'node:child_process';
import { WarrenError } from '../../lib/errors.js';
import { formatCidr, formatIpv4, type Ipv4Net, overlaps, parseCidr, parseIpv4 } from './cidr.js';
import { libnftables, NftFailed } from './libnftables.js';

/** The forwarder's port on the gateway (dns-forwarder.ts). */
export const DNS_PORT = 53;

/** Destinations no sandbox reaches, whatever its egress. */
export const BLOCKED_RANGES: readonly string[] = [
  '0.0.0.0/8', // "this network"
  '10.0.0.0/8', // private
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local, cloud metadata 169.254.169.254
  '172.16.0.0/12', // private
  '192.168.0.0/16', // private
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved and broadcast
];

export interface RulesetOptions {
  /** nftables table name in family inet; 'warren' in production, 'wrntest…' in tests */
  table?: string;
  bridge?: string;
  /** the sandbox subnet, '10.88.0.0/16' */
  subnet: string;
  /** masquerade only out of this interface (the default route's); any but the bridge if unset */
  uplink?: string;
  /**
   * A user network (`warren network create`): its sandboxes reach each other on every port
   * (bridge -> bridge accepted; their bridge ports are not isolated either), and each of them may
   * ask the network's DNS server on the gateway (it answers the network's names; whether it
   * relays other names is its own per-sandbox decision, dns-forwarder.ts).
   */
  peers?: boolean;
  /** With `peers`: no egress at all, whatever a sandbox's --egress (Docker's --internal). */
  internal?: boolean;
}

export type Egress = 'none' | 'public' | { allow: readonly string[] };

export interface Publish {
  proto: 'tcp' | 'udp';
  hostPort: number;
  port: number;
}

/** One element of the publish map as listed: proto . hostPort -> ip . port. */
export interface Published {
  proto: string;
  hostPort: number;
  ip: string;
  port: number;
}

export interface SandboxNet {
  ip: string;
  egress: Egress;
  publish?: readonly Publish[];
}

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function checkOptions(o: RulesetOptions): Required<Omit<RulesetOptions, 'uplink' | 'peers' | 'internal'>> & { uplink?: string } {
  const table = o.table ?? 'warren';
  const bridge = o.bridge ?? 'warren0';
  if (!NAME.test(table)) throw new WarrenError('WARREN_NET_NFT_NAME', `table name '${table}' must be letters, digits, _`);
  for (const dev of [bridge, o.uplink ?? 'lo']) {
    if (!IFNAME.test(dev)) throw new WarrenError('WARREN_NET_NFT_NAME', `interface name '${dev}' is not valid`);
  }
  parseCidr(o.subnet, { strict: true });
  return { table, bridge, subnet: o.subnet, uplink: o.uplink };
}

/**
 * The whole table as an `nft -f` script. Idempotent and safe to re-apply while sandboxes run:
 * sets and maps are `add`ed (kept, with their elements), chains are flushed and refilled, all in
 * one transaction.
 */
export function rulesetScript(options: RulesetOptions): string {
  const { table, bridge, subnet, uplink } = checkOptions(options);
  const T = `inet ${table}`;
  const br = JSON.stringify(bridge);
  const gateway = formatIpv4(parseCidr(subnet).base + 1); // bridge.ts gives the bridge this address
  const dns = `iifname ${br} ip daddr ${gateway}`;
  const peers = options.peers === true;
  const internal = peers && options.internal === true;
  // on the default bridge only sandboxes with egress may ask; on a user network every one (names)
  const dnsFrom = peers ? `ip saddr ${subnet}` : 'ip saddr @dns_allowed';
  // an internal network's sandboxes send nothing out, whatever their elements say
  const egress = internal ? [] : [`iifname ${br} ip saddr @egress_public accept`, `iifname ${br} ip saddr . ip daddr @egress_allow accept`];
  const masquerade = internal ? [] : [`ip saddr ${subnet} oifname ${uplink ? JSON.stringify(uplink) : `!= ${br}`} masquerade`];
  const chains: Array<[string, string, string[]]> = [
    ['input', 'type filter hook input priority filter; policy accept;', [
      `iifname ${br} ct state established,related accept`,
      `${dns} meta l4proto { tcp, udp } th dport ${DNS_PORT} ${dnsFrom} accept`,
      `${dns} udp dport ${DNS_PORT} reject`,
      `${dns} tcp dport ${DNS_PORT} reject with tcp reset`,
      `iifname ${br} drop`,
    ]],
    ['forward', 'type filter hook forward priority filter; policy accept;', [
      `iifname ${br} oifname ${br} ${peers ? 'accept' : 'drop'}`,
      `oifname ${br} ct state established,related accept`,
      `oifname ${br} ct status dnat accept`,
      `oifname ${br} drop`,
      `iifname ${br} ct state established,related accept`,
      `iifname ${br} ip daddr @blocked drop`,
      ...egress,
      `iifname ${br} drop`,
    ]],
    ['prerouting', 'type nat hook prerouting priority dstnat; policy accept;', [
      `iifname != ${br} fib daddr type local dnat ip to meta l4proto . th dport map @publish`,
    ]],
    ['output', 'type nat hook output priority -100; policy accept;', [
      'fib daddr type local dnat ip to meta l4proto . th dport map @publish',
    ]],
    ['postrouting', 'type nat hook postrouting priority srcnat; policy accept;', [
      `oifname ${br} ip saddr 127.0.0.0/8 masquerade`,
      ...masquerade,
    ]],
  ];
  const lines = [
    `# warren: sandbox isolation for bridge ${bridge}, subnet ${subnet}. Generated; see nftables.ts.`,
    `add table ${T}`,
    `add set ${T} blocked { type ipv4_addr; flags interval; }`,
    `flush set ${T} blocked`,
    `add element ${T} blocked { ${BLOCKED_RANGES.join(', ')} }`,
    `add set ${T} egress_public { type ipv4_addr; }`,
    `add set ${T} egress_allow { type ipv4_addr . ipv4_addr; flags interval; }`,
    `add set ${T} dns_allowed { type ipv4_addr; }`,
    `add map ${T} publish { type inet_proto . inet_service : ipv4_addr . inet_service; }`,
  ];
  for (const [name, hook, rules] of chains) {
    lines.push(`add chain ${T} ${name} { ${hook} }`, `flush chain ${T} ${name}`);
    for (const rule of rules) lines.push(`add rule ${T} ${name} ${rule}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Removes the whole table (warren's last stop; tests). */
export function deleteTableScript(table = 'warren'): string {
  if (!NAME.test(table)) throw new WarrenError('WARREN_NET_NFT_NAME', `table name '${table}' must be letters, digits, _`);
  return `delete table inet ${table}\n`;
}

/** Empties the sets and the map that hold sandboxes' elements, and keeps the table's rules (no
 * sandbox left, and a server about to use the table again: host-network.ts collect). */
export function emptyElementsScript(table = 'warren'): string {
  if (!NAME.test(table)) throw new WarrenError('WARREN_NET_NFT_NAME', `table name '${table}' must be letters, digits, _`);
  const T = `inet ${table}`;
  return `flush set ${T} egress_public\nflush set ${T} egress_allow\nflush set ${T} dns_allowed\nflush map ${T} publish\n`;
}

/** Checks a sandbox's network spec; allowlist entries must not fall in a blocked range. */
export function checkSandboxNet(s: SandboxNet): void {
  parseIpv4(s.ip);
  if (typeof s.egress === 'object') {
    for (const cidr of s.egress.allow) {
      const net = parseCidr(cidr);
      const blocked = BLOCKED_RANGES.find((b) => overlaps(parseCidr(b), net));
      if (blocked) {
        throw new WarrenError('WARREN_NET_EGRESS_BLOCKED', `egress allowlist entry ${cidr} overlaps blocked range ${blocked}`);
      }
    }
  } else if (s.egress !== 'none' && s.egress !== 'public') {
    throw new WarrenError('WARREN_NET_EGRESS', `egress '${String(s.egress)}' is not none, public or { allow }`);
  }
  const seen = new Set<string>();
  for (const p of s.publish ?? []) {
    if ((p.proto !== 'tcp' && p.proto !== 'udp') || !isPort(p.hostPort) || !isPort(p.port)) {
      throw new WarrenError('WARREN_NET_PUBLISH', `publish ${p.proto}/${p.hostPort}:${p.port} is not proto/1-65535:1-65535`);
    }
    // the map holds one destination per host port; the batch would fail with a bare "File exists"
    if (seen.has(`${p.proto}/${p.hostPort}`)) throw new WarrenError('WARREN_NET_PUBLISH', `host port ${p.proto}/${p.hostPort} is published twice`);
    seen.add(`${p.proto}/${p.hostPort}`);
  }
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/**
 * The element commands for one sandbox: `add` when it starts, `delete` when it goes. Both must be
 * exact (nft 1.0.6 has no `destroy element`), so the caller keeps the spec it added. A published
 * host port already taken makes the whole batch fail: nft reports "File exists" (ports.ts).
 */
export function sandboxElements(verb: 'add' | 'delete', s: SandboxNet, table = 'warren'): string {
  checkSandboxNet(s);
  const T = `inet ${table}`;
  const out = egressLines(verb, s.ip, s.egress, table);
  const published = (s.publish ?? []).map((p) => `${p.proto} . ${p.hostPort} : ${s.ip} . ${p.port}`);
  if (published.length > 0) out.push(`${verb} element ${T} publish { ${published.join(', ')} }`);
  return out.length ? `${out.join('\n')}\n` : '';
}

/**
 * The egress elements of the sandbox at `ip` (none for egress `none`), as `verb element` lines:
 * what it may reach, and, with any egress at all, the DNS forwarder (it resolves the names of
 * what it may reach; which names resolve is not what egress limits).
 */
export function egressLines(verb: 'add' | 'delete', ip: string, egress: Egress, table = 'warren'): string[] {
  const T = `inet ${table}`;
  const dns = `${verb} element ${T} dns_allowed { ${ip} }`;
  if (egress === 'public') return [`${verb} element ${T} egress_public { ${ip} }`, dns];
  if (typeof egress === 'object' && egress.allow.length > 0) {
    const pairs = egress.allow.map((c) => `${ip} . ${canonical(parseCidr(c))}`);
    return [`${verb} element ${T} egress_allow { ${pairs.join(', ')} }`, dns];
  }
  return [];
}

function canonical(net: Ipv4Net): string {
  return net.prefix === 32 ? formatCidr(net).slice(0, -3) : formatCidr(net);
}

/** Runs `nft -f -` once with `script` on stdin; the whole script is one transaction. */
export async function applyRules(script: string, nftBinary = 'nft'): Promise<void> {
  await runNft(nftBinary, ['-f', '-'], script);
}

/** The elements of the publish map, from `nft -j list map`. */
export async function listPublished(table = 'warren', nftBinary = 'nft'): Promise<Published[]> {
  if (!NAME.test(table)) throw new WarrenError('WARREN_NET_NFT_NAME', `table name '${table}' must be letters, digits, _`);
  return parsePublishMap(await runNft(nftBinary, ['-j', 'list', 'map', 'inet', table, 'publish']));
}

/** `nft -j list set|map inet <table> <name>`, as printed (JSON). */
export async function listJson(kind: 'set' | 'map', name: string, table = 'warren', nftBinary = 'nft'): Promise<string> {
  if (!NAME.test(table) || !NAME.test(name)) throw new WarrenError('WARREN_NET_NFT_NAME', `table '${table}' or ${kind} '${name}' is not letters, digits, _`);
  return runNft(nftBinary, ['-j', 'list', kind, 'inet', table, name]);
}

/**
 * `nft -j list map` output -> elements. An element is [{concat: [proto, hostPort]}, {concat:
 * [ip, port]}]; nft prints ports as numbers unless asked for service names (-S), which we never do.
 */
export function parsePublishMap(json: string): Published[] {
  const doc = JSON.parse(json) as { nftables?: Array<{ map?: { elem?: unknown[] } }> };
  const out: Published[] = [];
  for (const elem of doc.nftables?.find((o) => o.map)?.map?.elem ?? []) {
    const [key, value] = Array.isArray(elem) ? (elem as unknown[]) : [];
    const [proto, hostPort] = concatOf(key);
    const [ip, port] = concatOf(value);
    if (typeof proto === 'string' && typeof hostPort === 'number' && typeof ip === 'string' && typeof port === 'number') {
      out.push({ proto, hostPort, ip, port });
    }
  }
  return out;
}

function concatOf(x: unknown): unknown[] {
  const parts = (x as { concat?: unknown } | null | undefined)?.concat;
  return Array.isArray(parts) ? parts : [];
}

/**
 * Runs nft once, `input` on its stdin (`-f -`); resolves with its stdout. In process through
 * libnftables when it loads (libnftables.ts: no fork and exec of warren per run), else the tool.
 */
function runNft(nftBinary: string, args: readonly string[], input = ''): Promise<string> {
  const what = `'${[nftBinary, ...args].join(' ')}'`;
  const lib = nftBinary === 'nft' ? libnftables() : null;
  if (lib) {
    const json = args[0] === '-j';
    const rest = json ? args.slice(1) : args;
    const script = rest[0] === '-f' && rest[1] === '-' ? input : rest.join(' ');
    try {
      return Promise.resolve(lib.run(script, { json }));
    } catch (err) {
      if (!(err instanceof NftFailed)) throw err;
      const first = err.message.split('\n').slice(0, 3).join(' | ');
      return Promise.reject(new WarrenError('WARREN_NET_NFT', `${what} failed: ${first}`));
    }
  }
  return new Promise((resolve, reject) => {
    const child = spawn(nftBinary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => reject(new WarrenError('WARREN_NET_NFT', `run ${what}`, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) return resolve(stdout);
      const first = stderr.trim().split('\n').slice(0, 3).join(' | ');
      reject(new WarrenError('WARREN_NET_NFT', `${what} failed (exit ${code}): ${first}`));
    });
    child.stdin.on('error', () => {}); // an early exit is reported by 'close'
    child.stdin.end(input);
  });
}

/** `nft ARGS...` (no script): its output; rejects WARREN_NET_NFT as applyRules does. */
export function nftCommand(...args: string[]): Promise<string> {
  return runNft('nft', args);
}
