/**
 * The warren row of the spawn scenario, at either level: SandboxHost.create() with full isolation,
 * as `warren run` gives it, the node image's layers, default limits, and with `--net bridge` a
 * veth on the bridge (egress none: no nftables call per sandbox), all for one tenant (one
 * function's sandboxes: their network namespaces are reused). A cycle is create, ready (what
 * that means is the level's), destroy; request to ready is the latency, destroy is part of the
 * cycle but not of the latency.
 */
import { performance } from 'node:perf_hooks';
import { WarrenError } from '../lib/errors.js';
import { DEFAULT_LIMITS, type Sandbox, type SandboxOptions } from '../sandbox/index.js';
import { errorText, runCycles } from './cycles.js';
import type { Batch, ScenarioContext, Subject } from './scenario.js';

const SIGKILL = 9;

export interface WarrenRow {
  description: string;
  /** What the sandbox runs and gets besides the common parts above. */
  spec: Pick<SandboxOptions, 'argv' | 'binds' | 'io'>;
  /** Resolves once the sandbox counts as ready at this level; rejects when it never will. */
  ready(sandbox: Sandbox): Promise<void>;
}

export async function warrenSubject(ctx: ScenarioContext, row: WarrenRow): Promise<Subject> {
  const spec: SandboxOptions = {
    ...row.spec,
    layers: await ctx.hosts.imageLayers(ctx.dirs.state),
    limits: { memoryBytes: DEFAULT_LIMITS.memoryBytes, cpus: DEFAULT_LIMITS.cpus, pids: DEFAULT_LIMITS.pids },
    stdio: ['null', 'null', 'null'],
    net: ctx.options.net === 'bridge' ? { egress: 'none' } : undefined,
    // one function's sandboxes, as the pool starts them: their network namespaces are reused
    tenant: 'bench',
  };
  const host = await ctx.hosts.openHost({ dirs: ctx.dirs });

  async function cycle(out: Batch, setupMs: number[]): Promise<void> {
    const t0 = performance.now();
    let sandbox: Sandbox | undefined;
    try {
      sandbox = await host.create(spec);
      await row.ready(sandbox);
      const ms = performance.now() - t0;
      const exit = await sandbox.destroy();
      // what the rows run never ends by itself: any other end means it broke before we destroyed it
      if (exit.signal !== SIGKILL && exit.code !== 128 + SIGKILL) {
        out.failures.push(`sandbox ${sandbox.id} ended by itself before destroy (exit ${exit.code})`);
        return;
      }
      out.latenciesMs.push(ms);
      // the spawner's share of the latency (request received to exec): the rest is Node's side
      // (and, at the runtime level, node's boot and its answer)
      setupMs.push(sandbox.setupUs / 1000);
    } catch (err) {
      // a failed start still holds a cgroup and a lease until its exit is reported
      await sandbox?.destroy().catch(() => {});
      const cause = err instanceof WarrenError && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      out.failures.push(errorText(err) + cause);
    }
  }

  return {
    name: 'warren',
    baseline: false,
    description: row.description,
    batch(count, concurrency, tick, signal) {
      const setupMs: number[] = [];
      return runCycles(count, concurrency, tick, signal, (out) => cycle(out, setupMs), { spawner_setup_ms: setupMs });
    },
    close: () => host.close(),
  };
}
