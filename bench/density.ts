/**
 * The `density` scenario: what an idle warm instance costs in memory, against the processes a user
 * would run instead, all alive at once (so shared pages are shared alike). Rows, N instances each:
 *
 *   warren   `warren serve` (its own, serve-process.ts), N functions deployed, each instance
 *            having answered a few requests, then idle: the sandbox's processes (init and node)
 *   node     baseline: N plain node processes answering the same bytes from a raw (req, res)
 *            handler on a unix socket, each in a cgroup of its own (the target's reference)
 *   workerd  baseline, when installed: N workerd processes serving the same module
 *
 * Per instance: PSS, its anonymous part, USS (smaps_rollup, summed over its processes;
 * process-memory.ts says why PSS alone misleads) and its memory cgroup's usage (page cache and
 * kernel memory included). The latency column is start to first answer. How many
 * instances fit in a budget follows from the cgroup figure (what a memory limit counts).
 * Target: warren's PSS within 1 MiB of plain node's.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { WarrenError } from '../lib/errors.js';
import { DEFAULT_PATH } from '../sandbox/index.js';
import { detectCgroups, type Cgroup } from '../sandbox/cgroups/index.js';
import { answerHead } from './answer.js';
import { MODULE, PLAIN_NODE } from './cold.js';
import { cgroupPids, totalMemory } from './process-memory.js';
import { absorb, emptyRow, type ProgressSink, type RunOutcome } from './runner.js';
import type { Batch, Scenario, ScenarioContext, Subject } from './scenario.js';
import { startServe, sweepServes } from './serve-process.js';
import type { BenchOptions } from './options.js';
import { findWorkerd, workerdCommand, workerdMissingNote, workerdVersion, writeWorkerdProject } from './workerd.js';

/** Requests each instance answers before it is left idle: its serving path compiled and touched. */
const REQUESTS = 3;
/** Idle time before measuring: the last requests' garbage and timers settle, and V8's memory reducer (which
 * runs a few seconds after the last activity) has run in every row. */
const IDLE_MS = 10_000;
const START_TIMEOUT_MS = 60_000;
const BUDGET_BYTES = 1024 ** 3;
const ENV = { PATH: DEFAULT_PATH, HOME: '/root', HOSTNAME: 'bench' };

interface DensitySubject extends Subject {
  /** Starts `n` instances, each to its first answers; latency = start to the first answer. */
  start(n: number, signal: AbortSignal): Promise<Batch>;
  /** Per instance: pss_kib and cgroup_kib. */
  measure(): Promise<Record<string, number[]>>;
}

async function answered(target: string | { host: string; port: number }, p: string, signal: AbortSignal): Promise<void> {
  for (let i = 0; i < REQUESTS; i++) {
    const a = await answerHead(target, p, AbortSignal.any([signal, AbortSignal.timeout(START_TIMEOUT_MS)]));
    if (a.status !== 200) throw new WarrenError('WARREN_BENCH_LOAD', `answered ${a.status}`);
  }
}

/** Starts instances one at a time with `one(i)`: each one's start to first answer is a sample. */
async function startEach(n: number, signal: AbortSignal, one: (i: number) => Promise<void>): Promise<Batch> {
  const out: Batch = { latenciesMs: [], failures: [], wallMs: 0 };
  const t0 = performance.now();
  for (let i = 0; i < n && !signal.aborted; i++) {
    const start = performance.now();
    try {
      await one(i);
      out.latenciesMs.push(performance.now() - start);
    } catch (err) {
      out.failures.push(err instanceof Error ? err.message : String(err));
    }
  }
  out.wallMs = performance.now() - t0;
  return out;
}

/** Per instance (a cgroup each): its processes' PSS and USS, and the cgroup's memory usage. */
function measureCgroups(cgroups: readonly Cgroup[]): Record<string, number[]> {
  const out: Record<string, number[]> = { pss_kib: [], anon_kib: [], uss_kib: [], cgroup_kib: [] };
  const kib = (bytes: number) => Math.round(bytes / 1024);
  for (const cg of cgroups) {
    const m = totalMemory(cgroupPids(cg.dirs));
    out.pss_kib!.push(kib(m.pss));
    out.anon_kib!.push(kib(m.pssAnon));
    out.uss_kib!.push(kib(m.private));
    const bytes = cg.stats().memoryCurrentBytes;
    if (bytes !== null) out.cgroup_kib!.push(kib(bytes));
  }
  return out;
}

async function warrenSubject(ctx: ScenarioContext): Promise<DensitySubject> {
  const server = await startServe({ tag: 'density', dirs: ctx.dirs, workDir: ctx.workDir, args: ['--pool', '0', '--pool-max', '0', '--keep-alive', '1h', '--memory-budget', '64g'] });
  const prefix = `density-${process.pid}-`;
  return {
    name: 'warren',
    baseline: false,
    description: 'an idle function instance of warren serve (its sandbox: init and the node runtime), after a few requests',
    batch: () => Promise.reject(new WarrenError('WARREN_BENCH_LOAD', 'density rows start instances, not cycles')),
    start: (n, signal) =>
      startEach(n, signal, async (i) => {
        const fn = `${prefix}${i}`;
        const d = await server.api('PUT', `/v1/functions/${fn}`, { module: MODULE });
        if (d.status !== 201) throw new WarrenError('WARREN_BENCH_SERVE', `deploy answered ${d.status}: ${JSON.stringify(d.body)}`);
        await answered(server.data, `/${fn}/`, signal);
      }),
    async measure() {
      const listed = (await server.api('GET', '/v1/sandboxes')).body as { sandboxes: Array<{ id: string; fn: string | null }> };
      const driver = detectCgroups({ parent: server.cgroupParent });
      return measureCgroups(listed.sandboxes.filter((x) => x.fn?.startsWith(prefix)).map((x) => driver.open(x.id)));
    },
    close: () => server.close(),
  };
}

/** N processes of one command, each in a cgroup of its own under `<parent>-bench-<name>-<pid>`
 * (bench.ts sweeps that pattern after a killed run), each answering on a unix socket. */
async function processSubject(ctx: ScenarioContext, p: { name: string; description: string; command(dir: string): (socket: string) => string[] }): Promise<DensitySubject> {
  const dir = path.join(ctx.workDir, `${p.name}-density`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const command = p.command(dir);
  const driver = detectCgroups({ parent: `${ctx.dirs.cgroupParent}-bench-${p.name}-${process.pid}` });
  const cgroups: Cgroup[] = [];
  return {
    name: p.name,
    baseline: true,
    description: p.description,
    batch: () => Promise.reject(new WarrenError('WARREN_BENCH_LOAD', 'density rows start instances, not cycles')),
    start: (n, signal) =>
      startEach(n, signal, async (i) => {
        const socket = path.join(dir, `i${i}.sock`);
        const cg = await driver.create(`i${i}`, {});
        cgroups.push(cg);
        const procs = cg.dirs.map((d) => `'${d}/cgroup.procs'`).join(' ');
        const deadline = performance.now() + START_TIMEOUT_MS;
        const [cmd, ...args] = command(socket);
        spawn('sh', ['-c', `echo $$ | tee ${procs} >/dev/null && exec "$0" "$@"`, cmd as string, ...args], { env: ENV, stdio: 'ignore', detached: true }).unref();
        while (!fs.existsSync(socket)) {
          if (performance.now() > deadline || signal.aborted) throw new WarrenError('WARREN_BENCH_LOAD', `${p.name} did not listen on '${socket}'`);
          await new Promise((r) => setTimeout(r, 5));
        }
        // workerd's name appears at bind(), a moment before it accepts
        for (;;) {
          try {
            return await answered(socket, '/', signal);
          } catch (err) {
            if (performance.now() > deadline || signal.aborted) throw err;
            await new Promise((r) => setTimeout(r, 5));
          }
        }
      }),
    measure: async () => measureCgroups(cgroups),
    async close() {
      for (const cg of cgroups) {
        await cg.killAll().catch(() => {});
        await cg.destroy().catch(() => {});
      }
      await driver.close?.();
      await driver.removeParent().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const plainNode = {
  name: 'node',
  description: `plain node (${process.version}) with a raw (req, res) handler answering the same bytes on a unix socket, idle after a few requests`,
  command(dir: string) {
    const script = path.join(dir, 'server.mjs');
    fs.writeFileSync(script, PLAIN_NODE);
    return (socket: string) => [process.execPath, script, socket];
  },
};

function workerdProcess(bin: string) {
  return {
    name: 'workerd',
    description: `${workerdVersion(bin)} serving the same module on a unix socket, idle after a few requests`,
    command(dir: string) {
      const config = writeWorkerdProject(dir, MODULE);
      return (socket: string) => workerdCommand(bin, config, `unix:${socket}`);
    },
  };
}

async function setup(ctx: ScenarioContext): Promise<Subject[]> {
  await sweepServes();
  const subjects: Subject[] = [];
  try {
    subjects.push(await warrenSubject(ctx));
    subjects.push(await processSubject(ctx, plainNode));
    const workerd = findWorkerd();
    if (workerd) subjects.push(await processSubject(ctx, workerdProcess(workerd)));
    else ctx.notes.push(workerdMissingNote());
    return subjects;
  } catch (err) {
    await Promise.allSettled(subjects.map((s) => s.close()));
    throw err;
  }
}

/** Every row starts its instances; once all of them idled, each is measured at the same moment. */
async function run(subjects: readonly Subject[], options: BenchOptions, progress: ProgressSink, signal: AbortSignal): Promise<RunOutcome> {
  const rows = subjects.map(emptyRow);
  const density = subjects as readonly DensitySubject[];
  progress.begin(subjects.length * 2, undefined);
  try {
    for (const [i, s] of density.entries()) {
      if (signal.aborted) break;
      absorb(rows[i]!, await s.start(options.count, signal), true);
      progress.tick(s.name);
    }
    if (!signal.aborted) await new Promise((r) => setTimeout(r, IDLE_MS));
    for (const [i, s] of density.entries()) {
      if (signal.aborted) break;
      const m = await s.measure().catch((err: unknown) => {
        rows[i]!.failures.push(`measure: ${err instanceof Error ? err.message : String(err)}`);
        return {};
      });
      for (const [k, v] of Object.entries(m)) rows[i]!.extra[k] = v;
      progress.tick(s.name);
    }
  } finally {
    progress.end();
  }
  return { rows, rounds: 1, warmup: 0, aborted: signal.aborted };
}

function refuse(what: string): never {
  throw new WarrenError('WARREN_ARG_INVALID', `density: ${what}`);
}

export const densityScenario: Scenario = {
  name: 'density',
  summary: 'memory of idle warm instances (PSS and memory cgroup), against idle plain node and workerd processes',
  latency: () => 'an instance started to its first answer',
  rate: 'instances started',
  check(options) {
    if (options.concurrency !== 1) refuse('instances are started one at a time (no --concurrency)');
    if (options.level !== 'bare' || options.net !== 'none') refuse('--level and --net are spawn options');
    if (options.connections) refuse('--connections is a warm option');
    if (options.pool || options.egress) refuse('--pool and --egress are cold options');
    if (options.durationS !== undefined) refuse('--duration: density starts --count instances per row');
    if (options.count > 64) refuse(`--count ${options.count}: at most 64 instances per row`);
  },
  setup,
  run,
  targets(results) {
    const pss = (name: string) => results.find((r) => r.name === name)?.pss_kib;
    const out: string[] = [];
    const uss = (name: string) => results.find((r) => r.name === name)?.uss_kib;
    const signed = (n: number) => `${n >= 0 ? '+' : ''}${n} KiB`;
    const warren = pss('warren');
    const node = pss('node');
    if (warren !== undefined && node !== undefined) {
      const anon = (name: string) => results.find((r) => r.name === name)?.anon_kib ?? 0;
      out.push(
        `target (an idle instance within 1 MiB PSS of idle plain node): ${warren - node <= 1024 ? 'met' : 'not met'}, ${signed(warren - node)} PSS ` +
          `(anonymous ${signed(anon('warren') - anon('node'))}, which depends on nothing else running; USS ${signed((uss('warren') ?? 0) - (uss('node') ?? 0))})`,
      );
    }
    const fits = results
      .filter((r) => r.cgroup_kib !== undefined && r.cgroup_kib > 0)
      .map((r) => `${r.name} ${Math.floor(BUDGET_BYTES / 1024 / (r.cgroup_kib as number))}`);
    if (fits.length) out.push(`instances that fit in 1 GiB (by memory cgroup usage): ${fits.join(', ')}`);
    return out;
  },
};
