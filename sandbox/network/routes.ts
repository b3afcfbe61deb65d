/**
 * Refuse to start when the sandbox subnet overlaps a route the host already has: the bridge would
 * shadow (or be shadowed by) a LAN, a VPN or another container network. The route table comes in
 * as text, either `ip -j route show table all` or /proc/net/route, so tests run on samples.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WarrenError } from '../../lib/errors.js';
import { formatCidr, type Ipv4Net, overlaps, parseCidr, parseIpv4 } from './cidr.js';

export interface Route {
  readonly dst: Ipv4Net;
  readonly dev: string;
  /** 'main', 'local', ...; undefined when the source does not say (/proc/net/route: main) */
  readonly table?: string;
  readonly type?: string;
}

interface IpJsonRoute {
  dst?: string;
  dev?: string;
  table?: string;
  type?: string;
}

/** Parses either format; the default route is left out (every subnet is inside it). */
export function parseRoutes(text: string): Route[] {
  const trimmed = text.trim();
  const routes = trimmed.startsWith('[') ? fromIpJson(trimmed) : fromProcNetRoute(trimmed);
  return routes.filter((r) => r.dst.prefix > 0);
}

function fromIpJson(text: string): Route[] {
  let entries: IpJsonRoute[];
  try {
    entries = JSON.parse(text) as IpJsonRoute[];
  } catch (err) {
    throw new WarrenError('WARREN_NET_ROUTES', 'parse the output of ip -j route', { cause: err });
  }
  const out: Route[] = [];
  for (const e of entries) {
    // 'default', IPv6 (ip -j route shows IPv4 unless -6, but be safe) and routes without a device
    if (!e.dst || e.dst === 'default' || e.dst.includes(':')) continue;
    out.push({ dst: parseCidr(e.dst), dev: e.dev ?? '', table: e.table ?? 'main', type: e.type ?? 'unicast' });
  }
  return out;
}

/** Iface Destination Gateway Flags RefCnt Use Metric Mask ...; addresses in little-endian hex. */
function fromProcNetRoute(text: string): Route[] {
  const out: Route[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !f[0] || !f[1] || !f[7]) continue;
    const dst = leHex(f[1]);
    const mask = leHex(f[7]);
    const prefix = mask.toString(2).replace(/0+$/, '').length;
    out.push({ dst: parseCidr(`${ipText(dst)}/${mask === 0 ? 0 : prefix}`), dev: f[0] });
  }
  return out;
}

function leHex(hex: string): number {
  const n = Number.parseInt(hex, 16);
  return (((n & 255) << 24) | (((n >>> 8) & 255) << 16) | (((n >>> 16) & 255) << 8) | (n >>> 24)) >>> 0;
}

function ipText(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function describeRoute(r: Route): string {
  const type = r.type && r.type !== 'unicast' ? `${r.type} ` : '';
  const table = r.table && r.table !== 'main' ? ` table ${r.table}` : '';
  return `${type}${formatCidr(r.dst)}${r.dev ? ` dev ${r.dev}` : ''}${table}`;
}

/**
 * Throws WARREN_NET_SUBNET_OVERLAP naming the first route that overlaps `subnet`, leaving out the
 * routes of warren's own bridge (present when warren restarts: its subnet, gateway, broadcast).
 */
export function checkSubnetFree(subnet: string, routesText: string, options: { bridge?: string } = {}): void {
  const net = parseCidr(subnet, { strict: true });
  const bridge = options.bridge ?? 'warren0';
  for (const r of parseRoutes(routesText)) {
    if (r.dev === bridge || !overlaps(net, r.dst)) continue;
    throw new WarrenError('WARREN_NET_SUBNET_OVERLAP', `subnet ${subnet} overlaps route ${describeRoute(r)}`);
  }
}

/** The host's routes, every table, as `ip -j` prints them (once per warren start). */
export async function readRoutes(ipBinary = 'ip'): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(ipBinary, ['-j', '-4', 'route', 'show', 'table', 'all']);
    return stdout;
  } catch (err) {
    throw new WarrenError('WARREN_NET_ROUTES', `read the host's routes with '${ipBinary} -j route'`, { cause: err });
  }
}

/** For a gateway-less check of an address: whether it falls in any route other than default. */
export function routeFor(ip: string, routesText: string): Route | undefined {
  const n = parseIpv4(ip);
  return parseRoutes(routesText)
    .filter((r) => overlaps(r.dst, { base: n, prefix: 32 }))
    .sort((a, b) => b.dst.prefix - a.dst.prefix)[0];
}
