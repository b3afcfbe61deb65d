/**
 * The spawner dies (SIGKILL) while sandboxes run and more are being made: every sandbox in flight
 * fails with a clear error or ends with SIGKILL, everything they held is released (no cgroup,
 * lease, run dir, io dir or layer record left, no unhandled rejection), and the host starts a new
 * spawner for the next create. Needs root.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { isWarrenError } from '../../lib/errors.js';
import { detectCgroups } from '../../sandbox/cgroups/index.js';
import { SandboxHost, type SandboxOptions } from '../../sandbox/index.js';
import { ensureNodeImage } from '../../cli/wiring.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { ensureProbe } from '../probe/probe.js';
import { NEEDS_ROOT, testDirs } from './helpers.js';

const dirs = testDirs('wrntest-spawner-death');

let unhandled = 0;
process.on('unhandledRejection', () => unhandled++);

function spec(args: string[]): SandboxOptions {
  return {
    argv: ['/probe/probe', ...args],
    layers: imageLayerPaths(dirs.state, NODE_IMAGE),
    binds: [{ src: ensureProbe(), dst: '/probe', readonly: true }],
    stdio: ['null', 'null', 'null'],
    net: { egress: 'none' },
    io: { dst: '/warren/io' },
  };
}

const list = (sub: string) => {
  try {
    return fs.readdirSync(path.join(dirs.run, sub));
  } catch {
    return [];
  }
};

t.test('a spawner killed under load fails what was in flight, and the host starts a new one', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  const host = await SandboxHost.open({ dirs, spare: 2 });
  t.teardown(() => host.close());
  const running = await Promise.all(Array.from({ length: 4 }, () => host.create(spec(['sleep', '60']))));
  await Promise.all(running.map((s) => s.ready()));
  const first = host.spawnerPid;
  // more on their way while it dies: some are mid-spawn, some not yet sent
  // one whose ready() fails was created: its release still runs after that rejection, so it is
  // awaited too before the host side is looked at
  const inFlight = Array.from({ length: 6 }, () =>
    host.create(spec(['sleep', '60'])).then((s) =>
      s.ready().then(
        () => s,
        async (err: unknown) => {
          await s.exited;
          throw err;
        },
      ),
    ),
  );
  process.kill(first, 'SIGKILL');
  const outcomes = await Promise.allSettled(inFlight);
  for (const o of outcomes) {
    if (o.status === 'rejected') t.ok(isWarrenError(o.reason), `in flight: a WarrenError (${String(o.reason)})`);
  }
  const exits = await Promise.all(running.map((s) => s.exited));
  for (const e of exits) t.equal(e.signal, 9, 'a running sandbox ends killed');
  for (const e of exits) t.equal(e.spawnerGone, true, "and its exit says the spawner's death took it (the platform's failure, not its command's)");
  for (const o of outcomes) if (o.status === 'fulfilled') t.equal((await o.value.exited).signal, 9, 'a started one ends killed');
  for (const e of exits) t.equal(e.releaseError, undefined, 'and releases all it held');
  const driver = detectCgroups({ parent: dirs.cgroupParent });
  t.same((await driver.list()).filter((n) => n.startsWith('w')), [], 'no sandbox cgroup left');
  for (const sub of ['sandboxes', 'io', 'layers']) t.same(list(sub), [], `nothing left in ${sub}`);

  const again = await host.create(spec(['exit', '7']));
  t.not(host.spawnerPid, first, 'a new spawner');
  const next = await again.exited;
  t.equal(next.code, 7, 'the next sandbox runs to its end');
  t.equal(next.spawnerGone, undefined, 'an exit of its own says nothing of a spawner');
  await host.close();
  t.same(list('uids'), [], 'no uid lease left after close');
  t.same(list('ips'), [], 'no address left after close');
  t.equal(unhandled, 0, 'no unhandled rejection');
});
