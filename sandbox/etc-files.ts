/** /etc/hosts, /etc/hostname and /etc/resolv.conf as Docker provides them. */
import fs from 'node:fs';

/** The host's nameservers that a sandbox could reach: loopback ones (a local stub resolver) are
 * the host's own and out of a sandbox's reach, as Docker also finds. */
export function hostNameservers(resolvConf = '/etc/resolv.conf'): string[] {
  let text = '';
  try {
    text = fs.readFileSync(resolvConf, 'utf8');
  } catch {
    return [];
  }
  return [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)]
    .map((m) => m[1] as string)
    .filter((ip) => !ip.startsWith('127.') && ip !== '::1');
}

export function etcFiles(hostname: string, ip: string | undefined, nameservers: readonly string[]): Array<{ path: string; content: string }> {
  const hosts = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  if (ip) hosts.push(`${ip}\t${hostname}`);
  else hosts.push(`127.0.1.1\t${hostname}`);
  const resolv = nameservers.length ? nameservers.map((n) => `nameserver ${n}`).join('\n') : '# no nameserver: this sandbox has no egress';
  return [
    { path: '/etc/hosts', content: `${hosts.join('\n')}\n` },
    { path: '/etc/hostname', content: `${hostname}\n` },
    { path: '/etc/resolv.conf', content: `${resolv}\n` },
  ];
}
