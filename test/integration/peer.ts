/**
 * A peer for network tests: a test network namespace with a veth from the host (the host end gets
 * <prefix>.1/24, the peer's eth0 <prefix>.2/24 and a default route back), running a node script
 * that prints `up` once it listens. Sandboxes reach it through the host's forwarding when their
 * egress allows <prefix>.0/24. Use a documentation subnet (TEST-NET-2 or -3): nothing real is
 * there. Needs root; removed on teardown.
 */
import { execFileSync, spawn } from 'node:child_process';
import { checkSubnetFree, readRoutes } from '../../sandbox/network/index.js';

export interface Peer {
  /** The peer's address. */
  readonly ip: string;
  /** What its script printed so far. */
  output(): string;
}

export async function startPeer(
  t: { teardown(fn: () => unknown): void },
  opts: { ns: string; hostIf: string; prefix: string; script: string },
): Promise<Peer> {
  const { ns, hostIf, prefix } = opts;
  checkSubnetFree(`${prefix}.0/24`, await readRoutes());
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  ip('netns', 'add', ns);
  t.teardown(() => {
    try { ip('netns', 'del', ns); } catch { /* gone */ }
    try { ip('link', 'del', hostIf); } catch { /* went with the netns */ }
  });
  ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  ip('addr', 'add', `${prefix}.1/24`, 'dev', hostIf);
  ip('link', 'set', hostIf, 'up');
  ip('-n', ns, 'addr', 'add', `${prefix}.2/24`, 'dev', 'eth0');
  ip('-n', ns, 'link', 'set', 'eth0', 'up');
  ip('-n', ns, 'route', 'add', 'default', 'via', `${prefix}.1`);
  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', opts.script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => server.kill('SIGKILL'));
  let log = '';
  server.stdout.on('data', (d: Buffer) => (log += d));
  for (const end = Date.now() + 10_000; !log.includes('up'); ) {
    if (Date.now() > end) throw new Error(`the test peer in netns '${ns}' did not start`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { ip: `${prefix}.2`, output: () => log };
}
