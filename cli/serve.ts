/**
 * `warren serve`: the function platform in one process. Wires the parts (cli/ is the only place
 * that does): the sandbox host, the node image, the registry, the bundles, the log store, the
 * pool and its generic runtimes, the function service, its cron triggers, and the router's two
 * listeners.
 *
 * Start, in this order: open the registry, which locks the state dir (one server per state dir,
 * WARREN_REGISTRY_LOCKED for a second); sweep what a killed server
 * left (its sandboxes died with its spawner; cgroups, run dirs, leases and temp layers stay; its
 * table is emptied, and the bridge and table kept for this one);
 * open the host and the image; load the registry (every deployed function comes back); start the
 * functions the killed server had running (its live record, runner/live-record.ts), busiest
 * first, since they are the likeliest to be asked first, and fill the generic pool (its boots wait
 * for those), both right after it listens; sweep user networks' leftovers (none of them serve's);
 * deploy the demo on a first start. With --live-restore, the sandboxes the killed server left
 * running (the sandbox layer keeps them for the grace) are adopted before the prestarts and
 * before it listens (runner/adopt.ts): the functions they served need no start. SIGTERM or SIGINT: stop accepting,
 * let requests in flight finish, destroy every sandbox, close the registry, exit 0.
 */
import fs from 'node:fs';
import path from 'node:path';
import { defaultDirs, type Dirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { detectCgroups } from '../sandbox/cgroups/index.js';
import { collectGarbage, collectNetworks } from '../sandbox/index.js';
import { LayerStore, putBundle, readBundle } from '../snapshots/index.js';
import { openRegistry } from '../registry/index.js';
import { adoptAll, Crons, Functions, Generics, Metrics, Pool, DEFAULT_LIMITS, LiveRecord, prestartOrder, readLiveRecord, type Version } from '../runner/index.js';
import { LogStore } from '../runner/logs.js';
import { DEFAULT_DATA_LIMITS, loadOrCreateToken, startRouter } from '../router/index.js';
import { imageLayers, openHost } from './wiring.js';
import { localUrl, SERVER_FILE, writeServerInfo } from '../client/index.js';
import { parseServeArgs, type ServeArgs } from './serve-args.js';
import { packageRoot } from '../lib/package-root.js';

/** Tasks per function instance: node's own threads and room to spare, not a fork bomb's. */
const FUNCTION_PIDS = 128;
/** How long a shutdown waits for requests in flight before it cuts them (scripts/warren.service's
 * TimeoutStopSec must be longer). */
export const DRAIN_MS = 30_000;
/** Functions a restart starts before anything asks for them, at most. */
const PRESTART_MAX = 8;
const DEMO = path.join(packageRoot(import.meta.url), 'examples', 'hello', 'worker.js');

export async function serve(argv: readonly string[]): Promise<number> {
  const args = parseServeArgs(argv);
  if (process.getuid?.() !== 0) throw new WarrenError('WARREN_HOST_NOT_ROOT', 'warren serve needs root to create sandboxes (run it with sudo)');
  const env = defaultDirs();
  const dirs: Dirs = { ...env, state: args.stateDir ?? env.state, run: args.runDir ?? env.run };
  const server = await start(args, dirs);
  process.stdout.write(
    `warren serve: functions at ${server.dataUrl}/<name>/${args.domain ? ` and http://<name>.${args.domain}` : ''}\n` +
      `  control API ${server.controlUrl}/v1 (token in ${server.tokenFile})\n` +
      (server.demo ? `  demo: curl ${server.dataUrl}/hello/\n` : ''),
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stdout.write(`warren serve: ${signal}: draining\n`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await server.close();
  process.stdout.write('warren serve: stopped\n');
  return 0;
}

interface Running {
  dataUrl: string;
  controlUrl: string;
  tokenFile: string;
  demo: boolean;
  close(): Promise<void>;
}

/** WARREN_TRACE=1: the start's steps on stderr, ms since the process began (a restart's time
 * to listen is the floor of its recovery). */
const trace = process.env.WARREN_TRACE ? (step: string) => process.stderr.write(`warren serve: start: ${step} at ${Math.round(performance.now())} ms\n`) : () => {};

async function start(args: ServeArgs, dirs: Dirs): Promise<Running> {
  trace('begin');
  const registry = openRegistry(dirs.state);
  const closers: Array<() => Promise<void> | void> = [() => registry.close()];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    await collectGarbage(dirs, detectCgroups({ parent: dirs.cgroupParent }), undefined, { reopen: true, userNetworks: false });
    await new LayerStore(dirs.state).sweepTemp();
    trace('swept');
    const host = await openHost({
      dirs,
      ...(args.uidBase !== undefined ? { uidBase: args.uidBase } : {}),
      ...(args.liveRestoreGraceMs !== undefined ? { liveRestore: { graceMs: args.liveRestoreGraceMs } } : {}),
    });
    closers.push(() => host.close());
    trace('host open');
    const layers = await imageLayers(dirs.state);
    trace('image');
    const logs = new LogStore({ dir: path.join(dirs.state, 'logs') });
    closers.push(() => logs.close());
    const bundles = { put: (source: string) => putBundle(dirs.state, source), read: async (digest: string) => (await readBundle(dirs.state, digest)).toString('utf8') };
    let pool: Pool | undefined;
    const metrics = new Metrics(
      () => pool?.counts() ?? {},
      () => generics.target,
    );
    const functions = new Functions(registry, bundles, logs, { pids: FUNCTION_PIDS, metrics: () => metrics.text() });
    const generics = new Generics(
      host,
      async () => layers,
      { floor: args.pool, cap: args.poolMax, ttlMs: args.poolTtlMs, limits: { memoryBytes: DEFAULT_LIMITS.memoryBytes, cpus: DEFAULT_LIMITS.cpus, pids: FUNCTION_PIDS }, parallel: 2 },
      { bootFailed: (err) => process.stderr.write(`warren serve: a generic runtime did not boot: ${err instanceof Error ? err.message : String(err)}\n`) },
    );
    pool = new Pool(generics, functions, logs, metrics, {
      maxInstances: args.maxInstances,
      queueCap: args.queue,
      keepAliveMs: args.keepAliveMs,
      memoryBudgetBytes: args.memoryBudgetBytes,
      pids: FUNCTION_PIDS,
      ...(args.handoff && args.domain && { handoff: { domain: args.domain.toLowerCase(), keepAliveMs: DEFAULT_DATA_LIMITS.keepAliveTimeoutMs } }),
    });
    functions.attach(pool);
    closers.push(() => (pool as Pool).close());
    const before = readLiveRecord(dirs.run, dirs.state).flatMap((b) => {
      const v = functions.live(b.fn);
      return v ? [{ ...b, memoryBytes: v.memoryBytes }] : [];
    });
    // before the router listens and before the prestarts: a request that comes first finds its
    // function's adopted instance (counted as starting until its runtime answered) and waits for
    // it, and a prestart skips a function that has one
    if (args.liveRestoreGraceMs !== undefined) adopt(host.adopted(), { versions: functions, pool, generics });
    const record = new LiveRecord(dirs.run, dirs.state, { live: () => (pool as Pool).live(), requests: () => metrics.requests() });
    closers.push(() => record.close());

    trace('adopted');
    const token = loadOrCreateToken(dirs.state);
    const router = await startRouter({
      invoker: pool,
      control: functions,
      token: token.token,
      dataListen: args.listen,
      controlListen: args.control,
      domain: args.domain,
      handoff: args.handoff,
      limits: { maxBodyBytes: args.maxBodyBytes, headersTimeoutMs: args.headerTimeoutMs, requestTimeoutMs: args.requestTimeoutMs, maxConnections: args.maxConnections },
    });
    closers.push(async () => {
      // requests in flight finish, up to a bound; then the rest are cut
      const timer = setTimeout(() => router.destroy(), DRAIN_MS).unref();
      await router.close();
      clearTimeout(timer);
    });
    trace('listening');
    // once listening, not before: a sandbox's start holds the event loop in parts (its nftables
    // rules are set in process), and begun before the listen, they put it off by 30-40 ms here
    // (a request that comes first starts its function itself, and prestart skips one starting)
    pool.prestart(prestartOrder(before, PRESTART_MAX, args.memoryBudgetBytes).map((fn) => functions.live(fn) as Version));
    generics.fill();
    // what crashed `warren run`s left on user networks: nothing of serve's, so after it listens:
    // listing the host's nftables tables (in process, so it holds the event loop) took 40-200 ms
    // here, and clients refused before the listen back off, while those after it only queue
    const networks = collectNetworks(dirs).catch((err) => process.stderr.write(`warren serve: sweeping user networks: ${err instanceof Error ? err.message : String(err)}\n`));
    closers.push(() => networks.then(() => {}));

    // local commands (`warren deploy`, `warren ls`...) find this server through this file
    writeServerInfo(dirs.state, { controlUrl: localUrl(router.controlUrl), dataUrl: localUrl(router.dataUrl), pid: process.pid });
    closers.push(() => fs.rmSync(path.join(dirs.state, SERVER_FILE), { force: true }));

    // cron triggers fire once the server serves, and stop first at a shutdown (closers run in
    // reverse): no new run starts while requests drain
    const crons = new Crons({ run: (fn, run) => (pool as Pool).scheduled(fn, run), logs, counted: (fn, outcome) => metrics.scheduled(fn, outcome) });
    closers.push(() => crons.close());
    functions.schedule(crons);

    const demo = !args.noDemo && (await deployDemo(dirs.state, functions));
    return { dataUrl: router.dataUrl, controlUrl: router.controlUrl, tokenFile: token.path, demo, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Adopts what the last server left running, and says what became of it. */
function adopt(sandboxes: Parameters<typeof adoptAll>[0], into: Parameters<typeof adoptAll>[1]): void {
  if (sandboxes.length === 0) return;
  const a = adoptAll(sandboxes, into);
  const fns = [...a.instances].map(([fn, n]) => (n > 1 ? `${fn} x${n}` : fn)).join(', ');
  process.stdout.write(`warren serve: live restore: adopting ${sandboxes.length - a.destroyed.length} of ${sandboxes.length} sandboxes left running (${a.generics} generic${fns ? `; instances of ${fns}` : ''})\n`);
  for (const d of a.destroyed) process.stdout.write(`warren serve: live restore: sandbox ${d.id} destroyed: ${d.why}\n`);
  void a.settled.then((failed) => {
    for (const f of failed) process.stderr.write(`warren serve: live restore: sandbox ${f.id} not adopted: ${f.why}\n`);
  });
}

/** The demo `hello`, once: on the first start of a state dir (a marker says it was done, so a
 * user who removed it does not get it back). */
async function deployDemo(stateDir: string, functions: Functions): Promise<boolean> {
  const marker = path.join(stateDir, 'demo-deployed');
  if (fs.existsSync(marker)) return (await functions.list()).some((f) => f.name === 'hello');
  await functions.deploy('hello', { module: fs.readFileSync(DEMO, 'utf8'), vars: {}, limits: {} });
  fs.writeFileSync(marker, `hello deployed ${new Date().toISOString()}\n`);
  return true;
}
