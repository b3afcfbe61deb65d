import t from 'tap';
import { isWarrenError } from '../lib/errors.js';
import { parseRunArgs } from './args.js';

t.test('options before the command, the rest is the command', async (t) => {
  const a = parseRunArgs(['--memory', '64m', '--cpus=0.5', '-e', 'A=1', '--env=B=two=2', '-i', '-v', '/a:/b:ro', 'node', '-e', '1']);
  t.equal(a.memoryBytes, 64 * 1024 * 1024);
  t.equal(a.cpus, 0.5);
  t.same(a.env, { A: '1', B: 'two=2' });
  t.equal(a.interactive, true);
  t.same(a.volumes, [{ src: '/a', dst: '/b', readonly: true }]);
  t.same(a.command, ['node', '-e', '1'], "the command's own options stay its own");
  t.equal(a.image, 'node', 'the default image');
});

t.test('-v NAME:/path is a named volume, -v /host:/path a bind, as docker has them', async (t) => {
  const a = parseRunArgs(['-v', 'data:/data', '-v', '/h:/in', '-v', 'cache.1:/c:ro', 'x']);
  t.same(a.namedVolumes, [{ name: 'data', dst: '/data', readonly: false }, { name: 'cache.1', dst: '/c', readonly: true }]);
  t.same(a.volumes, [{ src: '/h', dst: '/in', readonly: false }]);
});

t.test('-- ends the options', async (t) => {
  t.same(parseRunArgs(['--', '--memory', 'x']).command, ['--memory', 'x']);
});

const bad: Array<[string[], RegExp]> = [
  [['--memory', 'abc', 'x'], /invalid memory limit 'abc'/],
  [['--memory', '0', 'x'], /invalid memory limit '0'/],
  [['--cpus', '0', 'x'], /invalid cpus '0'/],
  [['--cpus', 'half', 'x'], /invalid cpus 'half'/],
  [['--pids', '1.5', 'x'], /invalid pids limit '1.5'/],
  [['--tmpfs', '-1m', 'x'], /invalid tmpfs size '-1m'/],
  [['-v', 'rel/dir:/b', 'x'], /invalid volume 'rel\/dir:\/b'/],
  [['-v', './dir:/b', 'x'], /invalid volume '.\/dir:\/b'/],
  [['-v', '.hidden:/b', 'x'], /invalid volume name '.hidden'/],
  [['-v', 'data:rel', 'x'], /invalid volume 'data:rel'/],
  [['-v', '/a:/b:rx', 'x'], /invalid volume/],
  [['-e', '1BAD=x', 'x'], /invalid env '1BAD=x'/],
  [['--hostname', 'bad host', 'x'], /invalid hostname/],
  [['-w', 'rel', 'x'], /invalid workdir 'rel'/],
  [['--nope', 'x'], /unknown option '--nope'/],
  [['--memory'], /option '--memory' needs a value/],
  [[], /no command given/],
];
for (const [args, message] of bad) {
  t.test(`refuses ${JSON.stringify(args)}`, async (t) => {
    t.throws(() => parseRunArgs(args), message);
    try {
      parseRunArgs(args);
    } catch (err) {
      t.ok(isWarrenError(err), 'a WarrenError with a stable code');
    }
  });
}

t.test('network options', async (t) => {
  const a = parseRunArgs(['--net', 'bridge', '--egress', '198.51.100.0/24,203.0.113.7', '-p', '18080:8080', '-p', '5353:53/udp', 'x']);
  t.equal(a.net, 'bridge');
  t.same(a.egress, { allow: ['198.51.100.0/24', '203.0.113.7'] });
  t.same(a.publish, [{ proto: 'tcp', hostPort: 18080, port: 8080 }, { proto: 'udp', hostPort: 5353, port: 53 }]);
  t.equal(parseRunArgs(['x']).net, 'none', 'loopback only by default');
  t.equal(parseRunArgs(['--net=bridge', 'x']).egress, 'none', 'no egress by default');
  t.throws(() => parseRunArgs(['--egress', 'public', 'x']), /need --net bridge/);
  t.throws(() => parseRunArgs(['-p', '1:2', 'x']), /need --net bridge/);
  t.throws(() => parseRunArgs(['--net', 'host', 'x']), /invalid net 'host'/);
  t.throws(() => parseRunArgs(['--net', 'bridge', '--egress', 'everything', 'x']), /invalid egress 'everything'/);
  t.throws(() => parseRunArgs(['--net', 'bridge', '-p', '70000:80', 'x']), /invalid publish '70000:80'/);
});

t.test('user networks: --network NAME, --name, --network-alias', async (t) => {
  const a = parseRunArgs(['--network', 'backend', '--name', 'db', '--network-alias', 'database', '--network-alias=pg', 'x']);
  t.same([a.net, a.network, a.name, a.aliases, a.keep], ['bridge', 'backend', 'db', ['database', 'pg'], false], '--name without --keep names it on its network');
  const b = parseRunArgs(['--network', 'bridge', 'x']);
  t.same([b.net, b.network], ['bridge', undefined], 'bridge is the default bridge, as before');
  t.throws(() => parseRunArgs(['--network-alias', 'a', 'x']), /--network-alias needs --network NAME/);
  t.throws(() => parseRunArgs(['--net', 'bridge', '--network-alias', 'a', 'x']), /--network-alias needs --network NAME/);
  t.throws(() => parseRunArgs(['--keep', 'x']), /--keep needs --name/);
  t.throws(() => parseRunArgs(['--network', 'a/b', 'x']), /invalid net 'a\/b'/);
});
