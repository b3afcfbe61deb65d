/**
 * Needs root and nft: loads the generated table under a test name into the real nftables, adds and
 * deletes a sandbox's elements, lists it back as JSON, and deletes it. No traffic is sent.
 */
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { libnftables } from './libnftables.js';
import { applyRules, deleteTableScript, listPublished, rulesetScript, sandboxElements, type SandboxNet } from './nftables.js';

const TABLE = 'wrntest_nft';
const skip = process.getuid?.() !== 0 ? 'needs root' : !hasNft() ? 'needs nft (apt-get install nftables)' : false;

function hasNft(): boolean {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function listTable(): { nftables: Array<Record<string, { name?: string; elem?: unknown[] }>> } {
  return JSON.parse(execFileSync('nft', ['-j', 'list', 'table', 'inet', TABLE], { encoding: 'utf8' }));
}

function tables(): string {
  return execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
}

function elements(name: string): unknown[] {
  const set = listTable().nftables.find((o) => (o.set ?? o.map)?.name === name);
  return (set?.set ?? set?.map)?.elem ?? [];
}

t.test('the table loads, takes elements, re-applies and goes', { skip }, async (t) => {
  t.teardown(() => {
    if (tables().includes(TABLE)) execFileSync('nft', ['delete', 'table', 'inet', TABLE]);
  });
  const script = rulesetScript({ table: TABLE, bridge: 'wrntest-br2', subnet: '10.213.0.0/16' });
  await applyRules(script);
  const chains = listTable().nftables.filter((o) => o.chain).map((o) => o.chain?.name);
  t.same(chains.sort(), ['forward', 'input', 'output', 'postrouting', 'prerouting']);
  t.equal(elements('blocked').length, 9);

  const sb: SandboxNet = {
    ip: '10.213.0.5',
    egress: { allow: ['1.2.3.0/24'] },
    publish: [{ proto: 'tcp', hostPort: 18080, port: 80 }],
  };
  const pub: SandboxNet = { ip: '10.213.0.6', egress: 'public' };
  await applyRules(sandboxElements('add', sb, TABLE) + sandboxElements('add', pub, TABLE));
  t.equal(elements('egress_allow').length, 1);
  t.equal(elements('publish').length, 1);
  t.same(await listPublished(TABLE), [{ proto: 'tcp', hostPort: 18080, ip: '10.213.0.5', port: 80 }], 'listPublished reads what nft prints');
  t.same(elements('egress_public'), ['10.213.0.6']);
  t.same(elements('dns_allowed').sort(), ['10.213.0.5', '10.213.0.6'], 'both may ask the dns forwarder');

  await applyRules(script); // a second warren start: rules rebuilt, elements kept
  t.same(elements('egress_public'), ['10.213.0.6'], 're-applying keeps elements');
  t.equal(listTable().nftables.filter((o) => o.rule).length, 18, 'rules are not duplicated');

  await t.rejects(applyRules(sandboxElements('add', { ...sb, ip: '10.213.0.9', egress: 'none' }, TABLE)), {
    code: 'WARREN_NET_NFT',
  }, 'a host port published twice fails the batch');

  await applyRules(sandboxElements('delete', sb, TABLE) + sandboxElements('delete', pub, TABLE));
  t.same([elements('egress_allow'), elements('publish'), elements('egress_public'), elements('dns_allowed')], [[], [], [], []]);

  await applyRules(deleteTableScript(TABLE));
  t.notMatch(tables(), TABLE, 'no table left');
});

t.test('a broken script is one WarrenError, and changes nothing', { skip }, async (t) => {
  await t.rejects(applyRules(`add table inet ${TABLE}\nadd rule inet ${TABLE} nochain drop\n`), {
    code: 'WARREN_NET_NFT',
    message: /failed.*(nochain|No such file|Could not process rule)/,
  });
  t.notMatch(tables(), TABLE);
});

t.test('in process through libnftables, the same as the tool: output, JSON, one transaction', { skip }, async (t) => {
  const lib = libnftables();
  t.ok(lib, 'libnftables loads where nft is installed (else every nftables change forks warren to run the tool)');
  if (!lib) return;
  t.teardown(() => {
    if (tables().includes(TABLE)) execFileSync('nft', ['delete', 'table', 'inet', TABLE]);
  });
  lib.run(`add table inet ${TABLE}\nadd set inet ${TABLE} s { type ipv4_addr; }\nadd element inet ${TABLE} s { 10.213.0.7 }\n`);
  t.match(lib.run(`list set inet ${TABLE} s`), /elements = \{ 10\.213\.0\.7 \}/, 'its output as nft prints it');
  t.same(JSON.parse(lib.run(`list set inet ${TABLE} s`, { json: true })).nftables.find((o: { set?: unknown }) => o.set).set.elem, ['10.213.0.7'], 'and as nft -j prints it');
  t.throws(() => lib.run(`add element inet ${TABLE} s { 10.213.0.8 }\nadd element inet ${TABLE} nosuch { 10.213.0.9 }\n`), { name: 'NftFailed', message: /No such file or directory/ }, 'a batch with a bad command fails, with what nft says');
  t.match(lib.run(`list set inet ${TABLE} s`), /elements = \{ 10\.213\.0\.7 \}/, 'and nothing of it was applied');
  t.equal(lib.run(`list set inet ${TABLE} s`, { json: false }).includes('"nftables"'), false, 'JSON only when asked');
});
