/**
 * Regression: spare network namespaces are reused from sandbox to sandbox, and a reused one showed
 * its previous tenant's traffic. The kernel's tcp_metrics named the address the last sandbox had
 * talked to (readable without privilege over generic netlink), and the interface and TCP SNMP
 * counters carried over, so one function could learn whom another talked to and how much. Now a
 * used netns goes only to later sandboxes of its own tenant (SandboxOptions.tenant, the function
 * version), and the spawner flushes its tcp_metrics before each reuse: a tenant's earlier sandbox
 * is still another sandbox. Here A (tenant X) talks TCP to a server in a test namespace
 * (TEST-NET-2); B (tenant Y) then gets a fresh netns: no tcp_metrics entry, counters at zero; and C
 * (tenant X again) gets A's netns without A's tcp_metrics entry.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SandboxHost, type SandboxOptions } from '../../sandbox/index.js';
import { imageLayerPaths } from '../../snapshots/index.js';
import { ensureProbe, type ProbeNet } from '../probe/probe.js';
import { NEEDS_ROOT, testDirs, warren, testEnv } from '../integration/helpers.js';
import { startPeer } from '../integration/peer.js';

const dirs = testDirs('wrntest-tenant');
const slot = Number(process.env.WRNTEST_SLOT ?? 0);
const PEER = '198.51.100.2';

/** A talks to the server and waits for the connection to close, then reports as B and C do. */
const TALK = `const c = require('net').connect(7777, '${PEER}', () => c.end('hi'));
  c.on('data', () => {});
  c.on('close', () => setTimeout(() => console.log(require('child_process').execFileSync('/probe/probe', ['net'], { encoding: 'utf8' })), 100));`;

t.test("a reused netns shows nothing of another sandbox's traffic", { skip: NEEDS_ROOT }, async (t) => {
  await warren(['run', '--', 'node', '-e', '0'], { env: testEnv(dirs) }); // the node image
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-tenant-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  await startPeer(t, {
    ns: `wrntest-tm${slot}`,
    hostIf: `wrntest-tm${slot}h`,
    prefix: '198.51.100',
    script: "require('net').createServer((s) => { s.on('data', () => s.end('ok')); s.on('error', () => {}); }).listen(7777, () => console.log('up')); setTimeout(() => process.exit(0), 30000)",
  });

  await using host = await SandboxHost.open({ dirs });
  const layers = imageLayerPaths(dirs.state, 'node');
  const run = async (name: string, tenant: string, argv: string[], net: SandboxOptions['net']): Promise<ProbeNet> => {
    const out = path.join(tmp, name);
    fs.writeFileSync(out, '');
    const binds = [{ src: ensureProbe(), dst: '/probe', readonly: true }];
    const s = await host.create({ argv, layers, net, tenant, binds, stdio: ['null', { path: out }, 'inherit'] });
    await s.ready();
    const exit = await s.exited;
    t.equal(exit.code, 0, `${name} ran`);
    return JSON.parse(fs.readFileSync(out, 'utf8').trim()) as ProbeNet;
  };
  const a = await run('A', 'X', ['node', '-e', TALK], { egress: { allow: ['198.51.100.0/24'] } });
  t.equal(a.tcp_metrics_errno, 0, 'A could read its tcp_metrics');
  t.ok(a.tcp_metrics.includes(PEER), 'the kernel kept a tcp_metrics entry of the peer A talked to');
  t.ok((a.dev?.eth0?.tx_packets ?? 0) > 0 && (a.tcp?.ActiveOpens ?? 0) > 0, 'and counted its traffic');

  const b = await run('B', 'Y', ['/probe/probe', 'net'], { egress: 'none' });
  t.not(b.netns, a.netns, "another tenant never gets A's netns");
  t.equal(b.tcp_metrics_errno, 0);
  t.same(b.tcp_metrics, [], 'B sees no tcp_metrics entry');
  t.same(b.dev?.eth0 && { tx: b.dev.eth0.tx_packets }, { tx: 0 }, 'eth0 has sent nothing yet');
  t.same(b.tcp, { ActiveOpens: 0, PassiveOpens: 0, InSegs: 0, OutSegs: 0 }, 'the TCP counters start at zero');

  const c = await run('C', 'X', ['/probe/probe', 'net'], { egress: 'none' });
  t.equal(c.netns, a.netns, "A's tenant gets A's netns again");
  t.equal(c.tcp_metrics_errno, 0);
  t.same(c.tcp_metrics, [], "its tcp_metrics were flushed: C does not see A's peer");
});
