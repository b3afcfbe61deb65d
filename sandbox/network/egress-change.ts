/**
 * Egress changed on a live sandbox, as nft scripts. The change is one `nft -f` transaction that
 * deletes the old elements and adds the new ones, so the kernel swaps them at once: no packet
 * sees both (the union of two allowlists) or neither. Pure: host-network.ts runs the scripts.
 *
 * And the fallback of every undo: the elements that the table holds for one address, read from
 * `nft -j list`, for when an exact delete script no longer matches (a crash between a change
 * and the rewrite of its undo file). nft 1.0.6 has no `destroy element`, and a delete of one
 * missing element fails the whole batch, so what is there must be named exactly.
 */
import { WarrenError } from '../../lib/errors.js';
import { parseCidr } from './cidr.js';
import { egressLines, type Egress } from './nftables.js';

/** The one transaction that turns egress `from` into `to` for the sandbox at `ip`; '' if equal. */
export function egressChangeScript(ip: string, from: Egress, to: Egress, table = 'warren'): string {
  if (sameEgress(from, to)) return '';
  // an element both egresses hold stays (public to an allowlist keeps its dns_allowed element)
  const before = egressLines('add', ip, from, table);
  const after = egressLines('add', ip, to, table);
  const lines = [...before.filter((l) => !after.includes(l)).map((l) => l.replace(/^add /, 'delete ')), ...after.filter((l) => !before.includes(l))];
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/**
 * Whether `to` may deny a flow that `from` allowed: then the flows the sandbox opened must be
 * forgotten (conntrack), because the forward chain accepts an established flow before it looks
 * at egress at all.
 */
export function egressNarrows(from: Egress, to: Egress): boolean {
  if (from === 'none' || to === 'public') return false;
  if (from === 'public') return true;
  if (to === 'none') return from.allow.length > 0;
  const kept = new Set(to.allow.map((c) => parseCidr(c)).map((n) => `${n.base}/${n.prefix}`));
  return from.allow.some((c) => {
    const n = parseCidr(c);
    return !kept.has(`${n.base}/${n.prefix}`);
  });
}

export function sameEgress(a: Egress, b: Egress): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  const norm = (e: { allow: readonly string[] }) => e.allow.map((c) => parseCidr(c)).map((n) => `${n.base}/${n.prefix}`).sort().join(',');
  return norm(a) === norm(b);
}

type Json = { nftables?: Array<{ set?: { elem?: unknown[] }; map?: { elem?: unknown[] } }> };

/**
 * Delete lines for every element of `ip` found in the listings of egress_public, egress_allow,
 * dns_allowed (`nft -j list set`) and publish (`nft -j list map`); '' when there is none.
 */
export function purgeScript(ip: string, lists: { egressPublic: string; egressAllow: string; dnsAllowed: string; publish: string }, table = 'warren'): string {
  const T = `inet ${table}`;
  const elems = (text: string) => {
    const doc = JSON.parse(text) as Json;
    const o = doc.nftables?.find((x) => x.set ?? x.map);
    return (o?.set ?? o?.map)?.elem ?? [];
  };
  const lines: string[] = [];
  const pub = elems(lists.egressPublic).filter((e) => e === ip);
  if (pub.length) lines.push(`delete element ${T} egress_public { ${ip} }`);
  if (elems(lists.dnsAllowed).some((e) => e === ip)) lines.push(`delete element ${T} dns_allowed { ${ip} }`);
  const pairs = elems(lists.egressAllow).flatMap((e) => {
    const [src, dst] = concatOf(e);
    return src === ip ? [`${ip} . ${cidrOf(dst)}`] : [];
  });
  if (pairs.length) lines.push(`delete element ${T} egress_allow { ${pairs.join(', ')} }`);
  const ports = elems(lists.publish).flatMap((e) => {
    const [key, value] = Array.isArray(e) ? (e as unknown[]) : [];
    const [proto, hostPort] = concatOf(key);
    const [to] = concatOf(value);
    return to === ip ? [`${String(proto)} . ${String(hostPort)}`] : [];
  });
  if (ports.length) lines.push(`delete element ${T} publish { ${ports.join(', ')} }`);
  return lines.length ? `${lines.join('\n')}\n` : '';
}

function concatOf(x: unknown): unknown[] {
  const parts = (x as { concat?: unknown } | null | undefined)?.concat;
  return Array.isArray(parts) ? parts : [];
}

/** An address, {prefix: {addr, len}} or {range: [a, b]} as nft prints it, as nft reads it. */
function cidrOf(x: unknown): string {
  if (typeof x === 'string') return x;
  const p = (x as { prefix?: { addr?: unknown; len?: unknown } }).prefix;
  if (p && typeof p.addr === 'string' && typeof p.len === 'number') return `${p.addr}/${p.len}`;
  const r = (x as { range?: unknown[] }).range;
  if (Array.isArray(r) && typeof r[0] === 'string' && typeof r[1] === 'string') return `${r[0]}-${r[1]}`;
  throw new WarrenError('WARREN_NET_NFT', `unexpected element ${JSON.stringify(x)} in an egress_allow listing`);
}
