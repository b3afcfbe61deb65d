/**
 * Needs root and conntrack: flow entries of a test address (10.254.77.0/24, never routed here)
 * are made with `conntrack -I` (no packet is sent) and forgotten through the one shell.
 */
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { Conntrack, forgetFlows } from './conntrack.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
const A = '10.254.77.7';
const B = '10.254.77.8';

const entries = (flag: '-s' | '-r', ip: string) => {
  const out = execFileSync('conntrack', ['-L', flag, ip], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter((l) => l.trim() !== '').length;
};
const insert = (...args: string[]) => execFileSync('conntrack', ['-I', ...args, '-t', '60'], { stdio: 'ignore' });

t.test('forgets what an address opened and what reached it, one shell for every run', { skip }, async (t) => {
  const clean = () => {
    for (const flag of ['-s', '-r']) for (const ip of [A, B]) execFileSync('sh', ['-c', `conntrack -D ${flag} ${ip} >/dev/null 2>&1 || true`]);
  };
  clean();
  t.teardown(clean);
  insert('-s', A, '-d', B, '-p', 'udp', '--sport', '4000', '--dport', '53');
  insert('-s', B, '-d', A, '-p', 'tcp', '--sport', '4001', '--dport', '80', '--state', 'ESTABLISHED', '-u', 'ASSURED');
  t.equal(entries('-s', A), 1, 'a flow it opened');
  t.equal(entries('-r', A), 1, 'a flow that reached it');
  const c = new Conntrack();
  t.teardown(() => c.close());
  await c.forget('-s', A);
  t.equal(entries('-s', A), 0, '-s forgot what it opened');
  t.equal(entries('-r', A), 1, 'and only that');
  const pid = c.pid;
  t.ok(pid, 'a shell runs it');
  await c.forget('-r', A);
  t.equal(entries('-r', A), 0, '-r forgot what reached it');
  await c.forget('-s', A);
  t.pass('an address with no flows is no error');
  t.equal(c.pid, pid, 'the same shell ran every one: no fork of this process per run');
  await Promise.all([c.forget('-s', B), c.forget('-r', B), c.forget('-s', A)]);
  t.pass('runs asked at once are each answered');
  // the module's own shell
  insert('-s', A, '-d', B, '-p', 'udp', '--sport', '4002', '--dport', '53');
  await forgetFlows(A);
  t.equal(entries('-s', A), 0, 'forgetFlows forgets both ways');
});

t.test('bad input never reaches the shell; a missing tool and a dead shell are errors, and it starts again', { skip }, async (t) => {
  const c = new Conntrack();
  t.teardown(() => c.close());
  await t.rejects(c.forget('-s', '10.0.0.1; touch /tmp/x'), { code: 'WARREN_NET_CONNTRACK' }, 'not an address');
  await t.rejects(c.forget('-s', '10.0.0.256'), { code: 'WARREN_NET_CONNTRACK' });
  await t.rejects(c.forget('-F' as '-s', A), { code: 'WARREN_NET_CONNTRACK' }, 'not a flag it uses');
  t.equal(c.pid, undefined, 'no shell was started for them');
  const missing = new Conntrack('wrntest-no-such-conntrack');
  t.teardown(() => missing.close());
  await t.rejects(missing.forget('-s', A), { code: 'WARREN_NET_CONNTRACK', message: /not found \(Debian package conntrack\)/ });
  await c.forget('-s', A);
  const first = c.pid as number;
  process.kill(first, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 100));
  await c.forget('-s', A);
  t.not(c.pid, first, 'a new shell after the old one died');
});

t.test('an idle shell does not keep the process alive', { skip }, async (t) => {
  // the built module (npm test builds first): a plain node process, as a server is
  const script = `import { Conntrack } from ${JSON.stringify(new URL('../../dist/sandbox/network/conntrack.js', import.meta.url).href)};
const c = new Conntrack(); await c.forget('-s', '${A}'); console.log('done');`;
  const started = Date.now();
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 }).trim();
  t.equal(out, 'done');
  t.ok(Date.now() - started < 15_000, 'it exited by itself');
});
