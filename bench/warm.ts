/**
 * The `warm` scenario: throughput and latency of one deployed function under load, at each
 * connection count, through the router; the same load on baselines in the same run. Rows, per
 * connection count (`c=N`, a group: a row is compared with the baselines of its own group):
 *
 *   warren   `warren serve` (its own, serve-process.ts), one function deployed, load on
 *            http://127.0.0.1:PORT/<fn>/: the router, the pool, a sandboxed runtime
 *   warren handoff  the same server (started with --domain and --handoff), load with
 *            `Host: <fn>.<domain>`: each connection's first answer through the router, then
 *            the connection handed to the instance (runtime/handoff.ts), which serves the rest
 *   node     baseline: plain node, a raw (req, res) handler answering the same bytes on
 *            127.0.0.1 (the ratio the target is set against: >= 0.5x at 50 connections)
 *   runtime  baseline: the same module in warren's runtime (runtime/build/runtime.cjs --module)
 *            on its unix socket, no router, no sandbox: what the router and sandbox cost
 *   workerd  baseline, when installed (npm package workerd): the same module served by workerd on
 *            127.0.0.1 (its own event loop: the ">= workerd" target's row)
 *
 * The load is autocannon (load.ts), in a child process, the same for every row; its CPU is
 * reported (it shares the machine's cores with the server). Each row also shows its server's CPU
 * per request: the serve process and its sandboxes' cgroups for warren (and each apart:
 * serve_cpu_us, sandboxes_cpu_us), the process for the others.
 * Every row gets a warm-up slice, then rounds in which each row runs one slice, the order rotating.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WarrenError } from '../lib/errors.js';
import { packageRoot } from '../lib/package-root.js';
import { DEFAULT_PATH } from '../sandbox/index.js';
import { CONTROL_NAME, RUNTIME_NODE_FLAGS, runtimeBundle, waitForSocket } from '../runtime/index.js';
import { answerHead } from './answer.js';
import { BODY, MODULE, PLAIN_NODE } from './cold.js';
import type { LoadConfig, LoadResult } from './load.js';
import { machineBusyMs } from './machine-cpu.js';
import { DEFAULT_CONNECTIONS, DEFAULT_WARM_S, type BenchOptions } from './options.js';
import { cgroupCpuMs, processCpuMs } from './process-cpu.js';
import { absorb, emptyRow, type ProgressSink, type RunOutcome } from './runner.js';
import type { Batch, Scenario, ScenarioContext, Subject } from './scenario.js';
import { startServe, sweepServes, until } from './serve-process.js';
import { findWorkerd, workerdCommand, workerdMissingNote, workerdVersion, writeWorkerdProject } from './workerd.js';
import net from 'node:net';

const FN = 'bench-warm';
/** Generic warm runtimes of the bench's server (serve's default). */
const POOL = 2;
const START_TIMEOUT_MS = 30_000;
const MAX_ROUNDS = 5;
/** Seconds of each row's uncounted first slice: instances scale up, JITs warm. */
const WARMUP_S = 1;

interface Target {
  name: string;
  baseline: boolean;
  description: string;
  load: Pick<LoadConfig, 'url' | 'socketPath' | 'host'>;
  /** Resolves once the server is quiet after a warm-up (warren: the instances the load made have
   * started, and the generic pool is full again, so no boot's CPU falls in a measured slice). */
  settle?(signal: AbortSignal): Promise<void>;
  /** CPU the server has used so far, ms, by part (warren: its serve process and its sandboxes). */
  cpuMs(): Record<string, number>;
  close(): Promise<void>;
}

interface LoadSubject extends Subject {
  load(seconds: number, signal: AbortSignal): Promise<Batch>;
  settle(signal: AbortSignal): Promise<void>;
}

// load.ts beside this file when run from source; else tsc's dist/bench/load.js, whether this module
// runs from dist/bench/ or bundled into the CLI (dist/warren/: scripts/bundle-cli.mjs)
const LOAD_SCRIPT = import.meta.url.endsWith('.ts') ? fileURLToPath(new URL('./load.ts', import.meta.url)) : path.join(packageRoot(import.meta.url), 'dist', 'bench', 'load.js');

/** One run of the load generator; its CPU comes back in the result. */
async function runLoad(cfg: LoadConfig, signal: AbortSignal): Promise<LoadResult> {
  // tests run the bench from source: the child needs the same loader
  const child = spawn(process.execPath, [...process.execArgv, LOAD_SCRIPT, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = () => child.kill('SIGTERM');
  signal.addEventListener('abort', stop, { once: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d).slice(-2000)));
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  signal.removeEventListener('abort', stop);
  try {
    return JSON.parse(stdout) as LoadResult;
  } catch {
    throw new WarrenError('WARREN_BENCH_LOAD', `the load generator exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ') || 'no output'}`);
  }
}

function loadSubject(t: Target, connections: number): LoadSubject {
  return {
    name: `${t.name} c=${connections}`,
    baseline: t.baseline,
    group: `c=${connections}`,
    description: t.description,
    batch: () => Promise.reject(new WarrenError('WARREN_BENCH_LOAD', 'warm rows run load, not cycles')),
    async load(seconds, signal) {
      const cpu0 = t.cpuMs();
      const sum = (parts: Record<string, number>) => Object.values(parts).reduce((a, b) => a + b, 0);
      const out: Batch = { latenciesMs: [], failures: [], wallMs: 0, extra: {} };
      try {
        const r = await runLoad({ ...t.load, connections, seconds }, signal);
        const cpu1 = t.cpuMs();
        out.latenciesMs = r.latenciesMs;
        out.wallMs = r.wallMs;
        for (const [status, n] of Object.entries(r.statuses)) for (let i = 0; i < n; i++) out.failures.push(`answered ${status}`);
        for (let i = 0; i < r.errors; i++) out.failures.push(`connection error or timeout (${r.timeouts} timeouts in the slice)`);
        const requests = Math.max(1, r.latenciesMs.length + out.failures.length);
        const perAnswer = (ms: number) => [(ms * 1000) / requests];
        out.extra = { server_cpu_us: perAnswer(sum(cpu1) - sum(cpu0)), loadgen_cpu_us: [r.cpuUs / requests] };
        const parts = Object.keys(cpu1);
        if (parts.length > 1) for (const k of parts) out.extra[`${k}_cpu_us`] = perAnswer((cpu1[k] ?? 0) - (cpu0[k] ?? 0));
      } catch (err) {
        out.failures.push(err instanceof Error ? err.message : String(err));
      }
      return out;
    },
    settle: async (signal) => t.settle?.(signal),
    close: () => t.close(),
  };
}

/** A child process the bench owns: killed and waited for on close. */
function owned(child: ChildProcess): () => Promise<void> {
  const gone = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let closing: Promise<void> | undefined;
  return () =>
    (closing ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await gone;
    })());
}

/**
 * The function's concurrency: one instance takes every connection the bench opens, as one process
 * does in each baseline. At the default (16) 50 connections spread over 4 instances, each waking
 * for fewer requests per turn of its event loop: measured, the sandboxes' CPU per answer doubled
 * (130 vs 67 us with --handoff, interleaved).
 */
const CONCURRENCY = 100;

/** The bench server's --domain: its function is also `<fn>.<DOMAIN>`, for the handoff row. */
const DOMAIN = 'bench.invalid';

/** Two rows on one server: path-routed (every request through the router) and host-routed with
 * --handoff. A row's slice runs alone, so each one's CPU is its own. */
async function warrenTargets(ctx: ScenarioContext): Promise<Target[]> {
  const server = await startServe({ tag: 'warm', dirs: ctx.dirs, workDir: ctx.workDir, args: ['--pool', String(POOL), '--keep-alive', '10m', '--domain', DOMAIN, '--handoff'] });
  try {
    const d = await server.api('PUT', `/v1/functions/${FN}`, { module: MODULE, limits: { concurrency: CONCURRENCY } });
    if (d.status !== 201) throw new WarrenError('WARREN_BENCH_SERVE', `deploy of '${FN}' answered ${d.status}: ${JSON.stringify(d.body)}`);
    const first = await answerHead(server.data, `/${FN}/`, AbortSignal.timeout(START_TIMEOUT_MS));
    if (first.status !== 200) throw new WarrenError('WARREN_BENCH_SERVE', `'${FN}' answered ${first.status}`);
  } catch (err) {
    await server.close();
    throw err;
  }
  const common = {
    baseline: false,
    async settle(signal: AbortSignal) {
      const quiet = async () => (await server.sandboxes()).filter((s) => s.fn === null).length >= POOL;
      await until('the generic pool to be full again', quiet, signal, START_TIMEOUT_MS);
    },
    cpuMs: () => ({ serve: processCpuMs(server.pid) ?? 0, sandboxes: cgroupCpuMs(server.cgroupParent) ?? 0 }),
    close: () => server.close(),
  };
  const base = `http://${server.data.host}:${server.data.port}`;
  return [
    {
      ...common,
      name: 'warren',
      description: 'warren serve: the router, the pool and a sandboxed runtime; server CPU: the serve process and its sandboxes',
      load: { url: `${base}/${FN}/` },
    },
    {
      ...common,
      name: 'warren handoff',
      description: `warren serve --handoff, Host: ${FN}.${DOMAIN}: a connection's first answer through the router, the rest from the instance it was handed to`,
      load: { url: `${base}/`, host: `${FN}.${DOMAIN}` },
    },
  ];
}

// the environment a sandbox gets, not the host's (spawn-runtime.ts says why)
const ENV = { PATH: DEFAULT_PATH, HOME: '/root', HOSTNAME: 'bench' };

async function nodeTarget(ctx: ScenarioContext): Promise<Target> {
  const script = path.join(ctx.workDir, 'node-warm.mjs');
  fs.writeFileSync(script, PLAIN_NODE);
  const child = spawn(process.execPath, [script, '0'], { env: ENV, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
  const close = owned(child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new WarrenError('WARREN_BENCH_LOAD', 'plain node did not listen')), START_TIMEOUT_MS);
    child.stdout?.on('data', (d: Buffer) => {
      const m = /listening (\d+)/.exec(String(d));
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  }).catch(async (err) => {
    await close();
    throw err;
  });
  return {
    name: 'node',
    baseline: true,
    description: `plain node (${process.version}) with a raw (req, res) handler answering the same bytes on 127.0.0.1`,
    load: { url: `http://127.0.0.1:${port}/` },
    cpuMs: () => ({ server: processCpuMs(child.pid as number) ?? 0 }),
    close,
  };
}

async function runtimeTarget(ctx: ScenarioContext): Promise<Target> {
  const dir = path.join(ctx.workDir, 'runtime-warm');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const module = path.join(dir, 'worker.mjs');
  fs.writeFileSync(module, MODULE);
  const socket = path.join(dir, 'fn.sock');
  const waiting = waitForSocket(dir, AbortSignal.timeout(START_TIMEOUT_MS), CONTROL_NAME);
  const child = spawn(process.execPath, [...RUNTIME_NODE_FLAGS, runtimeBundle(), '--listen', socket, '--control', path.join(dir, CONTROL_NAME), '--module', module], { env: ENV, stdio: 'ignore', detached: true });
  const close = owned(child);
  try {
    (await waiting).close();
  } catch (err) {
    await close();
    throw new WarrenError('WARREN_BENCH_LOAD', `warren's runtime did not listen on '${socket}'`, { cause: err });
  }
  return {
    name: 'runtime',
    baseline: true,
    description: "the same module in warren's runtime on its unix socket, no router, no sandbox",
    load: { url: 'http://localhost/', socketPath: socket },
    cpuMs: () => ({ server: processCpuMs(child.pid as number) ?? 0 }),
    close,
  };
}

/** A free 127.0.0.1 port, for a server that cannot report the one it got. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function workerdTarget(ctx: ScenarioContext, bin: string): Promise<Target> {
  const config = writeWorkerdProject(path.join(ctx.workDir, 'workerd-warm'), MODULE);
  const port = await freePort();
  const [cmd, ...args] = workerdCommand(bin, config, `127.0.0.1:${port}`);
  const child = spawn(cmd as string, args, { env: ENV, stdio: 'ignore', detached: true });
  const close = owned(child);
  const answers = async () => (await answerHead({ host: '127.0.0.1', port }, '/', AbortSignal.timeout(2000)).catch(() => ({ status: 0 }))).status === 200;
  try {
    await until('workerd to answer', answers, AbortSignal.timeout(START_TIMEOUT_MS), START_TIMEOUT_MS);
  } catch (err) {
    await close();
    throw new WarrenError('WARREN_BENCH_LOAD', `workerd did not answer on 127.0.0.1:${port}`, { cause: err });
  }
  return {
    name: 'workerd',
    baseline: true,
    description: `the same module served by ${workerdVersion(bin)} on 127.0.0.1`,
    load: { url: `http://127.0.0.1:${port}/` },
    cpuMs: () => ({ server: processCpuMs(child.pid as number) ?? 0 }),
    close,
  };
}

async function setup(ctx: ScenarioContext): Promise<Subject[]> {
  await sweepServes();
  const targets: Target[] = [];
  try {
    targets.push(...(await warrenTargets(ctx)));
    targets.push(await nodeTarget(ctx));
    targets.push(await runtimeTarget(ctx));
    const workerd = findWorkerd();
    if (workerd) targets.push(await workerdTarget(ctx, workerd));
    else ctx.notes.push(workerdMissingNote());
  } catch (err) {
    await Promise.allSettled(targets.map((t) => t.close()));
    throw err;
  }
  ctx.notes.push(`every row answers the same ${BODY.length} bytes; the load generator (autocannon) runs on the same cores as the servers`);
  ctx.notes.push(`warren's function is deployed with concurrency ${CONCURRENCY}: one instance serves every connection, as one process does in each baseline`);
  return (ctx.options.connections ?? [...DEFAULT_CONNECTIONS]).flatMap((c) => targets.map((t) => loadSubject(t, c)));
}

/** Warm-up slice each, then rounds of one slice per row, the order rotating (runner.ts's rule). */
async function run(subjects: readonly Subject[], options: BenchOptions, progress: ProgressSink, signal: AbortSignal): Promise<RunOutcome> {
  const seconds = options.durationS ?? DEFAULT_WARM_S;
  const rounds = Math.max(1, Math.min(MAX_ROUNDS, Math.round(seconds / 2)));
  const slice = seconds / rounds;
  const warmup = Math.min(WARMUP_S, slice);
  const rows = subjects.map(emptyRow);
  const load = subjects as readonly LoadSubject[];
  progress.begin(subjects.length * (rounds + 1), undefined);
  let done = 0;
  try {
    for (const [i, s] of load.entries()) {
      if (signal.aborted) break;
      absorb(rows[i]!, await s.load(warmup, signal), false);
      await s.settle(signal).catch((err: unknown) => rows[i]!.failures.push(`warm-up: ${err instanceof Error ? err.message : String(err)}`));
      progress.tick(s.name);
    }
    for (; done < rounds && !signal.aborted; done++) {
      for (let k = 0; k < load.length && !signal.aborted; k++) {
        const i = (k + done) % load.length;
        const s = load[i]!;
        const cpu0 = machineBusyMs();
        const batch = await s.load(slice, signal);
        rows[i]!.cpuMs += machineBusyMs() - cpu0;
        absorb(rows[i]!, batch, true);
        progress.tick(s.name);
      }
    }
  } finally {
    progress.end();
  }
  return { rows, rounds: done, warmup, aborted: signal.aborted };
}

function refuse(what: string): never {
  throw new WarrenError('WARREN_ARG_INVALID', `warm: ${what}`);
}

export const warmScenario: Scenario = {
  name: 'warm',
  summary: 'one deployed function under load through the router, against plain node and the bare runtime',
  rate: 'answers',
  latency: () => 'request sent to answer received, under load (autocannon, keep-alive connections)',
  check(options) {
    if (options.concurrency !== 1) refuse('the load is set with --connections, not --concurrency');
    if (options.level !== 'bare' || options.net !== 'none') refuse('--level and --net are spawn options');
    if (options.pool || options.egress) refuse('--pool and --egress are cold options');
  },
  setup,
  run,
  targets(results) {
    const out: string[] = [];
    for (const name of ['warren', 'warren handoff']) {
      const warren = results.find((r) => r.name === `${name} c=50`);
      const rate = warren?.vs?.node?.per_s;
      if (rate === undefined || rate === null) continue;
      out.push(`target (>= 0.5x plain node's rate at 50 connections), ${name}: ${rate >= 0.5 ? 'met' : 'not met'}, ${rate}x`);
      const workerd = warren?.vs?.workerd?.per_s;
      if (workerd !== undefined && workerd !== null) out.push(`target (ahead of workerd at 50 connections), ${name}: ${workerd > 1 ? 'met' : 'not met'}, ${workerd}x workerd's rate`);
    }
    return out;
  },
};
