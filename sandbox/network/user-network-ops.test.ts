/** createNetwork's lock and the claim protocol, without root (routes come from `ip`, which any user may run). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Dirs } from '../../lib/dirs.js';
import { claimNetwork, createNetwork, listBridges, removeNetwork } from './user-network-ops.js';
import { NetworkStore } from './user-networks.js';

t.test("a dead holder's lock is taken over; records never share a bridge or subnet", async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-netops-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const dirs: Dirs = { state: path.join(root, 'state'), run: path.join(root, 'run'), cgroupParent: 'x', net: { bridge: 'wrntest0', table: 'wrntest0', subnet: '10.213.0.0/16' } };
  const store = new NetworkStore(dirs);
  fs.mkdirSync(store.dir, { recursive: true });
  fs.writeFileSync(path.join(store.dir, '.lock'), `${0x3fffffff}\n`);
  // a pool in the benchmarking range: no host has routes there
  const made = await Promise.all(['a', 'b', 'c'].map((name) => createNetwork(dirs, { name, pool: '198.18.248.0/22' })));
  t.equal(new Set(made.map((r) => r.bridge)).size, 3, 'three bridges');
  t.equal(new Set(made.map((r) => r.subnet)).size, 3, 'three subnets');
  t.notOk(fs.existsSync(path.join(store.dir, '.lock')), 'the lock is released');
});

t.test('rm refuses while a run claims the network; a run cannot claim one being removed', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-netops-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  // names no host has: removing them touches nothing
  const dirs: Dirs = { state: path.join(root, 'state'), run: path.join(root, 'run'), cgroupParent: 'x', net: { bridge: 'wrntestu9', table: 'wrntestu9', subnet: '10.213.0.0/16' } };
  await createNetwork(dirs, { name: 'a', pool: '198.18.248.0/22' });
  t.throws(() => claimNetwork(dirs, 'b'), { code: 'WARREN_NETWORK_NOT_FOUND' });
  t.notOk(fs.existsSync(path.join(dirs.run, 'networks', 'b')), 'an unknown name leaves no mark');
  const claim = claimNetwork(dirs, 'a');
  t.equal(claim.record.name, 'a');
  await t.rejects(removeNetwork(dirs, 'a'), { code: 'WARREN_NETWORK_IN_USE', message: /in use by 1 sandbox/ });
  t.equal(new NetworkStore(dirs).get('a').name, 'a', 'the record is back');
  const dead = (pid: number) => pid !== process.pid;
  await removeNetwork(dirs, 'a', dead); // the claim's owner dead: no claim
  t.throws(() => new NetworkStore(dirs).get('a'), { code: 'WARREN_NETWORK_NOT_FOUND' });
  t.notOk(fs.existsSync(path.join(dirs.run, 'networks', 'a')), 'its run dir is gone');
  claim.release();
});

t.test('the bridges listed are the links with a bridge/ dir in sysfs', async (t) => {
  const net = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-netops-'));
  t.teardown(() => fs.rmSync(net, { recursive: true, force: true }));
  fs.mkdirSync(path.join(net, 'wrntb1', 'bridge'), { recursive: true });
  fs.mkdirSync(path.join(net, 'veth0'));
  fs.mkdirSync(path.join(net, 'eth0', 'device'), { recursive: true });
  t.same(listBridges(net), ['wrntb1']);
  t.same(listBridges(path.join(net, 'gone')), [], 'no sysfs: none');
});
