/**
 * Regression: a module whose top-level code ends the runtime (`process.exit(0)` at load, or an
 * allocation past its memory cap) broke the load request's connection instead of answering it,
 * and the pool reported that as the platform failing: a deploy of it was a 503 "no instance of
 * 'live' could start" (fault: platform), where a module that throws at load is a 422 that says
 * why. Now a load whose runtime ended meanwhile rejects with WARREN_RUNTIME_LOAD_FAILED naming
 * how it ended, which the function service turns into the deploy's 422 (and the live version
 * keeps serving). Needs root: a real sandbox and runtime.
 */
import type { Readable } from 'node:stream';
import t from 'tap';
import { ensureNodeImage, openHost } from '../../cli/wiring.js';
import { isWarrenError } from '../../lib/errors.js';
import { Generics, Pool, type Logs, type Version } from '../../runner/index.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { NEEDS_ROOT, testDirs } from '../integration/helpers.js';

const dirs = testDirs('wrntest-regress-load');
const MiB = 1024 * 1024;
const limits = { memoryBytes: 128 * MiB, cpus: 1, pids: 64 };

function version(fn: string, source: string): Version {
  return { fn, version: 1, key: `${fn}@1`, concurrency: 1, timeoutMs: 10_000, memoryBytes: limits.memoryBytes, specialization: async () => ({ limits, egress: 'none', env: {}, source }) };
}

const logs: Logs = { attach: (stream: Readable) => void stream.resume(), report() {} };
const observer = { started() {}, warm() {}, refused() {}, finished() {} };

t.test('a module that ends the runtime at load is a load failure, not a failed start', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  const host = await openHost({ dirs, spare: 0 });
  const layers = imageLayerPaths(dirs.state, NODE_IMAGE);
  const generics = new Generics(host, async () => layers, { floor: 0, cap: 2, ttlMs: 60_000, limits, parallel: 1 }, { bootFailed: (err) => t.fail(`a boot failed: ${String(err)}`) });
  const pool = new Pool(generics, { live: () => undefined }, logs, observer, { maxInstances: 2, queueCap: 4, keepAliveMs: 60_000, memoryBudgetBytes: 1024 * MiB, pids: 64 });
  t.teardown(async () => {
    await pool.close();
    await host.close();
  });
  const cases: Array<[string, string, RegExp]> = [
    ['process.exit(0)', 'import process from "node:process"; process.exit(0); export default { fetch() {} };', /the runtime ended \(exited with code 0\) while loading module 'exits\.mjs'/],
    ['an allocation past the memory cap', 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1)); export default { fetch() {} };', /the runtime ended \((out of memory|killed by signal SIGKILL)\) while loading module 'exits\.mjs'/],
  ];
  for (const [what, source, message] of cases) {
    try {
      await pool.prepare(version('exits', source));
      t.fail(`${what}: loaded`);
    } catch (err) {
      t.ok(isWarrenError(err, 'WARREN_RUNTIME_LOAD_FAILED'), `${what}: WARREN_RUNTIME_LOAD_FAILED (${(err as { code?: string }).code})`);
      t.match((err as Error).message, message, `${what}: ${(err as Error).message}`);
    }
  }
});
