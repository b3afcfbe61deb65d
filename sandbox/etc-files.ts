/**
 * /etc/hosts, /etc/hostname and /etc/resolv.conf as a sandbox sees them. A sandbox on the bridge
 * asks the host's DNS forwarder on the gateway (sandbox/network/dns-forwarder.ts), as a Docker
 * container asks its embedded DNS server: it gets that one nameserver, whatever its egress now
 * (a pooled sandbox made with egress none is given egress later, and its resolv.conf stays), with
 * the host's search domains and options, as Docker keeps them. nftables decides whether its
 * queries get through. A sandbox without a veth has no nameserver it could reach.
 */
import { readResolvConf, formatResolvConf, type ResolvConf } from './network/index.js';

/** The resolv.conf of a sandbox on the bridge: the forwarder at `gateway`, the host's search and options. */
export function sandboxResolvConf(gateway: string, hostResolvConf: string): ResolvConf {
  return { ...readResolvConf(hostResolvConf), nameservers: [gateway] };
}

/** `resolv` undefined: the sandbox has no veth, so no server it could ask. */
export function etcFiles(hostname: string, ip: string | undefined, resolv: ResolvConf | undefined): Array<{ path: string; content: string }> {
  const hosts = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  if (ip) hosts.push(`${ip}\t${hostname}`);
  else hosts.push(`127.0.1.1\t${hostname}`);
  return [
    { path: '/etc/hosts', content: `${hosts.join('\n')}\n` },
    { path: '/etc/hostname', content: `${hostname}\n` },
    { path: '/etc/resolv.conf', content: resolv ? formatResolvConf(resolv) : '# no nameserver: this sandbox has no network\n' },
  ];
}
