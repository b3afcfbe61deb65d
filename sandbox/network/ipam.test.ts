import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { formatIpv4, parseCidr, parseIpv4 } from './cidr.js';
import { addressOf, capacity, Ipam, leaseOf } from './ipam.js';

const runDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-ipam-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
};

t.test('lease numbers map to host addresses, skipping network, gateway and broadcast', async (t) => {
  const table: Array<[string, number, number | undefined, string | undefined]> = [
    // subnet, capacity, lease n, address of n
    ['10.88.0.0/16', 65533, 0, '10.88.0.2'],
    ['10.88.0.0/16', 65533, 65532, '10.88.255.254'],
    ['192.168.7.0/24', 253, 252, '192.168.7.254'],
    ['192.168.7.0/30', 1, 0, '192.168.7.2'],
    ['192.168.7.0/31', 0, undefined, undefined],
  ];
  for (const [subnet, cap, n, ip] of table) {
    const net = parseCidr(subnet);
    t.equal(capacity(net), cap, `${subnet} capacity`);
    if (n === undefined || ip === undefined) continue;
    t.equal(formatIpv4(addressOf(net, n)), ip, `${subnet} lease ${n}`);
    t.equal(leaseOf(net, parseIpv4(ip)), n, `${ip} back to ${n}`);
  }
  const net = parseCidr('10.88.0.0/16');
  for (const never of ['10.88.0.0', '10.88.0.1', '10.88.255.255', '10.89.0.2']) {
    t.equal(leaseOf(net, parseIpv4(never)), undefined, `${never} is never a sandbox's`);
  }
  t.throws(() => addressOf(net, 65533), { code: 'WARREN_NET_BAD_ADDRESS' });
});

t.test('two allocators on one run dir never hand out the same address', async (t) => {
  const dir = runDir();
  const a = new Ipam({ subnet: '10.88.0.0/29', runDir: dir }); // 5 addresses: .2 to .6
  const b = new Ipam({ subnet: '10.88.0.0/29', runDir: dir });
  const got = [a.allocate('a1'), b.allocate('b1'), a.allocate('a2'), b.allocate('b2'), a.allocate('a3')];
  t.same(got.map((x) => x.ip).sort(), ['10.88.0.2', '10.88.0.3', '10.88.0.4', '10.88.0.5', '10.88.0.6']);
  t.same(got[0] && { cidr: got[0].cidr.endsWith('/29'), gateway: got[0].gateway }, { cidr: true, gateway: '10.88.0.1' });
  t.throws(() => b.allocate('one too many'), { code: 'WARREN_NET_EXHAUSTED', message: /10\.88\.0\.0\/29.*one too many/ });
  got[2]?.release();
  t.equal(b.allocate('again').ip, got[2]?.ip, 'a released address is handed out again');
});

t.test("a dead owner's addresses are reclaimed", async (t) => {
  const dir = runDir();
  const ipam = new Ipam({ subnet: '10.88.0.0/24', runDir: dir });
  const mine = ipam.allocate('alive');
  const dead = ((leaseOf(ipam.subnet, parseIpv4(mine.ip)) ?? 0) + 1) % capacity(ipam.subnet);
  fs.writeFileSync(path.join(dir, 'ips', String(dead)), '999999999 sb-dead\n');
  t.same(ipam.reclaim(), [{ ip: formatIpv4(addressOf(ipam.subnet, dead)), owner: 'sb-dead' }]);
  t.same(ipam.reclaim(), []);
  t.ok(fs.existsSync(path.join(dir, 'ips', String(leaseOf(ipam.subnet, parseIpv4(mine.ip))))), 'a live lease stays');
  mine.release();
});

t.test('bad subnets are refused', async (t) => {
  t.throws(() => new Ipam({ subnet: '10.88.0.1/16', runDir: runDir() }), { code: 'WARREN_NET_BAD_ADDRESS' });
  t.throws(() => new Ipam({ subnet: '10.88.0.0/31', runDir: runDir() }), { code: 'WARREN_NET_SUBNET_SMALL' });
});
