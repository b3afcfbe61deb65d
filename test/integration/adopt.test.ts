/**
 * The runner's side of live restore over real sandboxes (needs root), in one process: runtimes
 * booted and specialized as a server makes them, their host connections then cut as a SIGKILL of
 * the server cuts them, and a new pool adopting the sandboxes by their records (runner/adopt.ts).
 * A generic runtime becomes the new pool's generic; an instance of the live version serves its
 * first request warm, as the same instance; an instance of a version no longer live, a sandbox
 * whose record is not the runner's, and one whose runtime does not serve what its record says are
 * destroyed. (The sandbox layer's part, sandboxes outliving the process, is its own tests'.)
 */
import t from 'tap';
import { ensureNodeImage, openHost } from '../../cli/wiring.js';
import { adoptAll, Generics, Pool, type Version } from '../../runner/index.js';
import { Instance } from '../../runner/instance.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { NEEDS_ROOT, testDirs } from './helpers.js';
import { observer, TestLogs } from './pool-helpers.js';

const dirs = testDirs('wrntest-adopt');
const MiB = 1024 * 1024;
const LIMITS = { memoryBytes: 128 * MiB, cpus: 1, pids: 64 };
const COUNTER = 'let n = 0; export default { fetch: () => new Response(String(++n)) };';

function version(fn: string, v: number): Version {
  return {
    fn,
    version: v,
    key: `${fn}@${v}`,
    concurrency: 4,
    timeoutMs: 10_000,
    memoryBytes: 128 * MiB,
    specialization: async () => ({ limits: LIMITS, egress: 'none', env: {}, source: COUNTER }),
  };
}

t.test('a new pool adopts what the last one left, by the records', { skip: NEEDS_ROOT, timeout: 180_000 }, async (t) => {
  await ensureNodeImage(dirs.state);
  const host = await openHost({ dirs, spare: 0 });
  t.teardown(() => host.close());
  const layers = imageLayerPaths(dirs.state, NODE_IMAGE);
  const boot = () => Instance.boot(host, layers, LIMITS, []);
  const owner = (v: Version) => ({ fn: v.fn, version: v.version, key: v.key });

  // what the last server had: a generic runtime, an instance of count@1 that served twice, one of
  // old@1 (old@2 is live now), one whose record says count@1 but whose load never went out (a kill
  // between the two), and one whose record is no runner's
  const generic = await boot();
  const counting = await boot();
  await counting.specialize(owner(version('count', 1)), await version('count', 1).specialization(), []);
  for (const want of ['1', '2']) t.equal(await (await counting.conn.http.request({ method: 'GET', path: '/' })).body.text(), want);
  const old = await boot();
  await old.specialize(owner(version('old', 1)), await version('old', 1).specialization(), []);
  const unloaded = await boot();
  unloaded.sandbox.setRecord({ kind: 'instance', fn: 'count', version: 1 });
  const foreign = await boot();
  foreign.sandbox.setRecord({ kind: 'kept' });
  t.same(generic.sandbox.record, { kind: 'generic' }, 'a booted runtime is recorded as generic');
  t.same(counting.sandbox.record, { kind: 'instance', fn: 'count', version: 1 }, 'a specialized one as its version');
  const all = [generic, counting, old, unloaded, foreign];
  // the server dies: its connections to the runtimes close, the sandboxes stay
  for (const i of all) await i.conn.destroy();

  const live = new Map([['count', version('count', 1)], ['old', version('old', 2)]]);
  const versions = { live: (fn: string) => live.get(fn) };
  const generics = new Generics(host, async () => layers, { floor: 1, cap: 1, ttlMs: 60_000, limits: LIMITS, parallel: 1 }, { bootFailed: (err) => t.fail(`a boot failed: ${String(err)}`) });
  const logs = new TestLogs();
  const pool = new Pool(generics, versions, logs, observer, { maxInstances: 2, queueCap: 8, keepAliveMs: 60_000, memoryBudgetBytes: 2048 * MiB, pids: 64 });
  t.teardown(() => pool.close());
  const adopted = adoptAll(all.map((i) => i.sandbox), { versions, pool, generics, timeoutMs: 5000 });
  t.same([...adopted.instances], [['count', 2]], 'both sandboxes recorded as count@1 are tried as instances');
  t.equal(adopted.generics, 1);
  t.same(adopted.destroyed.map((d) => d.id).sort(), [old.id, foreign.id].sort(), 'the old version and the foreign one go at once');
  t.match(adopted.destroyed.find((d) => d.id === old.id)?.why, /version 1 of 'old' is no longer live/);
  // asked before the adoptions settled: it waits for the adopted instance, nothing starts for it
  const inv = await pool.acquire('count', AbortSignal.timeout(20_000));
  t.equal(inv.start.label, 'warm', 'the first request after the restart is a warm start');
  t.equal(inv.instance, counting.id, 'of the instance that served before');
  const res = await inv.dispatcher.request({ method: 'GET', path: '/' });
  t.equal(await res.body.text(), '3', 'its module state goes on');
  await inv.release('ok');
  const failed = await adopted.settled;
  t.same(failed.map((f) => f.id), [unloaded.id], 'the one that never loaded its module is not adopted');
  t.match(failed[0]?.why, /serves no module, its record says count\.mjs/);
  t.ok(logs.lines.some((l) => l === 'count: the instance was adopted from the last server (live restore)'), 'the adoption is in the function\'s log');
  t.same(generics.free.map((g) => g.id), [generic.id], 'the generic runtime is the new pool\'s');
  for (const gone of [old, unloaded, foreign]) t.equal(gone.sandbox.state, 'exited', `${gone.id === old.id ? 'old' : gone.id === foreign.id ? 'foreign' : 'unloaded'} was destroyed`);
  // taken by another function, the adopted generic loads it
  live.set('other', version('other', 1));
  const other = await pool.acquire('other', AbortSignal.timeout(20_000));
  t.equal(other.start.label, 'prewarm');
  t.equal(other.instance, generic.id, 'specialized from the adopted generic runtime');
  t.equal(await (await other.dispatcher.request({ method: 'GET', path: '/' })).body.text(), '1');
  await other.release('ok');
});
