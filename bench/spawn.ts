/**
 * The `spawn` scenario: create a sandbox, wait until its command runs, destroy it; as fast as the
 * given concurrency allows. Rows:
 *
 *   warren   SandboxHost.create() with full isolation, as `warren run` gives it, running the
 *            static bench/native/pause bind-mounted at /bench
 *   unshare  baseline: the same namespaces around the same pause (baselines/unshare.ts)
 *   crun     baseline: an equivalent OCI bundle around the same pause (baselines/crun.ts)
 *
 * What "running" means, the same for every row: the command was exec'd. For warren that is
 * sandbox.ready(), which the spawner reports when init has exec'd the command; the baselines
 * learn it from pause's first byte on a pipe, a few microseconds after its exec (a static binary
 * has no loader to run). Reading pause's byte in warren too would add a pipe and a poll per cycle
 * to warren's side only, and would measure the same instant.
 *
 * `--level runtime` has rows of its own (spawn-runtime.ts): warren's node runtime answering on its
 * socket, against plain `node` processes answering the same way. `--net bridge` gives each warren
 * sandbox its veth on the bridge; the baselines stay as they are.
 */
import { performance } from 'node:perf_hooks';
import { SandboxHost, DEFAULT_LIMITS, type Sandbox, type SandboxOptions } from '../sandbox/index.js';
import { preflight } from '../sandbox/preflight.js';
import { ensureNodeImage, imageLayerPaths, NODE_IMAGE } from '../snapshots/index.js';
import { baselineCgroup } from './baselines/cgroup.js';
import { crunSubject } from './baselines/crun.js';
import { unshareSubject, which } from './baselines/unshare.js';
import { errorText, runCycles } from './cycles.js';
import { nodeSubject, warrenRuntimeSubject } from './spawn-runtime.js';
import { ensureBenchNative, type BenchNative } from './native.js';
import type { Batch, Scenario, ScenarioContext, Subject } from './scenario.js';

const PAUSE_DIR_IN_SANDBOX = '/bench';
const SIGKILL = 9;

async function warrenSubject(ctx: ScenarioContext, native: BenchNative): Promise<Subject> {
  preflight();
  await ensureNodeImage(ctx.dirs.state);
  const spec: SandboxOptions = {
    argv: [`${PAUSE_DIR_IN_SANDBOX}/pause`],
    layers: imageLayerPaths(ctx.dirs.state, NODE_IMAGE),
    limits: { memoryBytes: DEFAULT_LIMITS.memoryBytes, cpus: DEFAULT_LIMITS.cpus, pids: DEFAULT_LIMITS.pids },
    stdio: ['null', 'null', 'null'],
    binds: [{ src: native.dir, dst: PAUSE_DIR_IN_SANDBOX, readonly: true }],
    // egress none: the veth on the bridge, and no nftables call per sandbox
    net: ctx.options.net === 'bridge' ? { egress: 'none' } : undefined,
  };
  const host = await SandboxHost.open({ dirs: ctx.dirs });

  /** One cycle: request to ready is the latency; destroy() is part of the cycle, not the latency. */
  async function cycle(out: Batch, setupMs: number[]): Promise<void> {
    const t0 = performance.now();
    let sandbox: Sandbox | undefined;
    try {
      sandbox = await host.create(spec);
      await sandbox.ready();
      const ms = performance.now() - t0;
      const exit = await sandbox.destroy();
      // pause never ends by itself: any other end means the sandbox broke before we destroyed it
      if (exit.signal !== SIGKILL && exit.code !== 128 + SIGKILL) {
        out.failures.push(`sandbox ${sandbox.id} ended by itself before destroy (exit ${exit.code})`);
        return;
      }
      out.latenciesMs.push(ms);
      // the spawner's share of the latency (request received to exec): the rest is Node's side
      setupMs.push(sandbox.setupUs / 1000);
    } catch (err) {
      // a failed start still holds a cgroup and a lease until its exit is reported
      await sandbox?.destroy().catch(() => {});
      out.failures.push(errorText(err));
    }
  }

  return {
    name: 'warren',
    baseline: false,
    description: 'SandboxHost.create, full isolation as warren run (user/pid/mount/uts/ipc/net/cgroup namespaces, cgroup limits, overlay root, seccomp)',
    batch(count, concurrency, tick, signal) {
      const setupMs: number[] = [];
      return runCycles(count, concurrency, tick, signal, (out) => cycle(out, setupMs), { spawner_setup_ms: setupMs });
    },
    close: () => host.close(),
  };
}

async function setup(ctx: ScenarioContext): Promise<Subject[]> {
  const native = ensureBenchNative();
  const subjects: Subject[] = [];
  try {
    if (ctx.options.level === 'runtime') {
      subjects.push(await warrenRuntimeSubject(ctx));
      subjects.push(await nodeSubject(ctx, native));
      return subjects;
    }
    subjects.push(await warrenSubject(ctx, native));
    const unshare = which('unshare');
    if (unshare) subjects.push(unshareSubject(unshare, native, await baselineCgroup(ctx.dirs.cgroupParent, 'unshare')));
    else ctx.notes.push('unshare (util-linux) was not found: its baseline row is missing.');
    const crun = which('crun');
    if (crun) {
      subjects.push(crunSubject({ crun, unshare, native, dirs: ctx.dirs, workDir: ctx.workDir, concurrency: ctx.options.concurrency, notes: ctx.notes }));
    } else {
      ctx.notes.push('crun is not installed (Debian/Ubuntu package crun; scripts/setup.sh installs it): its baseline row is missing.');
    }
    return subjects;
  } catch (err) {
    await Promise.allSettled(subjects.map((s) => s.close()));
    throw err;
  }
}

export const spawnScenario: Scenario = {
  name: 'spawn',
  summary: 'create a sandbox, wait until its command runs (bare) or its node runtime answers (runtime), destroy it',
  latency: (options) => (options.level === 'runtime' ? "request to the runtime's first answer on its socket" : 'request to command running'),
  check(): void {
    // every option combination is supported
  },
  setup,
};
