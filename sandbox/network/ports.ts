/**
 * Whether a host port can be published (`-p HOSTPORT:PORT`). Two owners can hold one already:
 *  - another sandbox: its element in the nftables publish map. The map's key is proto . host port,
 *    so the kernel refuses a second element ("File exists") and the batch is the check itself,
 *    atomic across concurrent warren processes; `takenBy` only names, after a failed batch, which
 *    of the ports it was.
 *  - a host process listening on it: the DNAT in prerouting/output would take its IPv4 traffic
 *    away without a word (docker-proxy would fail to bind instead). `hostPortInUse` looks first.
 * Both fail with WARREN_NET_PORT_IN_USE, naming the protocol and the port.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WarrenError, errnoOf } from '../../lib/errors.js';
import type { Publish, Published } from './nftables.js';

/** /proc/net/{tcp,udp}* `st`: TCP_LISTEN; an unconnected (server) UDP socket shows TCP_CLOSE. */
const SERVING_STATE = { tcp: '0A', udp: '07' } as const;

/**
 * The local ports of sockets serving in one /proc/net/{tcp,tcp6,udp,udp6} text: listening TCP,
 * unconnected UDP. Connected UDP sockets are clients (an ephemeral port), left out.
 */
export function servingPorts(text: string, proto: 'tcp' | 'udp'): Set<number> {
  const ports = new Set<number>();
  for (const line of text.split('\n').slice(1)) {
    const [, local, , st] = line.trim().split(/\s+/);
    if (!local || st !== SERVING_STATE[proto]) continue;
    const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (Number.isInteger(port)) ports.add(port);
  }
  return ports;
}

/**
 * The first of `publish` a host process serves on, any address, IPv4 or IPv6 (a dual-stack `::`
 * listener takes IPv4 too; and any local address is DNAT'ed, `fib daddr type local`).
 *
 * Reading /proc/net rather than binding the port for a moment from Node: a bind has side effects
 * (for that moment warren owns the port, so a client or a host server starting then fails
 * because of us), its answer depends on SO_REUSEADDR rules and the address picked, and it is
 * async; the files are read once, only for sandboxes that publish, and need no socket. Their cost
 * grows with the host's socket count (a few ms at tens of thousands). `procRoot` is a parameter
 * so tests use a temp dir; it must be the /proc of a process in the host's network namespace.
 *
 * A host process that starts listening after this check is not seen: warren keeps no socket on
 * the port, unlike docker-proxy.
 */
export function hostPortInUse(publish: readonly Publish[], procRoot = '/proc'): Publish | undefined {
  const serving = { tcp: new Set<number>(), udp: new Set<number>() };
  for (const proto of new Set(publish.map((p) => p.proto))) {
    for (const file of [proto, `${proto}6`]) {
      let text: string;
      try {
        text = fs.readFileSync(path.join(procRoot, 'net', file), 'utf8');
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') continue; // no IPv6 in this kernel
        throw new WarrenError('WARREN_NET_PROC', `read ${path.join(procRoot, 'net', file)}`, { cause: err });
      }
      for (const port of servingPorts(text, proto)) serving[proto].add(port);
    }
  }
  return publish.find((p) => serving[p.proto].has(p.hostPort));
}

/** The first of `publish` whose host port the map gives to an address other than `ip`. */
export function takenBy(publish: readonly Publish[], ip: string, map: readonly Published[]): Publish | undefined {
  return publish.find((p) => map.some((e) => e.proto === p.proto && e.hostPort === p.hostPort && e.ip !== ip));
}

export function portInUse(p: Publish, owner: 'sandbox' | 'host', cause?: unknown): WarrenError {
  const where = owner === 'sandbox' ? 'is already published by another sandbox' : 'is in use on the host';
  return new WarrenError('WARREN_NET_PORT_IN_USE', `host port ${p.proto}/${p.hostPort} ${where}`, { cause });
}
