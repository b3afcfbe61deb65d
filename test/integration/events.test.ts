/**
 * The sandbox layer's events on node:diagnostics_channel (sandbox/events.ts), as a metrics
 * subscriber sees them for real sandboxes: create, ready and exit for one that runs, oom before
 * exit for a memory bomb. Needs root.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import t from 'tap';
import { SandboxHost, type SandboxExitEvent } from '../../sandbox/index.js';
import { ensureNodeImage } from '../../cli/wiring.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { ensureProbe } from '../probe/probe.js';
import { NEEDS_ROOT, testDirs } from './helpers.js';

const dirs = testDirs('wrntest-events');
const NAMES = ['create', 'ready', 'oom', 'exit', 'limits', 'egress'] as const;

/** Every event of the layer, in order, as [short name, payload]; unsubscribed at the test's end. */
function record(t: { teardown(fn: () => void): void }): Array<[string, Record<string, unknown>]> {
  const seen: Array<[string, Record<string, unknown>]> = [];
  for (const name of NAMES) {
    const fn = (msg: unknown) => seen.push([name, msg as Record<string, unknown>]);
    diagnostics_channel.subscribe(`warren:sandbox:${name}`, fn);
    t.teardown(() => diagnostics_channel.unsubscribe(`warren:sandbox:${name}`, fn));
  }
  return seen;
}

t.test('a subscriber sees create, ready and exit of a sandbox, with its id and times', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  await using host = await SandboxHost.open({ dirs, spare: 0 });
  const seen = record(t);
  const sandbox = await host.create({
    // alive long enough for the setLimits below: a command that exits at once races it
    argv: ['node', '-e', 'setTimeout(() => process.exit(3), 1000)'],
    layers: imageLayerPaths(dirs.state, NODE_IMAGE),
    limits: { pids: 40 },
    binds: [{ src: ensureProbe(), dst: '/probe', readonly: true }],
  });
  await sandbox.ready();
  await sandbox.setLimits({ pids: 20 });
  const exit = await sandbox.exited;
  t.equal(exit.code, 3);
  t.same(seen.map(([n]) => n), ['create', 'ready', 'limits', 'exit'], 'in order, no oom');
  const [create, ready, limits, ended] = seen.map(([, e]) => e as Record<string, number | string>) as [Record<string, number | string>, Record<string, number | string>, Record<string, number | string>, Record<string, number | string>];
  t.match(create, { id: sandbox.id, network: 'loopback', spare: false, limits: { pids: 40 } });
  t.ok((create.createMs as number) >= 0, `createMs ${create.createMs}`);
  t.match(ready, { id: sandbox.id, pid: sandbox.pid, setupUs: sandbox.setupUs });
  t.ok((ready.readyMs as number) >= (create.createMs as number), `readyMs ${ready.readyMs} after createMs`);
  t.match(limits, { id: sandbox.id, limits: { pids: 20 } });
  t.match(ended, { id: sandbox.id, code: 3, signal: null, oomKilled: false });
  t.ok((ended.lifetimeMs as number) >= (ready.readyMs as number), `lifetimeMs ${ended.lifetimeMs}`);
});

t.test('a memory bomb: oom, then exit with oomKilled', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  await using host = await SandboxHost.open({ dirs, spare: 0 });
  const seen = record(t);
  const sandbox = await host.create({
    argv: ['/probe/probe', 'membomb', '16'],
    layers: imageLayerPaths(dirs.state, NODE_IMAGE),
    limits: { memoryBytes: 64 << 20 },
    binds: [{ src: ensureProbe(), dst: '/probe', readonly: true }],
    stdio: ['null', 'null', 'null'],
  });
  const exit = await sandbox.exited;
  t.equal(exit.code, 137);
  t.same(seen.map(([n]) => n), ['create', 'ready', 'oom', 'exit']);
  const oom = seen[2]?.[1];
  t.match(oom, { id: sandbox.id, memoryBytes: 64 << 20 });
  t.ok((oom?.oomKills as number) >= 1, `oomKills ${oom?.oomKills}`);
  t.match(seen[3]?.[1] as unknown as SandboxExitEvent, { id: sandbox.id, code: 137, oomKilled: true });
});

t.test('without subscribers nothing is published', async (t) => {
  for (const name of NAMES) t.notOk(diagnostics_channel.channel(`warren:sandbox:${name}`).hasSubscribers, name);
});
