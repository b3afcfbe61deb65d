import t from 'tap';
import { acceptRules, admitBridge, chainFor, releaseBridge, splitRule, type IptablesRun } from './foreign-firewall.js';

t.test('a rule as iptables -S prints it, quoted comment and all', async (t) => {
  t.same(splitRule('-i warren0 -m comment --comment "warren:warren0" -j ACCEPT'), ['-i', 'warren0', '-m', 'comment', '--comment', 'warren:warren0', '-j', 'ACCEPT']);
  t.same(splitRule('-m comment --comment "a \\"b\\" c" -j DROP'), ['-m', 'comment', '--comment', 'a "b" c', '-j', 'DROP']);
});

t.test('where the rules go: DOCKER-USER when Docker made it, FORWARD when it drops, else nowhere', async (t) => {
  t.equal(chainFor('-P FORWARD ACCEPT\n', true), 'DOCKER-USER');
  t.equal(chainFor('-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n', false), 'FORWARD');
  t.equal(chainFor('-P FORWARD ACCEPT\n-A FORWARD -j REJECT --reject-with icmp-host-prohibited\n', false), 'FORWARD');
  t.equal(chainFor('-P FORWARD ACCEPT\n-A FORWARD -i eth1 -j DROP\n', false), undefined, "a rule for another interface is not warren's business");
  t.equal(chainFor('-P FORWARD ACCEPT\n', false), undefined);
});

/** A fake iptables: FORWARD's rules as given, DOCKER-USER when asked, and what was run. */
function fake(forward: string, dockerUser: boolean, present: string[] = []): { run: IptablesRun; calls: string[]; rules: string[] } {
  const rules = [...present];
  const calls: string[] = [];
  const run: IptablesRun = async (args) => {
    const line = args.join(' ');
    calls.push(line);
    if (args[0] === '-S') {
      if (args[1] === 'FORWARD') return { code: 0, stdout: forward + rules.filter((r) => r.startsWith('-A FORWARD')).join('\n'), stderr: '' };
      return dockerUser ? { code: 0, stdout: `-N DOCKER-USER\n${rules.filter((r) => r.startsWith('-A DOCKER-USER')).join('\n')}\n`, stderr: '' } : { code: 1, stdout: '', stderr: 'No chain' };
    }
    const quoted = (a: readonly string[]) => `-A ${a.join(' ')}`.replace(/--comment (\S+)/, '--comment "$1"');
    if (args[0] === '-C') return { code: rules.includes(quoted(args.slice(1))) ? 0 : 1, stdout: '', stderr: '' };
    if (args[0] === '-I') rules.push(`-A ${args[1]} ${args.slice(3).join(' ')}`.replace(/--comment (\S+)/, '--comment "$1"'));
    if (args[0] === '-D') rules.splice(rules.indexOf(quoted(args.slice(1))), 1);
    return { code: 0, stdout: '', stderr: '' };
  };
  return { run, calls, rules };
}

t.test('Docker: two ACCEPT rules for the bridge in DOCKER-USER, once, and gone with the bridge', async (t) => {
  const f = fake('-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n', true);
  const changed = await admitBridge('warren0', f.run);
  t.same(changed, acceptRules('warren0').map((r) => `iptables -I DOCKER-USER 1 ${r.join(' ')}`), 'says what it added');
  t.same(await admitBridge('warren0', f.run), [], 'a second start adds nothing');
  t.equal(f.rules.length, 2);
  await releaseBridge('warren1', f.run);
  t.equal(f.rules.length, 2, "another bridge's release leaves them");
  await releaseBridge('warren0', f.run);
  t.same(f.rules, [], 'released');
});

t.test('no iptables, or a FORWARD that accepts: nothing changes', async (t) => {
  const missing: IptablesRun = async () => ({ code: -1, stdout: '', stderr: '' });
  t.same(await admitBridge('warren0', missing), []);
  const open = fake('-P FORWARD ACCEPT\n', false);
  t.same(await admitBridge('warren0', open.run), []);
  t.notOk(open.calls.some((c) => c.startsWith('-I')), 'no rule added');
});
