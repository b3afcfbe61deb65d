import t from 'tap';
import { checkSandboxNet, emptyElementsScript, parsePublishMap, rulesetScript, sandboxElements, type SandboxNet } from './nftables.js';

const script = rulesetScript({ table: 'wrntest', bridge: 'wrntest-br2', subnet: '10.213.0.0/16' });
const lines = script.split('\n');

t.test('the ruleset, rule by rule, in order', async (t) => {
  const rules = (chain: string) =>
    lines.filter((l) => l.startsWith(`add rule inet wrntest ${chain} `)).map((l) => l.slice(`add rule inet wrntest ${chain} `.length));
  t.same(rules('input'), [
    'iifname "wrntest-br2" ct state established,related accept',
    'iifname "wrntest-br2" ip daddr 10.213.0.1 meta l4proto { tcp, udp } th dport 53 ip saddr @dns_allowed accept',
    'iifname "wrntest-br2" ip daddr 10.213.0.1 udp dport 53 reject',
    'iifname "wrntest-br2" ip daddr 10.213.0.1 tcp dport 53 reject with tcp reset',
    'iifname "wrntest-br2" drop',
  ]);
  t.same(rules('forward'), [
    'iifname "wrntest-br2" oifname "wrntest-br2" drop',
    'oifname "wrntest-br2" ct state established,related accept',
    'oifname "wrntest-br2" ct status dnat accept',
    'oifname "wrntest-br2" drop',
    'iifname "wrntest-br2" ct state established,related accept',
    'iifname "wrntest-br2" ip daddr @blocked drop',
    'iifname "wrntest-br2" ip saddr @egress_public accept',
    'iifname "wrntest-br2" ip saddr . ip daddr @egress_allow accept',
    'iifname "wrntest-br2" drop',
  ]);
  t.same(rules('prerouting'), ['iifname != "wrntest-br2" fib daddr type local dnat ip to meta l4proto . th dport map @publish']);
  t.same(rules('output'), ['fib daddr type local dnat ip to meta l4proto . th dport map @publish']);
  t.same(rules('postrouting'), [
    'oifname "wrntest-br2" ip saddr 127.0.0.0/8 masquerade',
    'ip saddr 10.213.0.0/16 oifname != "wrntest-br2" masquerade',
  ]);
});

t.test('re-applying keeps per-sandbox elements: sets are added, chains flushed', async (t) => {
  t.notMatch(script, /flush (table|set inet wrntest egress|map)/);
  for (const chain of ['input', 'forward', 'prerouting', 'output', 'postrouting']) {
    t.ok(lines.includes(`flush chain inet wrntest ${chain}`), chain);
  }
  t.match(script, /add element inet wrntest blocked \{ 0\.0\.0\.0\/8, 10\.0\.0\.0\/8, 100\.64\.0\.0\/10, 127\.0\.0\.0\/8, 169\.254\.0\.0\/16, 172\.16\.0\.0\/12, 192\.168\.0\.0\/16, 224\.0\.0\.0\/4, 240\.0\.0\.0\/4 \}/);
});

t.test('uplink restricts masquerade', async (t) => {
  const s = rulesetScript({ subnet: '10.88.0.0/16', uplink: 'eth0' });
  t.match(s, /add rule inet warren postrouting ip saddr 10\.88\.0\.0\/16 oifname "eth0" masquerade/);
  t.match(s, /iifname "warren0" drop/);
});

t.test('names that would break the script are refused', async (t) => {
  t.throws(() => rulesetScript({ table: 'warren; flush ruleset', subnet: '10.88.0.0/16' }), { code: 'WARREN_NET_NFT_NAME' });
  t.throws(() => rulesetScript({ bridge: 'a"b', subnet: '10.88.0.0/16' }), { code: 'WARREN_NET_NFT_NAME' });
  t.throws(() => rulesetScript({ subnet: '10.88.0.1/16' }), { code: 'WARREN_NET_BAD_ADDRESS' });
});

t.test('per-sandbox elements', async (t) => {
  const table: Array<[SandboxNet, string]> = [
    [{ ip: '10.88.0.5', egress: 'none' }, ''],
    [{ ip: '10.88.0.5', egress: 'public' }, 'add element inet warren egress_public { 10.88.0.5 }\nadd element inet warren dns_allowed { 10.88.0.5 }\n'],
    [
      { ip: '10.88.0.6', egress: { allow: ['1.2.3.0/24', '8.8.8.8', '9.9.9.9/32'] } },
      'add element inet warren egress_allow { 10.88.0.6 . 1.2.3.0/24, 10.88.0.6 . 8.8.8.8, 10.88.0.6 . 9.9.9.9 }\nadd element inet warren dns_allowed { 10.88.0.6 }\n',
    ],
    [
      { ip: '10.88.0.7', egress: 'public', publish: [{ proto: 'tcp', hostPort: 8080, port: 80 }, { proto: 'udp', hostPort: 5353, port: 53 }] },
      'add element inet warren egress_public { 10.88.0.7 }\nadd element inet warren dns_allowed { 10.88.0.7 }\n' +
        'add element inet warren publish { tcp . 8080 : 10.88.0.7 . 80, udp . 5353 : 10.88.0.7 . 53 }\n',
    ],
  ];
  for (const [spec, want] of table) {
    t.equal(sandboxElements('add', spec), want, JSON.stringify(spec));
    t.equal(sandboxElements('delete', spec), want.replaceAll('add element', 'delete element'), `delete ${spec.ip}`);
  }
});

t.test('emptying the table empties every set a sandbox puts elements in, and nothing else', async (t) => {
  const all: SandboxNet[] = [
    { ip: '10.88.0.6', egress: { allow: ['1.2.3.0/24'] } },
    { ip: '10.88.0.7', egress: 'public', publish: [{ proto: 'tcp', hostPort: 8080, port: 80 }] },
  ];
  const used = new Set(all.flatMap((spec) => [...sandboxElements('add', spec).matchAll(/^add element inet warren (\w+) /gm)].map((m) => m[1])));
  const flushed = new Set([...emptyElementsScript().matchAll(/^flush (?:set|map) inet warren (\w+)$/gm)].map((m) => m[1]));
  t.same([...flushed].sort(), [...used].sort());
  t.notMatch(emptyElementsScript(), /blocked|delete|chain/, 'the rules and the blocked ranges stay');
  t.throws(() => emptyElementsScript('warren; flush ruleset'), { code: 'WARREN_NET_NFT_NAME' });
});

t.test('bad sandbox specs are refused', async (t) => {
  const table: Array<[SandboxNet, string]> = [
    [{ ip: '10.88.0.5', egress: { allow: ['192.168.1.0/24'] } }, 'WARREN_NET_EGRESS_BLOCKED'],
    [{ ip: '10.88.0.5', egress: { allow: ['169.254.169.254'] } }, 'WARREN_NET_EGRESS_BLOCKED'],
    [{ ip: '10.88.0.5', egress: { allow: ['0.0.0.0/0'] } }, 'WARREN_NET_EGRESS_BLOCKED'],
    [{ ip: '10.88.0.5', egress: 'open' as unknown as 'none' }, 'WARREN_NET_EGRESS'],
    [{ ip: '10.88.0.5', egress: 'none', publish: [{ proto: 'tcp', hostPort: 0, port: 80 }] }, 'WARREN_NET_PUBLISH'],
    [{ ip: '10.88.0.5', egress: 'none', publish: [{ proto: 'sctp' as 'tcp', hostPort: 80, port: 80 }] }, 'WARREN_NET_PUBLISH'],
    [{ ip: '10.88.0', egress: 'none' }, 'WARREN_NET_BAD_ADDRESS'],
    [{ ip: '10.88.0.5', egress: 'none', publish: [{ proto: 'tcp', hostPort: 80, port: 80 }, { proto: 'tcp', hostPort: 80, port: 81 }] }, 'WARREN_NET_PUBLISH'],
  ];
  for (const [spec, code] of table) t.throws(() => checkSandboxNet(spec), { code }, JSON.stringify(spec));
});

t.test('one host port, once per protocol', async (t) => {
  t.doesNotThrow(() => checkSandboxNet({ ip: '10.88.0.5', egress: 'none', publish: [{ proto: 'tcp', hostPort: 53, port: 53 }, { proto: 'udp', hostPort: 53, port: 53 }] }));
  t.throws(() => checkSandboxNet({ ip: '10.88.0.5', egress: 'none', publish: [{ proto: 'udp', hostPort: 53, port: 53 }, { proto: 'udp', hostPort: 53, port: 54 }] }),
    { code: 'WARREN_NET_PUBLISH', message: 'host port udp/53 is published twice' });
});

t.test('the publish map as nft -j lists it', async (t) => {
  // nft 1.0.6, `nft -j list map inet T publish` with two elements
  const json = JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.6', json_schema_version: 1 } },
    { map: { family: 'inet', name: 'publish', table: 'T', type: ['inet_proto', 'inet_service'], map: 'ipv4_addr . inet_service', elem: [
      [{ concat: ['tcp', 38080] }, { concat: ['10.9.0.2', 80] }],
      [{ concat: ['udp', 5353] }, { concat: ['10.9.0.3', 53] }],
    ] } },
  ] });
  t.same(parsePublishMap(json), [
    { proto: 'tcp', hostPort: 38080, ip: '10.9.0.2', port: 80 },
    { proto: 'udp', hostPort: 5353, ip: '10.9.0.3', port: 53 },
  ]);
  t.same(parsePublishMap(JSON.stringify({ nftables: [{ map: { name: 'publish' } }] })), [], 'an empty map has no elem');
  t.same(parsePublishMap(JSON.stringify({ nftables: [{ map: { elem: [['odd'], [{ concat: ['tcp', 'http'] }, { concat: ['10.9.0.2', 80] }]] } }] })), [], 'shapes it does not know are left out');
});

t.test('a user network: peers talk, every sandbox asks the DNS server; internal sends nothing out', async (t) => {
  const rulesOf = (s: string, chain: string) =>
    s.split('\n').filter((l) => l.startsWith(`add rule inet wrntestn1 ${chain} `)).map((l) => l.slice(`add rule inet wrntestn1 ${chain} `.length));
  const user = rulesetScript({ table: 'wrntestn1', bridge: 'wrntestn1', subnet: '10.121.1.0/24', peers: true });
  t.ok(rulesOf(user, 'forward').includes('iifname "wrntestn1" oifname "wrntestn1" accept'), 'bridge to bridge accepted');
  t.ok(rulesOf(user, 'input').includes('iifname "wrntestn1" ip daddr 10.121.1.1 meta l4proto { tcp, udp } th dport 53 ip saddr 10.121.1.0/24 accept'));
  t.ok(rulesOf(user, 'forward').includes('iifname "wrntestn1" ip saddr @egress_public accept'), 'egress as on the default bridge');
  t.ok(rulesOf(user, 'postrouting').includes('ip saddr 10.121.1.0/24 oifname != "wrntestn1" masquerade'));
  const internal = rulesetScript({ table: 'wrntestn1', bridge: 'wrntestn1', subnet: '10.121.1.0/24', peers: true, internal: true });
  t.same(rulesOf(internal, 'forward').filter((r) => r.startsWith('iifname "wrntestn1"')), [
    'iifname "wrntestn1" oifname "wrntestn1" accept',
    'iifname "wrntestn1" ct state established,related accept',
    'iifname "wrntestn1" ip daddr @blocked drop',
    'iifname "wrntestn1" drop',
  ]);
  t.same(rulesOf(internal, 'postrouting'), ['oifname "wrntestn1" ip saddr 127.0.0.0/8 masquerade'], 'nothing masqueraded out');
  t.equal(rulesetScript({ table: 'wrntestn1', bridge: 'wrntestn1', subnet: '10.121.1.0/24', internal: true }).includes('oifname "wrntestn1" drop'), true);
});
