/**
 * Needs root and ip: makes bridge wrntest-br1 on a subnet no host route uses, twice (idempotent),
 * then removes it, twice. No traffic is sent.
 */
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { ensureBridge, removeBridge } from './bridge.js';
import { checkSubnetFree, readRoutes } from './routes.js';

const NAME = 'wrntest-br1';
const skip = process.getuid?.() !== 0 ? 'needs root' : false;

const links = () => execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });

t.test('ensureBridge is idempotent and removeBridge leaves nothing', { skip }, async (t) => {
  t.teardown(() => {
    if (links().includes(NAME)) execFileSync('ip', ['link', 'del', NAME]);
  });
  const routes = await readRoutes();
  const subnet = ['10.213.0.0/24', '172.31.213.0/24', '192.168.213.0/24'].find((s) => {
    try {
      checkSubnetFree(s, routes, { bridge: NAME });
      return true;
    } catch {
      return false;
    }
  });
  if (!subnet) {
    t.comment('skip: no free test subnet on this host');
    return;
  }
  const address = subnet.replace(/0\/24$/, '1/24');
  await ensureBridge({ name: NAME, address });
  await ensureBridge({ name: NAME, address });
  const [link] = JSON.parse(execFileSync('ip', ['-j', '-d', 'addr', 'show', 'dev', NAME], { encoding: 'utf8' }));
  t.equal(link.linkinfo.info_kind, 'bridge');
  t.ok(link.flags.includes('UP'), 'up');
  t.same(
    link.addr_info.filter((a: { family: string }) => a.family === 'inet').map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`),
    [address],
    'one address, once',
  );
  // the bridge's own routes do not count as an overlap, anyone else's do
  const after = await readRoutes();
  t.doesNotThrow(() => checkSubnetFree(subnet, after, { bridge: NAME }));
  t.throws(() => checkSubnetFree(subnet, after, { bridge: 'warren0' }), { code: 'WARREN_NET_SUBNET_OVERLAP' });

  await removeBridge(NAME);
  await removeBridge(NAME);
  t.notMatch(links(), NAME, 'no link left');
});

t.test('a link of another kind is not taken for the bridge', { skip }, async (t) => {
  const veth = 'wrntest-v1';
  execFileSync('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'wrntest-v2']);
  t.teardown(() => execFileSync('ip', ['link', 'del', veth])); // its peer goes with it
  await t.rejects(ensureBridge({ name: veth, address: '10.213.1.1/24' }), { code: 'WARREN_NET_BRIDGE', message: /not a bridge \(veth\)/ });
  t.notMatch(execFileSync('ip', ['-o', 'addr', 'show', 'dev', veth], { encoding: 'utf8' }), '10.213.1.1', 'no address was added');
});
