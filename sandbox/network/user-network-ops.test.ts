/** createNetwork's lock, without root (it reads the host's routes with `ip`, which any user may). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Dirs } from '../../lib/dirs.js';
import { createNetwork } from './user-network-ops.js';
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
