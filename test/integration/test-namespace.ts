/**
 * A network namespace that plays the outside world for a test: one veth pair, the host's end with
 * `hostSide` (a CIDR), the namespace's end (eth0) with each of `inside`, and its default route back
 * through the host. Removed, with its veth and the routes through it, on teardown.
 */
import { execFileSync } from 'node:child_process';

export function testNamespace(t: { teardown(fn: () => unknown): void }, ns: string, veth: string, hostSide: string, inside: readonly string[]): void {
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  ip('netns', 'add', ns);
  t.teardown(() => {
    try { ip('netns', 'del', ns); } catch { /* gone */ }
    try { ip('link', 'del', veth); } catch { /* went with the netns, and its routes with it */ }
  });
  ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  ip('addr', 'add', hostSide, 'dev', veth);
  ip('link', 'set', veth, 'up');
  for (const addr of inside) ip('-n', ns, 'addr', 'add', addr, 'dev', 'eth0');
  ip('-n', ns, 'link', 'set', 'eth0', 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', ns, 'route', 'add', 'default', 'via', hostSide.replace(/\/\d+$/, ''));
}
