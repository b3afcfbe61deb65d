/**
 * The pool over real sandboxes (needs root): a function's first request takes a generic warm
 * runtime and specializes it (prewarm), or spawns one when the pool is empty (cold); the next is
 * warm; a crash, an OOM kill or a timeout costs that instance only, and the next request gets a
 * fresh one; the queue is bounded; idle instances end after the keep-alive; nothing is left.
 */
import t, { type Test } from 'tap';
import { ensureNodeImage, openHost } from '../../cli/wiring.js';
import { Generics, Pool, type Version } from '../../runner/index.js';
import type { Invocation } from '../../router/invoker.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { NEEDS_ROOT, testDirs } from './helpers.js';
import { observer, TestLogs } from './pool-helpers.js';

const dirs = testDirs('wrntest-pool');
const MiB = 1024 * 1024;

const ECHO = `export default { async fetch(request, env) {
  const url = new URL(request.url);
  if (url.pathname === '/oom') { const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1)); }
  if (url.pathname === '/crash') { setTimeout(() => process.exit(3)); return new Response('bye'); }
  if (url.pathname === '/loop') { for (;;); }
  if (url.pathname === '/slow') await new Promise((r) => setTimeout(r, 300));
  return new Response('hello ' + env.WHO + ' ' + url.pathname);
} };`;

function version(fn: string, source: string, opts: Partial<Version> = {}): Version {
  return {
    fn,
    version: 1,
    key: `${fn}@1`,
    concurrency: 4,
    timeoutMs: 10_000,
    memoryBytes: 128 * MiB,
    specialization: async () => ({ limits: { memoryBytes: 128 * MiB, cpus: 1, pids: 64 }, egress: 'none', env: { WHO: fn }, source }),
    ...opts,
  };
}

async function withPool(t: Test, opts: { floor: number; keepAliveMs?: number; maxInstances?: number; queueCap?: number; memoryBudgetBytes?: number }, versions: Version[]) {
  await ensureNodeImage(dirs.state);
  const host = await openHost({ dirs, spare: 1 });
  const layers = imageLayerPaths(dirs.state, NODE_IMAGE);
  const generics = new Generics(host, async () => layers, { floor: opts.floor, cap: 2, ttlMs: 60_000, limits: { memoryBytes: 128 * MiB, cpus: 1, pids: 64 }, parallel: 1 }, { bootFailed: (err) => t.fail(`a boot failed: ${String(err)}`) });
  const byName = new Map(versions.map((v) => [v.fn, v]));
  const logs = new TestLogs();
  const pool = new Pool(generics, { live: (fn) => byName.get(fn) }, logs, observer, {
    maxInstances: opts.maxInstances ?? 4,
    queueCap: opts.queueCap ?? 8,
    keepAliveMs: opts.keepAliveMs ?? 60_000,
    memoryBudgetBytes: opts.memoryBudgetBytes ?? 2048 * MiB,
    pids: 64,
  });
  generics.fill();
  t.teardown(async () => {
    await pool.close();
    await host.close();
  });
  return { pool, generics, logs };
}

async function call(inv: Invocation, path: string): Promise<{ status: number; body: string }> {
  const res = await inv.dispatcher.request({ method: 'GET', path });
  return { status: res.statusCode, body: await res.body.text() };
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('first request prewarm, then warm; a cold start when no generic runtime is free', { skip: NEEDS_ROOT }, async (t) => {
  const { pool, generics } = await withPool(t, { floor: 1 }, [version('echo', ECHO), version('other', ECHO)]);
  await until('a generic runtime', () => generics.free.length === 1);
  const first = await pool.acquire('echo', AbortSignal.timeout(20_000));
  t.equal(first.start.label, 'prewarm');
  t.same(await call(first, '/a'), { status: 200, body: 'hello echo /a' }, 'the first request, sent behind the load, is served by the module');
  t.same(first.start.phases.map(([name]) => name), ['take', 'read', 'limits', 'load'], 'a prewarm start specializes and never spawns');
  t.ok(first.start.ms >= first.start.phases.reduce((sum, [, ms]) => sum + ms, 0) - 0.01, 'the start lasted its phases at least');
  t.equal(await first.release('ok'), undefined);
  const second = await pool.acquire('echo', AbortSignal.timeout(20_000));
  t.equal(second.start.label, 'warm');
  t.equal(second.instance, first.instance, 'the same instance');
  await second.release('ok');

  // the take started a replacement; take it too, then the next function finds none: cold
  await until('the replacement', () => generics.free.length === 1);
  generics.take()?.destroy('test');
  const other = await pool.acquire('other', AbortSignal.timeout(20_000));
  t.equal(other.start.label, 'cold');
  t.same(await call(other, '/'), { status: 200, body: 'hello other /' }, 'env is its own');
  // no warm phase: a cold start's runtime skips its warm-up, its load and request come at once
  t.same(other.start.phases.map(([name]) => name), ['spawn', 'boot', 'read', 'limits', 'load']);
  await other.release('ok');
  t.rejects(pool.acquire('nothing', AbortSignal.timeout(1000)), { code: 'WARREN_FN_NOT_FOUND' });
});

t.test('a module that fails to load fails the request sent behind its load with the load\'s error, and nothing else', { skip: NEEDS_ROOT }, async (t) => {
  const broken = version('broken', 'throw new Error("not today");\nexport default { fetch() { return new Response("never"); } };');
  const { pool, logs, generics } = await withPool(t, { floor: 1 }, [broken, version('fine', ECHO)]);
  await until('a generic runtime', () => generics.free.length === 1);
  const first = await pool.acquire('broken', AbortSignal.timeout(20_000));
  t.equal(first.start.label, 'prewarm', 'handed over before the load answered');
  await t.rejects(call(first, '/'), { code: 'WARREN_RUNTIME_LOAD_FAILED', message: /not today/ }, 'no answer of the function, the start\'s error');
  t.equal(await first.release('broken'), undefined);
  t.ok(logs.lines.some((l) => l.startsWith('broken: an instance did not start') && l.includes('not today')), 'the failed start is logged');
  t.notOk(pool.sandboxes().some((s) => s.fn === 'broken'), 'its instance is gone');
  const fine = await pool.acquire('fine', AbortSignal.timeout(20_000));
  t.same(await call(fine, '/ok'), { status: 200, body: 'hello fine /ok' }, 'the next start is unharmed');
  await fine.release('ok');
});

t.test("a function's limits apply before a line of its code runs", { skip: NEEDS_ROOT }, async (t) => {
  // 80 MiB at top level: within the generic runtime's 128 MiB, past the function's own 48 MiB
  const greedy = 'const kept = []; for (let i = 0; i < 80; i++) kept.push(Buffer.alloc(1 << 20, 1));\nexport default { fetch() { return new Response("ran with " + kept.length + " MiB"); } };';
  const small = version('greedy', greedy, { memoryBytes: 48 * MiB, specialization: async () => ({ limits: { memoryBytes: 48 * MiB, cpus: 1, pids: 64 }, egress: 'none', env: {}, source: greedy }) });
  const { pool, logs, generics } = await withPool(t, { floor: 1 }, [small]);
  await until('a generic runtime', () => generics.free.length === 1);
  const first = await pool.acquire('greedy', AbortSignal.timeout(20_000));
  await t.rejects(call(first, '/'), 'its top-level code ran under its own limit, and was stopped there');
  await first.release('broken');
  await until('the failed start logged', () => logs.lines.some((l) => l.startsWith('greedy: an instance did not start')));
});

t.test('a crash, an OOM kill or a timeout costs that instance only', { skip: NEEDS_ROOT }, async (t) => {
  const { pool, logs } = await withPool(t, { floor: 1 }, [version('bomb', ECHO), version('calm', ECHO)]);
  const calm = await pool.acquire('calm', AbortSignal.timeout(20_000));
  await calm.release('ok');

  const oom = await pool.acquire('bomb', AbortSignal.timeout(20_000));
  await t.rejects(call(oom, '/oom'), 'the exchange breaks');
  t.equal(await oom.release('broken'), 'out of memory');
  const next = await pool.acquire('bomb', AbortSignal.timeout(20_000));
  t.not(next.instance, oom.instance, 'a fresh instance');
  t.same(await call(next, '/x'), { status: 200, body: 'hello bomb /x' });

  const loop = next;
  const looping = call(loop, '/loop').catch(() => 'cut');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(await loop.release('timeout'), undefined);
  t.equal(await looping, 'cut', 'the timed-out instance is destroyed');

  const after = await pool.acquire('bomb', AbortSignal.timeout(20_000));
  t.same(await call(after, '/crash'), { status: 200, body: 'bye' });
  await after.release('ok');
  await until('the crash seen', () => logs.lines.some((l) => l.includes('exited with code 3')));

  const again = await pool.acquire('calm', AbortSignal.timeout(20_000));
  t.equal(again.start.label, 'warm', 'the neighbour never noticed');
  t.equal(again.instance, calm.instance);
  await again.release('ok');
  t.ok(logs.lines.some((l) => l.startsWith('bomb: the request timed out')), 'the timeout is logged');
  t.ok(logs.lines.some((l) => l.includes('out of memory')), 'the OOM kill is logged');
});

t.test('a bounded queue; idle instances end after the keep-alive', { skip: NEEDS_ROOT }, async (t) => {
  const slow = version('slow', ECHO, { concurrency: 1 });
  const { pool } = await withPool(t, { floor: 1, keepAliveMs: 500, maxInstances: 1, queueCap: 1 }, [slow]);
  const held = await pool.acquire('slow', AbortSignal.timeout(20_000));
  const queued = pool.acquire('slow', AbortSignal.timeout(20_000));
  await t.rejects(pool.acquire('slow', AbortSignal.timeout(20_000)), { code: 'WARREN_FN_QUEUE_FULL', retryAfterS: 1 });
  await held.release('ok');
  const got = await queued;
  t.equal(got.instance, held.instance, 'the queued request got the freed instance');
  await got.release('ok');
  await until('scale to zero', () => !pool.sandboxes().some((s) => s.fn === 'slow'), 10_000);
  t.pass('the idle instance ended');
});

t.test('a start past the memory budget evicts the least recently used idle instance', { skip: NEEDS_ROOT }, async (t) => {
  const { pool, logs } = await withPool(t, { floor: 1, memoryBudgetBytes: 256 * MiB }, [version('a', ECHO), version('b', ECHO), version('c', ECHO)]);
  for (const fn of ['a', 'b', 'a']) {
    // a request answered, as a user's: its answer waits for its instance's start to be over
    const inv = await pool.acquire(fn, AbortSignal.timeout(20_000));
    t.equal((await call(inv, '/')).status, 200);
    await inv.release('ok');
  }
  const c = await pool.acquire('c', AbortSignal.timeout(20_000));
  t.same(await call(c, '/'), { status: 200, body: 'hello c /' });
  await c.release('ok');
  const fns = pool.sandboxes().map((s) => s.fn).filter((fn) => fn !== null).sort();
  t.same(fns, ['a', 'c'], 'b, used least recently, made room for c');
  t.ok(logs.lines.includes('b: the instance is closed: evicted under the memory budget'), 'and its end says why');
});
