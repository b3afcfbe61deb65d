import t from 'tap';
import { egressChangeScript, egressNarrows, purgeScript, sameEgress } from './egress-change.js';
import type { Egress } from './nftables.js';

const IP = '10.88.0.5';
const T = 'inet warren';

t.test('a change is one script: the old elements deleted, the new added', async (t) => {
  const dns = (verb: string) => `${verb} element ${T} dns_allowed { ${IP} }\n`;
  t.equal(egressChangeScript(IP, 'none', 'public'), `add element ${T} egress_public { ${IP} }\n${dns('add')}`, 'egress and the dns forwarder');
  t.equal(egressChangeScript(IP, 'public', 'none'), `delete element ${T} egress_public { ${IP} }\n${dns('delete')}`);
  t.equal(
    egressChangeScript(IP, 'public', { allow: ['198.51.100.0/24', '203.0.113.7'] }),
    `delete element ${T} egress_public { ${IP} }\nadd element ${T} egress_allow { ${IP} . 198.51.100.0/24, ${IP} . 203.0.113.7 }\n`,
    'the dns_allowed element both have stays',
  );
  t.equal(egressChangeScript(IP, { allow: ['198.51.100.0/24'] }, 'none'), `delete element ${T} egress_allow { ${IP} . 198.51.100.0/24 }\n${dns('delete')}`);
  t.equal(
    egressChangeScript(IP, { allow: ['198.51.100.0/24'] }, { allow: ['198.51.100.0/25'] }, 'wrntest1'),
    `delete element inet wrntest1 egress_allow { ${IP} . 198.51.100.0/24 }\nadd element inet wrntest1 egress_allow { ${IP} . 198.51.100.0/25 }\n`,
  );
  t.equal(egressChangeScript(IP, { allow: ['198.51.100.1/24'] }, { allow: ['198.51.100.0/24'] }), '', 'the same network written two ways: nothing to do');
  t.equal(egressChangeScript(IP, 'none', { allow: [] }), '', 'an empty allowlist is none');
});

t.test('which changes cut the flows the sandbox opened', async (t) => {
  const rows: Array<[Egress, Egress, boolean]> = [
    ['none', 'public', false],
    ['none', { allow: ['198.51.100.0/24'] }, false],
    [{ allow: ['198.51.100.0/24'] }, 'public', false],
    ['public', 'none', true],
    ['public', { allow: ['198.51.100.0/24'] }, true],
    [{ allow: ['198.51.100.0/24'] }, 'none', true],
    [{ allow: ['198.51.100.0/24'] }, { allow: ['198.51.100.0/24', '203.0.113.0/24'] }, false],
    [{ allow: ['198.51.100.0/24', '203.0.113.0/24'] }, { allow: ['198.51.100.0/24'] }, true],
    [{ allow: [] }, 'none', false],
  ];
  for (const [from, to, cut] of rows) t.equal(egressNarrows(from, to), cut, `${JSON.stringify(from)} -> ${JSON.stringify(to)}`);
  t.ok(sameEgress({ allow: ['203.0.113.0/24', '198.51.100.0/24'] }, { allow: ['198.51.100.0/24', '203.0.113.0/24'] }), 'order does not matter');
  t.notOk(sameEgress('public', { allow: [] }));
});

t.test('purge: every element of one address in the listings, none of another', async (t) => {
  const meta = { metainfo: { version: '1.0.6' } };
  const lists = {
    egressPublic: JSON.stringify({ nftables: [meta, { set: { name: 'egress_public', elem: ['10.88.0.9', IP] } }] }),
    dnsAllowed: JSON.stringify({ nftables: [meta, { set: { name: 'dns_allowed', elem: ['10.88.0.9', IP] } }] }),
    egressAllow: JSON.stringify({
      nftables: [meta, { set: { name: 'egress_allow', elem: [
        { concat: [IP, { prefix: { addr: '203.0.113.0', len: 24 } }] },
        { concat: [IP, '198.51.100.7'] },
        { concat: ['10.88.0.9', { prefix: { addr: '198.51.100.0', len: 28 } }] },
        { concat: [IP, { range: ['192.0.2.10', '192.0.2.20'] }] },
      ] } }],
    }),
    publish: JSON.stringify({ nftables: [meta, { map: { name: 'publish', elem: [
      [{ concat: ['tcp', 18080] }, { concat: [IP, 8080] }],
      [{ concat: ['udp', 5353] }, { concat: ['10.88.0.9', 53] }],
    ] } }] }),
  };
  t.equal(purgeScript(IP, lists), [
    `delete element ${T} egress_public { ${IP} }`,
    `delete element ${T} dns_allowed { ${IP} }`,
    `delete element ${T} egress_allow { ${IP} . 203.0.113.0/24, ${IP} . 198.51.100.7, ${IP} . 192.0.2.10-192.0.2.20 }`,
    `delete element ${T} publish { tcp . 18080 }`,
    '',
  ].join('\n'));
  const empty = JSON.stringify({ nftables: [meta, { set: { name: 'x' } }] });
  t.equal(purgeScript(IP, { egressPublic: empty, egressAllow: empty, dnsAllowed: empty, publish: empty }), '', 'nothing held: no script');
});
