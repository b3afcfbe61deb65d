/**
 * warren on a host whose other firewall drops forwarded traffic, as Docker's does (iptables
 * FORWARD policy DROP, with a DOCKER-USER chain for the operator's rules). Stand-ins for it are
 * made with iptables here, scoped to this test's bridge so that other test runs on this machine
 * keep forwarding: Docker's chain order (FORWARD jumps to DOCKER-USER, then drops the bridge's
 * traffic), and a plain FORWARD policy DROP that accepts everything but this bridge. A sandbox
 * with egress reaches a server in a test namespace (198.18.<slot>.0/24, RFC 2544's benchmark
 * range, checked to be unrouted here) through both, and the rules warren added say so in their
 * counters; they go when warren's network is collected. Needs root and iptables (setup.sh).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import t from 'tap';
import { collectGarbage } from '../../sandbox/index.js';
import { detectCgroups } from '../../sandbox/cgroups/index.js';
import { splitRule } from '../../sandbox/network/foreign-firewall.js';
import { NEEDS_ROOT, testDirs, testEnv, warren } from './helpers.js';
import { startPeer } from './peer.js';

const dirs = testDirs('wrntest-fw');
const env = testEnv(dirs);
const slot = Number(process.env.WRNTEST_SLOT ?? 0);
const PREFIX = `198.18.${slot}`;
const RANGE = `${PREFIX}.0/24`;
const SERVER = `${PREFIX}.2`;
const NS = `wrntest-fw-s${slot}`;
const VETH = `wrnts${slot}fw0`;
const BR = dirs.net.bridge;
const MARK = `wrntest-fw-${slot}`;
const HAS_IPTABLES = (() => {
  try {
    execFileSync('iptables', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const SKIP = NEEDS_ROOT || (!HAS_IPTABLES && 'needs iptables (scripts/setup.sh installs it)');

const ipt = (...args: string[]) => execFileSync('iptables', ['-w', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const tryIpt = (...args: string[]) => {
  try {
    ipt(...args);
  } catch {
    /* absent already */
  }
};

const chainExists = (chain: string) => {
  try {
    ipt('-S', chain);
    return true;
  } catch {
    return false;
  }
};

const CONNECT = `const s = require('net').connect(8080, process.argv[1]);
s.on('data', (d) => { console.log('data:' + d); process.exit(0); });
s.on('error', (e) => { console.log(e.code); process.exit(1); });
setTimeout(() => { console.log('timeout'); process.exit(2); }, 3000);`;

/** The test network: a peer namespace serving 'test net' on SERVER:8080. */
async function testNetwork(t: { teardown(fn: () => unknown): void }): Promise<void> {
  await startPeer(t, { ns: NS, hostIf: VETH, prefix: PREFIX, script: "require('net').createServer((s) => s.end('test net')).listen(8080, () => console.log('up')); setTimeout(() => process.exit(0), 120000)" });
}

/** Removes the stand-in's rules (by their comment) and warren's rules for the bridge. */
function removeStandIns(createdDockerUser: boolean): void {
  for (const chain of ['FORWARD', 'DOCKER-USER']) {
    let listed = '';
    try {
      listed = ipt('-S', chain);
    } catch {
      continue;
    }
    for (const line of listed.split('\n')) {
      if (!line.startsWith(`-A ${chain} `)) continue;
      const args = splitRule(line.slice(`-A ${chain} `.length));
      const comment = args[args.indexOf('--comment') + 1];
      if (comment === MARK || comment === `warren:${BR}`) tryIpt('-D', chain, ...args);
    }
  }
  // the stand-in chain is this test's: other warren processes on the machine (other test files
  // running beside this one) put their bridges' rules in it while it stood, and a chain with
  // rules cannot be deleted; left, it would send the next warren's rules to a chain that nothing
  // jumps to (seen: the FORWARD policy test after this one failed)
  if (createdDockerUser) {
    tryIpt('-F', 'DOCKER-USER');
    tryIpt('-X', 'DOCKER-USER');
  }
}

function warrenRuleCounters(chain: string): number[] {
  return ipt('-L', chain, '-v', '-x', '-n')
    .split('\n')
    .filter((l) => l.includes(`warren:${BR}`))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

// iptables-nft makes the ip filter table on first use: if this file made it, it goes again
const HAD_FILTER_TABLE = (() => {
  try {
    execFileSync('nft', ['list', 'table', 'ip', 'filter'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
t.teardown(() => {
  if (HAD_FILTER_TABLE || !HAS_IPTABLES) return;
  const rules = ipt('-S').split('\n').filter((l) => l.startsWith('-A ') || l.startsWith('-N '));
  if (rules.length === 0) execFileSync('nft', ['delete', 'table', 'ip', 'filter']);
});

t.test("Docker's DOCKER-USER and FORWARD drop: warren adds its ACCEPT rules there and egress works", { skip: SKIP }, async (t) => {
  await testNetwork(t);
  const createdDockerUser = (() => {
    try {
      ipt('-N', 'DOCKER-USER');
      return true;
    } catch {
      return false; // a real Docker's: rules are only ever added to it, and removed by comment
    }
  })();
  t.teardown(() => removeStandIns(createdDockerUser));
  ipt('-A', 'FORWARD', '-m', 'comment', '--comment', MARK, '-j', 'DOCKER-USER');
  ipt('-A', 'FORWARD', '-i', BR, '-m', 'comment', '--comment', MARK, '-j', 'DROP');
  ipt('-A', 'FORWARD', '-o', BR, '-m', 'comment', '--comment', MARK, '-j', 'DROP');

  const r = await warren(['run', '--net', 'bridge', '--egress', RANGE, '--', 'node', '-e', CONNECT, SERVER], { env });
  t.match(r.stdout, /^data:test net$/m, `reachable (${r.stdout.trim()} ${r.stderr.trim()})`);
  t.match(r.stderr, new RegExp(`added 'iptables -I DOCKER-USER 1 -i ${BR} .*ACCEPT'`), 'warren says what it changed');
  const counters = warrenRuleCounters('DOCKER-USER');
  t.equal(counters.length, 2, 'two rules, in DOCKER-USER');
  t.ok(counters.every((n) => n > 0), `both carried the connection's packets (${counters})`);
  const again = await warren(['run', '--net', 'bridge', '--egress', RANGE, '--', 'node', '-e', CONNECT, SERVER], { env });
  t.match(again.stdout, /^data:test net$/m);
  t.notMatch(again.stderr, /iptables/, 'a second run changes nothing and says nothing');
  t.equal(warrenRuleCounters('DOCKER-USER').length, 2, 'still two');

  await collectGarbage(dirs, detectCgroups({ parent: dirs.cgroupParent }));
  t.same(warrenRuleCounters('DOCKER-USER'), [], "gc removed warren's rules with its bridge");
});

// on a host with Docker, warren's rules go in its DOCKER-USER chain, never in FORWARD
const DOCKER_HOST = HAS_IPTABLES && chainExists('DOCKER-USER') && "this host has a DOCKER-USER chain (Docker's): warren's rules go there, not in FORWARD";

t.test('FORWARD policy DROP (another firewall): the rules go at the top of FORWARD', { skip: SKIP || DOCKER_HOST }, async (t) => {
  await testNetwork(t);
  const policy = /^-P FORWARD (\w+)$/m.exec(ipt('-S', 'FORWARD'))?.[1] ?? 'ACCEPT';
  // everything but this test's bridge keeps forwarding while the policy drops
  ipt('-I', 'FORWARD', '1', '!', '-i', BR, '-m', 'comment', '--comment', MARK, '-j', 'ACCEPT');
  ipt('-P', 'FORWARD', 'DROP');
  t.teardown(() => {
    ipt('-P', 'FORWARD', policy);
    removeStandIns(false);
  });
  const r = await warren(['run', '--net', 'bridge', '--egress', RANGE, '--', 'node', '-e', CONNECT, SERVER], { env });
  t.match(r.stdout, /^data:test net$/m, `reachable (${r.stdout.trim()} ${r.stderr.trim()})`);
  t.match(r.stderr, new RegExp(`added 'iptables -I FORWARD 1 -i ${BR} `));
  t.ok(warrenRuleCounters('FORWARD').every((n) => n > 0), 'its rules carried the traffic');
  await collectGarbage(dirs, detectCgroups({ parent: dirs.cgroupParent }));
  t.same(warrenRuleCounters('FORWARD'), [], 'gone with the bridge');
  t.notOk(fs.existsSync(`/sys/class/net/${BR}`), 'the bridge went');
});
