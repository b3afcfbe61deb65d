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
import { WarrenError } from '../lib/errors.js';
import { baselineCgroup } from './baselines/cgroup.js';
import { crunSubject } from './baselines/crun.js';
import { unshareSubject, which } from './baselines/unshare.js';
import { nodeSubject, warrenRuntimeSubject } from './spawn-runtime.js';
import { ensureBenchNative, type BenchNative } from './native.js';
import type { Scenario, ScenarioContext, Subject } from './scenario.js';
import { warrenSubject } from './warren-row.js';

const PAUSE_DIR_IN_SANDBOX = '/bench';

/** The bare level's row: ready when init has exec'd pause (sandbox.ready()). */
function warrenBare(ctx: ScenarioContext, native: BenchNative): Promise<Subject> {
  return warrenSubject(ctx, {
    description: 'SandboxHost.create, full isolation as warren run (user/pid/mount/uts/ipc/net/cgroup namespaces, cgroup limits, overlay root, seccomp)',
    spec: { argv: [`${PAUSE_DIR_IN_SANDBOX}/pause`], binds: [{ src: native.dir, dst: PAUSE_DIR_IN_SANDBOX, readonly: true }] },
    ready: async (sandbox) => void (await sandbox.ready()),
  });
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
    subjects.push(await warrenBare(ctx, native));
    const unshare = which('unshare');
    if (unshare) subjects.push(unshareSubject(unshare, native, await baselineCgroup(ctx.dirs.cgroupParent, 'unshare')));
    else ctx.notes.push('unshare (util-linux) was not found: its baseline row is missing.');
    const crun = which('crun');
    if (crun) {
      subjects.push(crunSubject({ crun, unshare, native, dirs: ctx.dirs, concurrency: ctx.options.concurrency, notes: ctx.notes }));
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
  check(options): void {
    if (options.pool || options.egress || options.connections) throw new WarrenError('WARREN_ARG_INVALID', `spawn: --pool and --egress are cold options, --connections a warm one`);
  },
  setup,
};
