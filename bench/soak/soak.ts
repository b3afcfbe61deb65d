/**
 * One soak run, in this order: a fresh small state filesystem and clean places (places.ts); a real
 * `warren serve`; the mix deployed (functions.ts); load, churn and RSS sampling started; the faults
 * on their schedule (faults.ts), each awaited; at the end load and churn stopped, serve stopped
 * with SIGTERM, its leftovers listed; then the cycles (their own run dir and cgroup parent, the
 * same state dir for the node image) and their leftovers; everything the soak made removed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Churn, Lock } from './churn.js';
import { leftovers, cleanup } from './leftovers.js';
import { FAULTS, schedule, type FaultReport } from './faults.js';
import { CHURN, FUNCTIONS } from './functions.js';
import { Load, type Sample } from './load.js';
import { places, type Places } from './places.js';
import { rssGrowth, type RssGrowth, type RssSample } from './rss.js';
import { runCycles, type CyclesReport } from './cycles.js';
import { Server } from './server.js';
import { startPhases, type StartPhases } from './start-phases.js';
import { StateFs } from './statefs.js';
import type { SoakOptions } from './options.js';

export const SERVE_ARGS = ['--no-demo', '--pool', '2', '--keep-alive', '10s', '--max-instances', '4', '--memory-budget', '1g'];

/** serve's arguments: SERVE_ARGS, with --live-restore unless the run is without it. */
export function serveArgs(opts: Pick<SoakOptions, 'liveRestore'>): string[] {
  return opts.liveRestore ? [...SERVE_ARGS, '--live-restore'] : [...SERVE_ARGS];
}

export interface SoakReport {
  startedAt: string;
  options: SoakOptions;
  places: { state: string; run: string; cgroupParent: string; bridge: string; subnet: string; data: number };
  durationS: number;
  requests: number;
  /** fn -> class -> count */
  classes: Record<string, Record<string, number>>;
  unexpected: { total: number; samples: Sample[] };
  churn: { deploys: number; rollbacks: number; deletes: number; failures: string[] };
  faults: FaultReport[];
  rss: { samples: RssSample[]; growth: RssGrowth };
  /** The machine's 1-minute load average, sampled with the RSS: timing figures depend on it. */
  loadAverage: { min: number; mean: number; max: number; cores: number };
  /** Mean time of each phase of an instance start, by kind, over the last incarnation. */
  startPhases: StartPhases;
  serve: { restarts: number; exitCode: number | null; unexpectedExit?: string };
  leftovers: string[];
  cycles?: CyclesReport & { leftovers: string[] };
  /** Each target, met or not, with its figure. */
  targets: Array<{ name: string; met: boolean; detail: string }>;
}

const log = (line: string) => process.stderr.write(`soak: ${line}\n`);

async function deployMix(server: Server): Promise<void> {
  for (const f of [...FUNCTIONS, CHURN]) {
    const r = await server.api('PUT', `/v1/functions/${f.name}`, { module: f.module, ...(f.limits ? { limits: f.limits } : {}), ...(f.egress ? { egress: f.egress } : {}) });
    if (r.status !== 201) throw new Error(`deploy ${f.name}: ${r.status} ${r.text.slice(0, 300)}`);
  }
}

export async function runSoak(opts: SoakOptions, p: Places = places()): Promise<SoakReport> {
  const statefs = new StateFs(p.image, p.dirs.state);
  await cleanup(p.dirs);
  await cleanup(p.cycles);
  statefs.mount();
  const report: SoakReport = {
    startedAt: new Date().toISOString(),
    options: { durationS: opts.durationS, cycles: opts.cycles, recoveryTargetMs: opts.recoveryTargetMs, liveRestore: opts.liveRestore, ...(opts.json ? { json: opts.json } : {}), ...(opts.faults ? { faults: opts.faults } : {}) },
    places: { state: p.dirs.state, run: p.dirs.run, cgroupParent: p.dirs.cgroupParent, bridge: p.dirs.net.bridge, subnet: p.dirs.net.subnet, data: p.data },
    durationS: 0,
    requests: 0,
    classes: {},
    unexpected: { total: 0, samples: [] },
    churn: { deploys: 0, rollbacks: 0, deletes: 0, failures: [] },
    faults: [],
    rss: { samples: [], growth: { judged: false } },
    loadAverage: { min: 0, mean: 0, max: 0, cores: os.cpus().length },
    startPhases: {},
    serve: { restarts: 0, exitCode: null },
    leftovers: [],
    targets: [],
  };
  const server = new Server(p, serveArgs(opts), path.join(p.root, 'serve.log'));
  fs.rmSync(path.join(p.root, 'serve.log'), { force: true });
  try {
    if (opts.durationS > 0) await soakServe(opts, p, server, statefs, report);
    else {
      // the cycles need the node image: a server makes it on its first start
      await server.start();
      report.serve.exitCode = await server.stop();
    }
    if (opts.cycles > 0) {
      log(`${opts.cycles} sandbox cycles`);
      const cycles = await runCycles(p.cycles, opts.cycles, (n) => log(`cycles: ${n} done`));
      report.cycles = { ...cycles, leftovers: await settled(() => leftovers(p.cycles, { ownMount: p.dirs.state })) };
    }
  } finally {
    await server.stop().catch(() => null);
    await cleanup(p.dirs);
    await cleanup(p.cycles);
    statefs.unmount();
  }
  return report;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Leftovers, asked again for a few seconds while there are some: a closed pool's namespaces
 * (and their veths) are freed by the kernel asynchronously. */
async function settled(list: () => string[]): Promise<string[]> {
  let left = list();
  for (let i = 0; i < 50 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 200));
    left = list();
  }
  return left;
}

async function soakServe(opts: SoakOptions, p: Places, server: Server, statefs: StateFs, report: SoakReport): Promise<void> {
  log(`warren serve on 127.0.0.1:${p.data}, state ${p.dirs.state} (${Math.round(statefs.available() / 2 ** 20)} MiB free), bridge ${p.dirs.net.bridge}`);
  await server.start();
  await deployMix(server);
  const load = new Load(server.data);
  const lock = new Lock();
  const churn = new Churn(server, lock);
  load.onUnexpected = (s) => log(`unexpected at ${s.atS} s, ${s.fn}: ${s.cls}: ${s.detail.slice(0, 300)}`);
  const t0 = performance.now();
  const sampleEvery = opts.durationS >= 600 ? 5000 : 1000;
  const loads: number[] = [];
  const sampler = setInterval(() => {
    loads.push(os.loadavg()[0] as number);
    const rss = server.rss();
    if (rss !== undefined) report.rss.samples.push({ atS: Math.round((performance.now() - t0) / 100) / 10, pid: server.pid, rssBytes: rss });
  }, sampleEvery);
  const progress = setInterval(() => {
    const rss = server.rss();
    log(`${Math.round(load.now())} s: ${load.total()} requests, ${load.unexpectedTotal} unexpected, serve RSS ${rss ? Math.round(rss / 2 ** 20) : '?'} MiB, load average ${os.loadavg()[0]?.toFixed(1)}`);
  }, opts.durationS >= 600 ? 60_000 : 15_000);
  load.start([...FUNCTIONS, CHURN]);
  churn.start(opts.durationS >= 600 ? 5000 : 2000);
  try {
    for (const { atS, kind } of schedule(opts.durationS, opts.faults)) {
      if (opts.signal?.aborted) break;
      await sleep(atS * 1000 - (performance.now() - t0), opts.signal);
      if (opts.signal?.aborted) break;
      log(`${Math.round(load.now())} s: ${kind}`);
      const r = await lock.run(() => FAULTS[kind]({ server, load, lock, churn, places: p, statefs, recoveryTargetMs: opts.recoveryTargetMs })).catch((err): FaultReport => ({ kind, atS: load.now(), lost: [], inFlight: {}, problems: [`the fault failed: ${err instanceof Error ? err.message : String(err)}`], notes: [] }));
      for (const line of [...r.notes, ...r.problems]) log(`  ${line}`);
      report.faults.push(r);
    }
    await sleep(opts.durationS * 1000 - (performance.now() - t0), opts.signal);
  } finally {
    clearInterval(progress);
    clearInterval(sampler);
    await churn.stop();
    await load.stop();
  }
  report.durationS = Math.round((performance.now() - t0) / 100) / 10;
  report.requests = load.total();
  report.classes = Object.fromEntries([...load.counts].map(([fn, m]) => [fn, Object.fromEntries(m)]));
  report.unexpected = { total: load.unexpectedTotal, samples: load.unexpected };
  report.churn = { ...churn.ops, failures: churn.failures };
  report.rss.growth = rssGrowth(report.rss.samples);
  if (loads.length) report.loadAverage = { min: Math.min(...loads), mean: Math.round((loads.reduce((a, b) => a + b, 0) / loads.length) * 10) / 10, max: Math.max(...loads), cores: os.cpus().length };
  report.serve.restarts = server.lives.length - 1;
  report.serve.unexpectedExit = server.unexpectedExit;
  report.startPhases = startPhases((await server.api('GET', '/metrics').catch(() => ({ text: '' }))).text);
  log('stopping warren serve (SIGTERM)');
  report.serve.exitCode = await server.stop();
  report.leftovers = await settled(() => leftovers(p.dirs, { ownMount: p.dirs.state }));
}
