import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { hostNames, isNetworkOf, NetworkStore, planNetwork, type NetworkRecord, type PlanContext } from './user-networks.js';

const ROUTES = JSON.stringify([
  { dst: 'default', dev: 'eth0' },
  { dst: '192.168.1.0/24', dev: 'eth0' },
  { dst: '10.89.1.0/24', dev: 'warren0n2' }, // left by an earlier network 2
]);
const record = (name: string, subnet: string, k: number): NetworkRecord => ({ name, subnet, internal: false, ...hostNames('warren0', 'warren', k), created: '' });
const ctx = (existing: NetworkRecord[] = []): PlanContext => ({ bridge: 'warren0', table: 'warren', defaultSubnet: '10.88.0.0/16', pool: '10.89.0.0/16', existing, routes: ROUTES });
const plan = (input: Parameters<typeof planNetwork>[0], c = ctx()) => planNetwork(input, c, new Date(0));

t.test('bridge and table numbers: the lowest free one', async (t) => {
  t.same(plan({ name: 'a' }), { name: 'a', subnet: '10.89.0.0/24', internal: false, bridge: 'warren0n1', table: 'warrenn1', created: '1970-01-01T00:00:00.000Z' });
  const b = plan({ name: 'b', internal: true }, ctx([record('a', '10.89.0.0/24', 1)]));
  t.same([b.bridge, b.table, b.internal], ['warren0n2', 'warrenn2', true]);
  t.same(hostNames('wrnts1b37', 'wrnts1b37', 3), { bridge: 'wrnts1b37n3', table: 'wrnts1b37n3' }, "a test's bridge: its slot stays readable");
  t.throws(() => hostNames('a-very-long-br', 't', 1), { code: 'WARREN_NETWORK_BRIDGE_NAME' });
  t.ok(isNetworkOf('warren0', 'warren0n12'));
  t.notOk(isNetworkOf('warren0', 'warren0'));
  t.notOk(isNetworkOf('warren0', 'warren0nx'));
});

t.test('subnets: picked free, refused on overlap', async (t) => {
  const existing = [record('a', '10.89.0.0/24', 1)];
  t.equal(plan({ name: 'b' }, ctx(existing)).subnet, '10.89.1.0/24', "a route of the new network's own bridge (warren0n2) is its leftover, not a clash");
  t.equal(plan({ name: 'b', subnet: '172.20.0.0/16' }, ctx(existing)).subnet, '172.20.0.0/16');
  const cases: Array<[string, RegExp]> = [
    ['10.89.0.128/25', /overlaps network 'a' \(10\.89\.0\.0\/24\)/],
    ['10.0.0.0/8', /overlaps the default bridge's subnet 10\.88\.0\.0\/16/],
    ['192.168.0.0/16', /overlaps route 192\.168\.1\.0\/24 dev eth0/],
  ];
  for (const [subnet, message] of cases) t.throws(() => plan({ name: 'b', subnet }, ctx(existing)), { code: 'WARREN_NETWORK_SUBNET_OVERLAP', message }, subnet);
  t.throws(() => plan({ name: 'b', subnet: '10.90.0.1/24' }), { code: 'WARREN_NET_BAD_ADDRESS' }, 'host bits set');
  t.throws(() => plan({ name: 'b', subnet: '10.90.0.0/31' }), { code: 'WARREN_NETWORK_OPTION' }, 'no room');
  const full = { ...ctx(existing), pool: '10.89.0.0/24' };
  t.throws(() => plan({ name: 'b' }, full), { code: 'WARREN_NETWORK_NO_SUBNET' });
});

t.test('names', async (t) => {
  t.throws(() => plan({ name: 'a' }, ctx([record('a', '10.89.0.0/24', 1)])), { code: 'WARREN_NETWORK_EXISTS' });
  for (const bad of ['bridge', 'none', 'host', '-x', 'a/b', '']) t.throws(() => plan({ name: bad }), { code: 'WARREN_NETWORK_BAD_NAME' }, bad);
});

t.test('the store: records as files, in use while a live process holds an address', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-networks-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const store = new NetworkStore({ state: path.join(root, 'state'), run: path.join(root, 'run') });
  t.same(store.list(), []);
  const a = record('a', '10.89.0.0/24', 1);
  store.add(a);
  t.throws(() => store.add(a), { code: 'WARREN_NETWORK_EXISTS' });
  t.same(store.get('a'), a);
  t.throws(() => store.get('b'), { code: 'WARREN_NETWORK_NOT_FOUND' });
  t.equal(store.inUse(a), 0);
  fs.mkdirSync(path.join(store.runDir('a'), 'ips'), { recursive: true });
  fs.writeFileSync(path.join(store.runDir('a'), 'ips', '0'), `${process.pid} n1\n`);
  fs.writeFileSync(path.join(store.runDir('a'), 'ips', '1'), `${0x3fffffff} n2\n`);
  t.equal(store.inUse(a), 1, 'a dead owner does not count');
  store.remove('a');
  t.same(store.list(), []);
  t.notOk(fs.existsSync(store.runDir('a')));
});
