import t from 'tap';
import { checkSubnetFree, parseRoutes, routeFor } from './routes.js';

// `ip -j -4 route show table all` on a host with a LAN, a VPN, docker, and warren already up
const IP_JSON = JSON.stringify([
  { dst: 'default', gateway: '192.168.1.1', dev: 'wlan0', flags: [] },
  { dst: '10.0.0.0/8', dev: 'tun0', scope: 'link', flags: [] },
  { dst: '172.17.0.0/16', dev: 'docker0', protocol: 'kernel', scope: 'link', prefsrc: '172.17.0.1', flags: ['linkdown'] },
  { dst: '192.168.1.0/24', dev: 'wlan0', protocol: 'kernel', scope: 'link', prefsrc: '192.168.1.20', flags: [] },
  { dst: '100.88.0.0/16', dev: 'warren0', protocol: 'kernel', scope: 'link', prefsrc: '100.88.0.1', flags: [] },
  { type: 'local', dst: '127.0.0.0/8', dev: 'lo', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '127.0.0.1', flags: [] },
  { type: 'local', dst: '192.168.1.20', dev: 'wlan0', table: 'local', protocol: 'kernel', scope: 'host', flags: [] },
  { type: 'broadcast', dst: '192.168.1.255', dev: 'wlan0', table: 'local', protocol: 'kernel', scope: 'link', flags: [] },
  { type: 'local', dst: '100.88.0.1', dev: 'warren0', table: 'local', protocol: 'kernel', scope: 'host', flags: [] },
]);

// /proc/net/route on this kind of VM: default via 192.0.2.1, 192.0.2.0/24 on eth0
const PROC = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
br-1\t0000580A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
`;

t.test('both formats parse, without the default route', async (t) => {
  t.equal(parseRoutes(IP_JSON).length, 8);
  t.same(
    parseRoutes(PROC).map((r) => [r.dev, r.dst.prefix]),
    [['eth0', 24], ['br-1', 16]],
  );
});

t.test('overlaps are refused, naming the route', async (t) => {
  const table: Array<[string, string, string | null]> = [
    // subnet, routes, expected message (null: free)
    ['10.88.0.0/16', IP_JSON, 'subnet 10.88.0.0/16 overlaps route 10.0.0.0/8 dev tun0'],
    ['172.16.0.0/12', IP_JSON, 'subnet 172.16.0.0/12 overlaps route 172.17.0.0/16 dev docker0'],
    ['192.168.1.128/25', IP_JSON, 'subnet 192.168.1.128/25 overlaps route 192.168.1.0/24 dev wlan0'],
    ['100.88.0.0/16', IP_JSON, null], // warren's own bridge, left from the last start
    ['100.89.0.0/16', IP_JSON, null],
    ['10.88.0.0/16', PROC, 'subnet 10.88.0.0/16 overlaps route 10.88.0.0/16 dev br-1'],
    ['192.0.2.128/25', PROC, 'subnet 192.0.2.128/25 overlaps route 192.0.2.0/24 dev eth0'],
    ['10.89.0.0/16', PROC, null],
  ];
  for (const [subnet, routes, message] of table) {
    if (message === null) t.doesNotThrow(() => checkSubnetFree(subnet, routes), subnet);
    else t.throws(() => checkSubnetFree(subnet, routes), { code: 'WARREN_NET_SUBNET_OVERLAP', message }, subnet);
  }
});

t.test('a host address in the local table counts too', async (t) => {
  const routes = JSON.stringify([{ type: 'local', dst: '10.88.3.4', dev: 'eth1', table: 'local' }]);
  t.throws(() => checkSubnetFree('10.88.0.0/16', routes), {
    message: 'subnet 10.88.0.0/16 overlaps route local 10.88.3.4/32 dev eth1 table local',
  });
});

t.test('the bridge name is configurable', async (t) => {
  t.doesNotThrow(() => checkSubnetFree('10.88.0.0/16', PROC, { bridge: 'br-1' }));
});

t.test('routeFor picks the longest prefix', async (t) => {
  t.equal(routeFor('192.168.1.20', IP_JSON)?.dst.prefix, 32);
  t.equal(routeFor('10.1.2.3', IP_JSON)?.dev, 'tun0');
  t.equal(routeFor('8.8.8.8', IP_JSON), undefined);
});

t.test('garbage is a WarrenError', async (t) => {
  t.throws(() => parseRoutes('[{"dst": '), { code: 'WARREN_NET_ROUTES' });
});
