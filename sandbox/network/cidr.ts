/**
 * IPv4 addresses and prefixes as plain numbers: parsing, formatting and containment. Pure, so the
 * allocator, the route check and the nftables generator share one definition of "inside".
 */
import { WarrenError } from '../../lib/errors.js';

/** An IPv4 network: `base` is the network address as an unsigned 32-bit number, host bits clear. */
export interface Ipv4Net {
  readonly base: number;
  readonly prefix: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) {
    throw new WarrenError('WARREN_NET_BAD_ADDRESS', `'${text}' is not an IPv4 address`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function netmask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * "10.88.0.0/16" -> { base, prefix }. A bare address is a /32. With `strict`, host bits must be
 * clear (a subnet someone configured); without, they are cleared (a route or an allowlist entry).
 */
export function parseCidr(text: string, options: { strict?: boolean } = {}): Ipv4Net {
  const [addr = '', len, extra] = text.split('/');
  if (extra !== undefined || (len !== undefined && !/^(3[0-2]|[12]?\d)$/.test(len))) {
    throw new WarrenError('WARREN_NET_BAD_ADDRESS', `'${text}' is not an IPv4 prefix (a.b.c.d/n)`);
  }
  const ip = parseIpv4(addr);
  const prefix = len === undefined ? 32 : Number(len);
  const base = (ip & netmask(prefix)) >>> 0;
  if (options.strict && base !== ip) {
    throw new WarrenError('WARREN_NET_BAD_ADDRESS', `'${text}' has host bits set; did you mean ${formatCidr({ base, prefix })}?`);
  }
  return { base, prefix };
}

export function formatCidr(net: Ipv4Net): string {
  return `${formatIpv4(net.base)}/${net.prefix}`;
}

export function size(net: Ipv4Net): number {
  return 2 ** (32 - net.prefix);
}

export function broadcast(net: Ipv4Net): number {
  return net.base + size(net) - 1;
}

export function contains(net: Ipv4Net, ip: number): boolean {
  return (ip & netmask(net.prefix)) >>> 0 === net.base;
}

/** Two prefixes overlap exactly when one contains the other's base. */
export function overlaps(a: Ipv4Net, b: Ipv4Net): boolean {
  return a.prefix <= b.prefix ? contains(a, b.base) : contains(b, a.base);
}
