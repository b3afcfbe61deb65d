/**
 * /etc/hosts, /etc/hostname and /etc/resolv.conf as Docker provides them on a network without
 * its embedded DNS server (libnetwork's resolvconf, "legacy" transform):
 *
 *   host file: /etc/resolv.conf, or systemd-resolved's upstream file when /etc/resolv.conf only
 *     names loopback servers (the stub at 127.0.0.53 listens in the host's netns, not ours)
 *   nameservers: loopback ones dropped, IPv6 ones dropped (sandboxes have no IPv6); none left:
 *     Google's public servers, as Docker's defaults
 *   search (the last line, `domain` counts as one), options and unknown directives: kept
 */
import fs from 'node:fs';
import { BlockList, isIP } from 'node:net';

export interface ResolvConf {
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
  readonly options: readonly string[];
  /** Directives other than these three, copied as they are (Docker keeps them too). */
  readonly other: readonly string[];
}

export interface ResolvConfPaths {
  readonly host: string;
  /** Where systemd-resolved writes the servers it forwards to. */
  readonly systemd: string;
}

export const RESOLV_CONF_PATHS: ResolvConfPaths = { host: '/etc/resolv.conf', systemd: '/run/systemd/resolve/resolv.conf' };

/** Docker's fallback when the host leaves a sandbox no server it can reach. */
export const DEFAULT_NAMESERVERS: readonly string[] = ['8.8.8.8', '8.8.4.4'];

/** As glibc reads it: a comment starts with # or ; in the first field; a bad address is skipped. */
export function parseResolvConf(text: string): ResolvConf {
  const rc = { nameservers: [] as string[], search: [] as string[], options: [] as string[], other: [] as string[] };
  for (const line of text.split('\n')) {
    const [key, ...args] = line.trim().split(/\s+/);
    if (!key || key.startsWith('#') || key.startsWith(';')) continue;
    if (key === 'nameserver') {
      if (args[0] && isIP(args[0].split('%')[0] as string)) rc.nameservers.push(args[0]);
    } else if (key === 'search' || key === 'domain') {
      if (args.length) rc.search = args; // the last one wins
    } else if (key === 'options') {
      rc.options.push(...args);
    } else {
      rc.other.push(line.trim());
    }
  }
  return rc;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4'); // BlockList matches IPv4-mapped IPv6 to it too
LOOPBACK.addAddress('::1', 'ipv6');

/** 127/8 and ::1, however written (`0:0::1`, `::ffff:127.0.0.53`). */
export function isLoopback(ip: string): boolean {
  const addr = ip.split('%')[0] as string;
  const family = isIP(addr);
  return family !== 0 && LOOPBACK.check(addr, family === 4 ? 'ipv4' : 'ipv6');
}

/** What a sandbox without IPv6 can use of a host's configuration: the legacy transform above. */
export function forSandbox(host: ResolvConf): ResolvConf {
  const usable = host.nameservers.filter((ip) => !isLoopback(ip) && isIP(ip) === 4);
  return { ...host, nameservers: usable.length ? usable : [...DEFAULT_NAMESERVERS] };
}

/**
 * The resolv.conf a sandbox with egress gets. Read on every sandbox, so a change of the host's
 * DNS (a new network, a VPN) reaches the next sandbox. A missing /etc/resolv.conf is an empty
 * one: glibc then asks the host itself, as it does when only loopback servers are listed.
 */
export function sandboxResolvConf(paths: ResolvConfPaths = RESOLV_CONF_PATHS): ResolvConf {
  const host = parseResolvConf(readOrEmpty(paths.host));
  if (host.nameservers.every(isLoopback)) {
    // a local stub (systemd-resolved): use what it forwards to, when that is something we can reach
    const upstream = parseResolvConf(readOrEmpty(paths.systemd));
    if (upstream.nameservers.some((ip) => !isLoopback(ip))) return forSandbox(upstream);
  }
  return forSandbox(host);
}

export function formatResolvConf(rc: ResolvConf): string {
  const lines = rc.nameservers.map((ip) => `nameserver ${ip}`);
  if (rc.search.length) lines.push(`search ${rc.search.join(' ')}`);
  if (rc.options.length) lines.push(`options ${rc.options.join(' ')}`);
  lines.push(...rc.other);
  return `${lines.join('\n')}\n`;
}

/** `resolv` undefined: the sandbox has no egress, so no server it could ask. */
export function etcFiles(hostname: string, ip: string | undefined, resolv: ResolvConf | undefined): Array<{ path: string; content: string }> {
  const hosts = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  if (ip) hosts.push(`${ip}\t${hostname}`);
  else hosts.push(`127.0.1.1\t${hostname}`);
  return [
    { path: '/etc/hosts', content: `${hosts.join('\n')}\n` },
    { path: '/etc/hostname', content: `${hostname}\n` },
    { path: '/etc/resolv.conf', content: resolv ? formatResolvConf(resolv) : '# no nameserver: this sandbox has no egress\n' },
  ];
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
