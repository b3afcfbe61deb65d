/**
 * The cycles mode: `count` sandbox create/ready/destroy cycles on a SandboxHost of the soak's own
 * (as `warren bench spawn --net bridge` runs them: the node image's layers, full isolation, a veth
 * on the bridge, one tenant), two at a time; then the host is closed and leftovers.ts lists what is
 * left. The state dir must hold the node image (the server made it).
 */
import { performance } from 'node:perf_hooks';
import type { Dirs } from '../../lib/dirs.js';
import { DEFAULT_LIMITS, SandboxHost, type SandboxOptions } from '../../sandbox/index.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { ensureBenchNative } from '../native.js';

const SIGKILL = 9;
const CONCURRENCY = 2;
const FAILURES_KEPT = 20;

export interface CyclesReport {
  count: number;
  done: number;
  failed: number;
  failures: string[];
  seconds: number;
  perSecond: number;
}

export async function runCycles(dirs: Dirs, count: number, onProgress?: (done: number) => void): Promise<CyclesReport> {
  const native = ensureBenchNative();
  const spec: SandboxOptions = {
    argv: ['/bench/pause'],
    binds: [{ src: native.dir, dst: '/bench', readonly: true }],
    layers: imageLayerPaths(dirs.state, NODE_IMAGE),
    limits: { memoryBytes: DEFAULT_LIMITS.memoryBytes, cpus: DEFAULT_LIMITS.cpus, pids: DEFAULT_LIMITS.pids },
    stdio: ['null', 'null', 'null'],
    net: { egress: 'none' },
    tenant: 'soak',
  };
  const host = await SandboxHost.open({ dirs });
  const out: CyclesReport = { count, done: 0, failed: 0, failures: [], seconds: 0, perSecond: 0 };
  const t0 = performance.now();
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started++;
      try {
        const sandbox = await host.create(spec);
        try {
          await sandbox.ready();
        } finally {
          const exit = await sandbox.destroy();
          if (exit.signal !== SIGKILL && exit.code !== 128 + SIGKILL) throw new Error(`sandbox ${sandbox.id} ended by itself (exit ${exit.code})`);
        }
        out.done++;
      } catch (err) {
        out.failed++;
        if (out.failures.length < FAILURES_KEPT) out.failures.push(err instanceof Error ? err.message : String(err));
      }
      if ((out.done + out.failed) % 500 === 0) onProgress?.(out.done + out.failed);
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    await host.close();
  }
  out.seconds = Math.round((performance.now() - t0) / 100) / 10;
  out.perSecond = Math.round((out.done / out.seconds) * 10) / 10;
  return out;
}
