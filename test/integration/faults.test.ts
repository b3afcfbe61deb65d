/**
 * Fault injection into create and release (HostOptions.faults): each step of a create fails in
 * turn, and whatever the steps before it took (uid lease, cgroup, parked sandbox, netns, nftables
 * elements, run dir, io dir, layer record) is given back, with an error that names the step; each
 * step of a release fails in turn, and every other part is still released, `exited` resolves
 * with an error naming the part, and the process lives on (no unhandled rejection). Needs root.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { isWarrenError } from '../../lib/errors.js';
import { detectCgroups } from '../../sandbox/cgroups/index.js';
import { collectGarbage } from '../../sandbox/index.js';
import { CREATE_STEPS, RELEASE_STEPS, SandboxHost, type CreateStep, type ReleaseStep, type SandboxOptions } from '../../sandbox/index.js';
import { ensureNodeImage } from '../../cli/wiring.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { removeIoDir } from '../../sandbox/io-dir.js';
import { ensureProbe } from '../probe/probe.js';
import { NEEDS_ROOT, testDirs } from './helpers.js';

const dirs = testDirs('wrntest-faults');
const driver = () => detectCgroups({ parent: dirs.cgroupParent });

let unhandled = 0;
process.on('unhandledRejection', () => unhandled++);

function spec(): SandboxOptions {
  return {
    argv: ['/probe/probe', 'identity'],
    layers: imageLayerPaths(dirs.state, NODE_IMAGE),
    binds: [{ src: ensureProbe(), dst: '/probe', readonly: true }],
    stdio: ['null', 'null', 'null'],
    net: { egress: 'public' },
    io: { dst: '/warren/io' },
    // one tenant: a used netns goes back to the pool, so the pool's footprint stays the same
    tenant: 'faults',
  };
}

const list = (sub: string) => {
  try {
    return fs.readdirSync(path.join(dirs.run, sub)).sort();
  } catch {
    return [];
  }
};

/** Counts, not names, where the parked sandboxes a create took are made again with new ones. */
async function counted(host: SandboxHost) {
  const fp = await footprint(host);
  return { ...fp, uids: fp.uids.length, cgroups: fp.cgroups.length };
}

/** What this host holds on the machine, part by part. */
async function footprint(host: SandboxHost) {
  const inits = spawnSync('ps', ['--ppid', String(host.spawnerPid), '-o', 'comm='], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.startsWith('warren:[init]')).length;
  const nft = execFileSync('nft', ['list', 'table', 'inet', dirs.net.table], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('elements'))
    .map((l) => l.trim());
  return {
    sandboxes: list('sandboxes'),
    io: list('io'),
    uids: list('uids'),
    ips: list('ips'),
    layers: list('layers'),
    cgroups: (await driver().list()).filter((n) => n.startsWith('w')).sort(),
    inits,
    nft,
  };
}

async function settled<T>(what: string, read: () => Promise<T>, want: T, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  let got = await read();
  while (JSON.stringify(got) !== JSON.stringify(want) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    got = await read();
  }
  return got;
}

for (const spare of [0, 2]) {
  t.test(`each step of a create fails in turn and gives back what it took (spare ${spare})`, { skip: NEEDS_ROOT }, async (t) => {
    await ensureNodeImage(dirs.state);
    let failAt: CreateStep | undefined;
    const host = await SandboxHost.open({
      dirs,
      spare,
      faults: { create: (step) => {
        if (step === failAt) throw new Error(`injected fault at ${step}`);
      } },
    });
    t.teardown(() => host.close());
    // one whole cycle first, so that every pool holds what it keeps between creates
    t.equal((await (await host.create(spec())).exited).code, 0, 'a sandbox runs to its end');
    const before = await counted(host);
    for (const step of CREATE_STEPS) {
      failAt = step;
      const err = await host.create(spec()).then(() => undefined, (e: unknown) => e);
      t.ok(isWarrenError(err, 'WARREN_SANDBOX_CREATE'), `${step}: a WarrenError (${String(err)})`);
      t.match(String((err as Error).message), new RegExp(`: ${step}: injected fault at ${step}`), `${step}: the error names the step`);
      // the parked ones a failed create took are made again off the request path
      t.same(await settled(step, () => counted(host), before), before, `${step}: nothing left behind`);
    }
    failAt = undefined;
    t.equal((await (await host.create(spec())).exited).code, 0, 'the host still makes sandboxes');
    t.equal(unhandled, 0, 'no unhandled rejection');
  });
}

t.test('each step of a release fails in turn; the rest is still released and exited resolves', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  let failAt: ReleaseStep | undefined;
  const host = await SandboxHost.open({
    dirs,
    spare: 0,
    faults: { release: (step) => {
      if (step === failAt) throw new Error(`injected fault at ${step}`);
    } },
  });
  t.teardown(async () => {
    await host.close();
    // the netns step's fault left its address lease and nftables elements on purpose: swept as
    // `warren gc` sweeps a crashed warren's (after close, nothing else of this host holds any)
    await collectGarbage(dirs, driver(), () => false);
  });
  for (const step of RELEASE_STEPS) {
    failAt = step;
    const sandbox = await host.create(spec());
    const exit = await sandbox.exited;
    t.equal(exit.code, 0, `${step}: the command's exit still counts`);
    const fp = await footprint(host);
    const held = (part: keyof typeof fp) => (fp[part] as unknown[]).some((e) => String(e).includes(sandbox.id));
    if (step === 'stats') {
      t.equal(exit.releaseError, undefined, 'stats: no stats is no failure');
      t.equal(exit.stats, null, 'stats: none');
    } else {
      t.ok(isWarrenError(exit.releaseError, 'WARREN_SANDBOX_RELEASE'), `${step}: releaseError is a WarrenError`);
      t.match(exit.releaseError?.message ?? '', new RegExp(`${step}: injected fault at ${step}`), `${step}: it names the part`);
    }
    t.equal(held('sandboxes'), step === 'rundir', `${step}: run dir ${step === 'rundir' ? 'kept' : 'gone'}`);
    t.equal(held('io'), step === 'io', `${step}: io dir ${step === 'io' ? 'kept' : 'gone'}`);
    t.equal(held('layers'), step === 'layers', `${step}: layer record ${step === 'layers' ? 'kept' : 'gone'}`);
    t.equal(held('cgroups'), step === 'cgroup', `${step}: cgroup ${step === 'cgroup' ? 'kept' : 'gone'}`);
    // the uid range of a cgroup that may still hold tasks is never handed out again
    const leaseKept = step === 'lease' || step === 'cgroup';
    const leases = list('uids').map((n) => fs.readFileSync(path.join(dirs.run, 'uids', n), 'utf8'));
    t.equal(leases.some((l) => l.includes(sandbox.id)), leaseKept, `${step}: uid lease ${leaseKept ? 'kept' : 'released'}`);
    t.equal(fp.inits, 0, `${step}: no init left`);
    // clean what the fault left on purpose, so that the next step starts from nothing
    fs.rmSync(path.join(dirs.run, 'sandboxes', sandbox.id), { recursive: true, force: true });
    removeIoDir(path.join(dirs.run, 'io', sandbox.id));
    fs.rmSync(path.join(dirs.run, 'layers', sandbox.id), { force: true });
    if (step === 'cgroup') await driver().open(sandbox.id).destroy();
    for (const n of list('uids')) {
      if (fs.readFileSync(path.join(dirs.run, 'uids', n), 'utf8').includes(sandbox.id)) fs.rmSync(path.join(dirs.run, 'uids', n));
    }
  }
  t.equal(unhandled, 0, 'no unhandled rejection');
});
