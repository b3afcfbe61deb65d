/**
 * The sandbox's /etc/resolv.conf from the host's, as Docker's libnetwork makes it for a network
 * without its embedded resolver: tables over fixture files in a temp dir, never the host's own.
 * No root and no network traffic: this is about file contents only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { etcFiles, formatResolvConf, isLoopback, parseResolvConf, sandboxResolvConf } from './etc-files.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-resolv-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes the fixtures (undefined: the file does not exist) and returns the sandbox's file. */
function resolvFor(name: string, host: string | undefined, systemd: string | undefined): string {
  const paths = { host: path.join(dir, `${name}.etc`), systemd: path.join(dir, `${name}.systemd`) };
  if (host !== undefined) fs.writeFileSync(paths.host, host);
  if (systemd !== undefined) fs.writeFileSync(paths.systemd, systemd);
  return formatResolvConf(sandboxResolvConf(paths));
}

// systemd-resolved's stub file (/etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf) ...
const STUB = '# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n';
// ... and its upstream file, /run/systemd/resolve/resolv.conf
const UPSTREAM = '# This is /run/systemd/resolve/resolv.conf managed by man:systemd-resolved(8).\nnameserver 192.168.1.1\nnameserver 2a01:db8::53\nsearch lan corp.example\n';

const cases: Array<[string, string | undefined, string | undefined, string]> = [
  ['loopback only, with systemd-resolved: its upstream servers, its search, IPv6 dropped', STUB, UPSTREAM, 'nameserver 192.168.1.1\nsearch lan corp.example\n'],
  ['loopback only, no systemd file: Docker defaults, the search and options kept', STUB, undefined, 'nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\noptions edns0 trust-ad\n'],
  ['loopback only, systemd file with loopback only: defaults', STUB, 'nameserver 127.0.0.53\n', 'nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\noptions edns0 trust-ad\n'],
  ['::1 only is loopback too', 'nameserver ::1\n', UPSTREAM, 'nameserver 192.168.1.1\nsearch lan corp.example\n'],
  ['no file at all: the host would ask itself, so the systemd file', undefined, UPSTREAM, 'nameserver 192.168.1.1\nsearch lan corp.example\n'],
  ['no file, no systemd: defaults', undefined, undefined, 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n'],
  ['mixed: the host file wins, its loopback server dropped', 'nameserver 127.0.0.1\nnameserver 10.0.0.2\nsearch example.com\n', UPSTREAM, 'nameserver 10.0.0.2\nsearch example.com\n'],
  ['plain host file: as it is', 'nameserver 1.1.1.1\nnameserver 9.9.9.9\noptions ndots:2\n', UPSTREAM, 'nameserver 1.1.1.1\nnameserver 9.9.9.9\noptions ndots:2\n'],
  ['IPv6 servers dropped (no IPv6 in sandboxes)', 'nameserver 2001:4860:4860::8888\nnameserver fe80::1%eth0\nnameserver 8.8.4.4\n', undefined, 'nameserver 8.8.4.4\n'],
  ['IPv6 servers only: not loopback, so the host file, and defaults', 'nameserver 2001:4860:4860::8888\n', UPSTREAM, 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n'],
  ['IPv4-mapped loopback is loopback', 'nameserver ::ffff:127.0.0.53\n', UPSTREAM, 'nameserver 192.168.1.1\nsearch lan corp.example\n'],
  [
    'comments, bad addresses, domain as search, options accumulated, other directives kept',
    '; generated\n# nameserver 1.2.3.4\nnameserver not-an-ip\nnameserver 8.8.8.8 # google\ndomain old.example\nsearch a.example b.example\noptions ndots:1\noptions rotate\nsortlist 130.155.160.0/255.255.240.0\n',
    undefined,
    'nameserver 8.8.8.8\nsearch a.example b.example\noptions ndots:1 rotate\nsortlist 130.155.160.0/255.255.240.0\n',
  ],
];

for (const [name, host, systemd, want] of cases) {
  t.test(name, async (t) => {
    t.equal(resolvFor(name.replace(/\W+/g, '-'), host, systemd), want);
  });
}

t.test('isLoopback', async (t) => {
  const table: Array<[string, boolean]> = [
    ['127.0.0.53', true], ['127.255.0.1', true], ['::1', true], ['0:0:0:0:0:0:0:1', true], ['::ffff:127.0.0.1', true],
    ['128.0.0.1', false], ['10.0.0.1', false], ['::2', false], ['fe80::1%lo', false], ['::ffff:8.8.8.8', false], ['not-an-ip', false],
  ];
  for (const [ip, want] of table) t.equal(isLoopback(ip), want, ip);
});

t.test('parse then format', async (t) => {
  t.same(parseResolvConf('nameserver 1.1.1.1\nsearch x\nsearch y z\n'), { nameservers: ['1.1.1.1'], search: ['y', 'z'], options: [], other: [] }, 'the last search line wins');
  t.equal(formatResolvConf(parseResolvConf('')), '\n');
});

t.test('etcFiles: no egress, no nameserver', async (t) => {
  const [hosts, hostname, resolv] = etcFiles('box', undefined, undefined);
  t.equal(hosts?.content, '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tbox\n');
  t.equal(hostname?.content, 'box\n');
  t.equal(resolv?.content, '# no nameserver: this sandbox has no egress\n');
  const [, , withDns] = etcFiles('box', '10.88.0.2', { nameservers: ['8.8.8.8'], search: ['lan'], options: [], other: [] });
  t.equal(withDns?.content, 'nameserver 8.8.8.8\nsearch lan\n');
});
