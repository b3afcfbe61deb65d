/**
 * Someone else removes warren's bridge or its nftables table while sandboxes run (an admin's
 * cleanup script, another tool's reload). Before, both stayed removed: no sandbox on the bridge
 * could start again ("bridge-port: find interface: No such device"), and without the table the
 * bridge's traffic was forwarded with no filter at all. Now the host puts them back within about a
 * second: the bridge with its address and the running sandboxes' veths as its ports, the table
 * with the running sandboxes' elements; and a sandbox started meanwhile waits for it. Needs root.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import t from 'tap';
import { SandboxHost, type SandboxOptions } from '../../sandbox/index.js';
import { ensureNodeImage } from '../../cli/wiring.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { ensureProbe } from '../probe/probe.js';
import { NEEDS_ROOT, testDirs } from './helpers.js';

const dirs = testDirs('wrntest-net-repair');
const { bridge, table } = dirs.net;

function spec(egress: 'none' | 'public'): SandboxOptions {
  return {
    argv: ['/probe/probe', 'sleep', '60'],
    layers: imageLayerPaths(dirs.state, NODE_IMAGE),
    binds: [{ src: ensureProbe(), dst: '/probe', readonly: true }],
    stdio: ['null', 'null', 'null'],
    net: { egress },
    tenant: 'repair',
  };
}

const hasBridge = () => fs.existsSync(`/sys/class/net/${bridge}`);
const ports = () => execFileSync('ip', ['-o', 'link', 'show', 'master', bridge], { encoding: 'utf8' }).split('\n').filter(Boolean).length;
const tableText = () => {
  try {
    return execFileSync('nft', ['list', 'table', 'inet', table], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
};

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('a bridge or table removed by someone else is put back, with what ran on it', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  const host = await SandboxHost.open({ dirs });
  t.teardown(() => host.close());
  const running = await host.create(spec('public'));
  await running.ready();
  t.ok(hasBridge(), 'the bridge is up');
  const before = ports();

  execFileSync('ip', ['link', 'del', bridge]);
  await until('the bridge back', hasBridge);
  // a port is put back down, made a port, isolated, then up: up means done
  const upPorts = () => execFileSync('ip', ['-o', 'link', 'show', 'master', bridge, 'up'], { encoding: 'utf8' }).split('\n').filter(Boolean).length;
  await until('its ports back', () => upPorts() >= before);
  t.pass(`the bridge is back with its ${ports()} ports`);
  // the default bridge keeps its sandboxes apart by port isolation: a port put back without it
  // would let them reach each other
  const details = execFileSync('ip', ['-d', '-o', 'link', 'show', 'master', bridge, 'up'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  t.same(details.filter((l) => !/ isolated on /.test(l)), [], 'every port back up is isolated');
  const next = await host.create(spec('none'));
  await next.ready();
  t.pass('a sandbox starts on it again');

  execFileSync('nft', ['delete', 'table', 'inet', table]);
  await until('the table back', () => tableText() !== undefined);
  t.match(tableText(), new RegExp(`egress_public[^}]*${(running.ip as string).replace(/\./g, '\\.')}`), "the running sandbox's egress element is back");
  const third = await host.create(spec('public'));
  await third.ready();
  t.pass('a sandbox with egress starts again');
  for (const s of [running, next, third]) await s.destroy();
});
