import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { hostPortInUse, portInUse, servingPorts, takenBy } from './ports.js';

// the headers and lines as this kernel prints them, trimmed to the columns that matter
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 48 1
   1: 0100007F:9470 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 49 1
   2: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 50 1
   3: 0100007F:1F91 0100007F:D432 06 00000000:00000000 00:00000000 00000000     0        0 0 3
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000000000000:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000
`;
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 60 2 0 0
  101: 0100007F:A000 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 61 2 0 0
`;

t.test('serving ports: listening TCP and unconnected UDP only', async (t) => {
  t.same([...servingPorts(TCP, 'tcp')].sort(), [0x07e8, 0x9470], 'LISTEN, not ESTABLISHED (8080 is a peer) nor TIME_WAIT');
  t.same([...servingPorts(TCP6, 'tcp')], [0x1f92], 'the port after the last colon of an IPv6 address');
  t.same([...servingPorts(UDP, 'udp')], [0x14e9], 'a connected UDP socket is a client');
  t.same([...servingPorts('', 'tcp')], []);
});

t.test('hostPortInUse reads <procRoot>/net, IPv4 and IPv6', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-ports-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'net'));
  fs.writeFileSync(path.join(root, 'net', 'tcp'), TCP);
  fs.writeFileSync(path.join(root, 'net', 'udp'), UDP);
  const table: Array<[string, Parameters<typeof hostPortInUse>[0], string | undefined]> = [
    ['a free port', [{ proto: 'tcp', hostPort: 8080, port: 80 }], undefined],
    ['a listener on 0.0.0.0', [{ proto: 'tcp', hostPort: 8080, port: 80 }, { proto: 'tcp', hostPort: 2024, port: 80 }], 'tcp/2024'],
    ['a listener on 127.0.0.1', [{ proto: 'tcp', hostPort: 0x9470, port: 80 }], `tcp/${0x9470}`],
    ['a UDP port served is not a TCP one', [{ proto: 'tcp', hostPort: 5353, port: 53 }], undefined],
    ['a UDP server', [{ proto: 'udp', hostPort: 5353, port: 53 }], 'udp/5353'],
    ['nothing published', [], undefined],
  ];
  for (const [name, publish, want] of table) {
    const got = hostPortInUse(publish, root);
    t.equal(got && `${got.proto}/${got.hostPort}`, want, `${name} (no tcp6: ENOENT is no listener)`);
  }
  fs.writeFileSync(path.join(root, 'net', 'tcp6'), TCP6);
  t.same(hostPortInUse([{ proto: 'tcp', hostPort: 8082, port: 80 }], root), { proto: 'tcp', hostPort: 8082, port: 80 }, 'a listener on ::');
  fs.rmSync(path.join(root, 'net', 'tcp'));
  fs.mkdirSync(path.join(root, 'net', 'tcp'));
  t.throws(() => hostPortInUse([{ proto: 'tcp', hostPort: 1, port: 1 }], root), { code: 'WARREN_NET_PROC' }, 'unreadable is an error, not "free"');
});

t.test('takenBy: a host port the map gives to another address', async (t) => {
  const map = [
    { proto: 'tcp', hostPort: 8080, ip: '10.88.0.2', port: 80 },
    { proto: 'udp', hostPort: 5353, ip: '10.88.0.3', port: 53 },
  ];
  const table: Array<[string, Parameters<typeof takenBy>[0], string, string | undefined]> = [
    ['free', [{ proto: 'tcp', hostPort: 8081, port: 80 }], '10.88.0.9', undefined],
    ['taken', [{ proto: 'tcp', hostPort: 8081, port: 80 }, { proto: 'tcp', hostPort: 8080, port: 81 }], '10.88.0.9', 'tcp/8080'],
    ['same port, other proto', [{ proto: 'udp', hostPort: 8080, port: 80 }], '10.88.0.9', undefined],
    ['our own element (a retry) is not a conflict', [{ proto: 'tcp', hostPort: 8080, port: 80 }], '10.88.0.2', undefined],
    ['udp', [{ proto: 'udp', hostPort: 5353, port: 53 }], '10.88.0.2', 'udp/5353'],
  ];
  for (const [name, publish, ip, want] of table) {
    const got = takenBy(publish, ip, map);
    t.equal(got && `${got.proto}/${got.hostPort}`, want, name);
  }
});

t.test('the error names the protocol and the port', async (t) => {
  const cause = new Error('File exists');
  const a = portInUse({ proto: 'tcp', hostPort: 8080, port: 80 }, 'sandbox', cause);
  t.match(a, { code: 'WARREN_NET_PORT_IN_USE', message: 'host port tcp/8080 is already published by another sandbox', cause });
  t.match(portInUse({ proto: 'udp', hostPort: 53, port: 53 }, 'host'), { code: 'WARREN_NET_PORT_IN_USE', message: 'host port udp/53 is in use on the host' });
});
