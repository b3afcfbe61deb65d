/**
 * The sandbox's /etc files, and the host's resolv.conf as the DNS forwarder and the sandboxes read
 * it: tables over fixture files in a temp dir, never the host's own. No root and no network
 * traffic: this is about file contents only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { etcFiles, sandboxResolvConf } from './etc-files.js';
import { formatResolvConf, parseResolvConf, readResolvConf } from './network/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-resolv-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

// systemd-resolved's stub file: the forwarder, in the host's namespace, asks 127.0.0.53 itself
const STUB = '# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n';

const cases: Array<[string, string | undefined, string]> = [
  ['systemd-resolved stub: the gateway, its search and options', STUB, 'nameserver 10.88.0.1\nsearch lan\noptions edns0 trust-ad\n'],
  ['a private resolver: the gateway only', 'nameserver 10.255.255.53\n', 'nameserver 10.88.0.1\n'],
  ['no file at all: the gateway only', undefined, 'nameserver 10.88.0.1\n'],
  [
    'comments, bad addresses, domain as search, options accumulated, other directives kept',
    '; generated\n# nameserver 1.2.3.4\nnameserver not-an-ip\nnameserver 8.8.8.8 # google\ndomain old.example\nsearch a.example b.example\noptions ndots:1\noptions rotate\nsortlist 130.155.160.0/255.255.240.0\n',
    'nameserver 10.88.0.1\nsearch a.example b.example\noptions ndots:1 rotate\nsortlist 130.155.160.0/255.255.240.0\n',
  ],
];

for (const [name, host, want] of cases) {
  t.test(name, async (t) => {
    const file = path.join(dir, name.replace(/\W+/g, '-'));
    if (host !== undefined) fs.writeFileSync(file, host);
    t.equal(formatResolvConf(sandboxResolvConf('10.88.0.1', file)), want);
  });
}

t.test('the forwarder\'s upstreams: every server as written, loopback and IPv6 too', async (t) => {
  const file = path.join(dir, 'upstreams');
  fs.writeFileSync(file, 'nameserver 127.0.0.53\nnameserver 2001:db8::53\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\nnameserver x\n');
  t.same(readResolvConf(file).nameservers, ['127.0.0.53', '2001:db8::53', 'fe80::1%eth0', '10.0.0.2']);
  t.same(readResolvConf(path.join(dir, 'absent')).nameservers, [], 'no file: no servers');
});

t.test('parse then format', async (t) => {
  t.same(parseResolvConf('nameserver 1.1.1.1\nsearch x\nsearch y z\n'), { nameservers: ['1.1.1.1'], search: ['y', 'z'], options: [], other: [] }, 'the last search line wins');
  t.equal(formatResolvConf(parseResolvConf('')), '\n');
});

t.test('etcFiles: no veth, no nameserver', async (t) => {
  const [hosts, hostname, resolv] = etcFiles('box', undefined, undefined);
  t.equal(hosts?.content, '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tbox\n');
  t.equal(hostname?.content, 'box\n');
  t.equal(resolv?.content, '# no nameserver: this sandbox has no network\n');
  const [withIp, , withDns] = etcFiles('box', '10.88.0.2', { nameservers: ['10.88.0.1'], search: ['lan'], options: [], other: [] });
  t.match(withIp?.content, '10.88.0.2\tbox\n');
  t.equal(withDns?.content, 'nameserver 10.88.0.1\nsearch lan\n');
});
