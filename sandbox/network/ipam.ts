/**
 * IPv4 addresses for sandboxes, shared by every warren process on the host through a LeaseSet:
 * lease n is the file `<runDir>/ips/<n>` and stands for host address base + 2 + n. The network
 * address (.0) is never a host, the gateway (.1, the bridge's address) is the bridge's, and the
 * broadcast address (the last) is nobody's, so there are size - 3 leases.
 *
 *   const ipam = new Ipam({ subnet: '10.88.0.0/16', runDir });
 *   const a = ipam.allocate('sb-7');   // { ip: '10.88.x.y', cidr: '10.88.x.y/16', gateway: '10.88.0.1' }
 *   a.release();
 */
import path from 'node:path';
import { isWarrenError, WarrenError } from '../../lib/errors.js';
import { LeaseSet, pidAlive } from '../../lib/leases.js';
import { contains, formatIpv4, type Ipv4Net, parseCidr, parseIpv4, size } from './cidr.js';

/** Host addresses reserved at the start of the subnet: the network address and the gateway. */
const RESERVED_LOW = 2;

export interface IpamOptions {
  /** e.g. '10.88.0.0/16'; host bits must be clear */
  subnet: string;
  /** the addresses' lease files go to `<runDir>/ips` */
  runDir: string;
}

export interface AddressLease {
  readonly ip: string;
  /** the address with the subnet's prefix, as the child configures it: '10.88.0.5/16' */
  readonly cidr: string;
  readonly gateway: string;
  release(): void;
}

/** How many sandbox addresses a subnet holds: all but network, gateway and broadcast. */
export function capacity(net: Ipv4Net): number {
  return Math.max(0, size(net) - RESERVED_LOW - 1);
}

export function gatewayOf(net: Ipv4Net): number {
  return net.base + 1;
}

/** Lease number -> address. */
export function addressOf(net: Ipv4Net, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n >= capacity(net)) {
    throw new WarrenError('WARREN_NET_BAD_ADDRESS', `lease ${n} is outside the ${capacity(net)} addresses of the subnet`);
  }
  return net.base + RESERVED_LOW + n;
}

/** Address -> lease number, or undefined for the network, gateway, broadcast or outside. */
export function leaseOf(net: Ipv4Net, ip: number): number | undefined {
  if (!contains(net, ip)) return undefined;
  const n = ip - net.base - RESERVED_LOW;
  return n >= 0 && n < capacity(net) ? n : undefined;
}

export class Ipam {
  readonly subnet: Ipv4Net;
  readonly gateway: string;
  readonly #leases: LeaseSet;

  constructor(options: IpamOptions) {
    this.subnet = parseCidr(options.subnet, { strict: true });
    if (capacity(this.subnet) < 1) {
      throw new WarrenError('WARREN_NET_SUBNET_SMALL', `subnet ${options.subnet} has no room for a sandbox (at most /30)`);
    }
    this.gateway = formatIpv4(gatewayOf(this.subnet));
    this.#leases = new LeaseSet(path.join(options.runDir, 'ips'), capacity(this.subnet));
  }

  allocate(owner: string): AddressLease {
    let lease;
    try {
      lease = this.#leases.take(owner);
    } catch (err) {
      const code = isWarrenError(err, 'WARREN_LEASE_EXHAUSTED') ? 'WARREN_NET_EXHAUSTED' : 'WARREN_NET_ALLOCATE';
      throw new WarrenError(code, `allocate an address in ${this.#name()} for '${owner}'`, { cause: err });
    }
    const ip = formatIpv4(addressOf(this.subnet, lease.n));
    return { ip, cidr: `${ip}/${this.subnet.prefix}`, gateway: this.gateway, release: lease.release };
  }

  /** Live restore: the address `ip`, leased to `owner` by a process that died, becomes this one's. */
  adopt(owner: string, ip: string): AddressLease {
    const n = leaseOf(this.subnet, parseIpv4(ip));
    if (n === undefined) throw new WarrenError('WARREN_NET_BAD_ADDRESS', `${ip} is not a sandbox address of ${this.#name()}`);
    const lease = this.#leases.adopt(n, owner);
    return { ip, cidr: `${ip}/${this.subnet.prefix}`, gateway: this.gateway, release: lease.release };
  }

  /** Drops the leases of dead owners (`warren gc`), but for owners in `keep`; returns the addresses it freed. */
  reclaim(isAlive: (pid: number) => boolean = pidAlive, keep: ReadonlySet<string> = new Set()): Array<{ ip: string; owner: string }> {
    const out: Array<{ ip: string; owner: string }> = [];
    for (const { n, owner } of this.#leases.stale(isAlive)) {
      if (keep.has(owner)) continue;
      this.#leases.drop(n);
      if (Number.isInteger(n) && n >= 0 && n < capacity(this.subnet)) out.push({ ip: formatIpv4(addressOf(this.subnet, n)), owner });
    }
    return out;
  }

  /** Whether `ip` is an address this allocator hands out (not network, gateway or broadcast). */
  isSandboxAddress(ip: string): boolean {
    return leaseOf(this.subnet, parseIpv4(ip)) !== undefined;
  }

  #name(): string {
    return `${formatIpv4(this.subnet.base)}/${this.subnet.prefix}`;
  }
}
