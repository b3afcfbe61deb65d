import t from 'tap';
import { broadcast, formatCidr, formatIpv4, netmask, overlaps, parseCidr, parseIpv4 } from './cidr.js';

t.test('addresses parse and format both ways', async (t) => {
  const table: Array<[string, number]> = [
    ['0.0.0.0', 0],
    ['10.88.0.1', 0x0a580001],
    ['192.168.1.255', 0xc0a801ff],
    ['255.255.255.255', 0xffffffff],
  ];
  for (const [text, n] of table) {
    t.equal(parseIpv4(text), n, text);
    t.equal(formatIpv4(n), text, text);
  }
});

t.test('bad addresses are refused', async (t) => {
  for (const bad of ['', '10.88.0', '10.88.0.256', '10.88.0.01', '10.88.0.1.2', 'a.b.c.d', '-1.0.0.0', ' 1.2.3.4']) {
    t.throws(() => parseIpv4(bad), { code: 'WARREN_NET_BAD_ADDRESS' }, JSON.stringify(bad));
  }
});

t.test('prefixes', async (t) => {
  const table: Array<[string, string, number]> = [
    ['10.88.0.0/16', '10.88.0.0/16', 0x0a58ffff],
    ['10.88.7.9/16', '10.88.0.0/16', 0x0a58ffff],
    ['0.0.0.0/0', '0.0.0.0/0', 0xffffffff],
    ['1.2.3.4', '1.2.3.4/32', 0x01020304],
    ['172.16.0.0/12', '172.16.0.0/12', 0xac1fffff],
  ];
  for (const [text, canonical, brd] of table) {
    const net = parseCidr(text);
    t.equal(formatCidr(net), canonical, text);
    t.equal(broadcast(net), brd, `${text} broadcast`);
  }
  t.equal(netmask(16), 0xffff0000);
  t.equal(netmask(0), 0);
  t.equal(netmask(32), 0xffffffff);
  t.throws(() => parseCidr('10.88.0.5/16', { strict: true }), { code: 'WARREN_NET_BAD_ADDRESS', message: /10\.88\.0\.0\/16/ });
  for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0.0/a']) {
    t.throws(() => parseCidr(bad), { code: 'WARREN_NET_BAD_ADDRESS' }, bad);
  }
});

t.test('overlap is symmetric containment', async (t) => {
  const table: Array<[string, string, boolean]> = [
    ['10.88.0.0/16', '10.0.0.0/8', true],
    ['10.0.0.0/8', '10.88.0.0/16', true],
    ['10.88.0.0/16', '10.89.0.0/16', false],
    ['10.88.0.0/16', '10.88.255.255/32', true],
    ['10.88.0.0/16', '0.0.0.0/0', true],
    ['192.168.0.0/16', '172.16.0.0/12', false],
  ];
  for (const [a, b, want] of table) t.equal(overlaps(parseCidr(a), parseCidr(b)), want, `${a} ~ ${b}`);
});
