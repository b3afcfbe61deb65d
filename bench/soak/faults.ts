/**
 * The faults, one function each, and what is checked after each. Every fault holds the lock that
 * the churn holds (no deploy runs across it), so that what is deployed before and after compares.
 *
 *   runtime-kill    SIGKILL of the node runtime of an instance of `slow` (a request is in flight)
 *   spawner-kill    SIGKILL of the server's spawner: every sandbox dies with it
 *   serve-kill      SIGKILL of `warren serve`, then a restart with the same state and run dirs
 *   disk-full       the state dir's filesystem filled, a deploy tried, then the space freed and
 *                   the deploy tried again
 *   bridge-removed  `ip link del` of the server's bridge, by someone else, while it serves
 *   table-removed   `nft delete table` of its nftables table, likewise
 *
 * After a kill: no function or version lost (deployed.ts), service back (every benign function
 * answering 200) within the recovery target (2 s) of the kill, or for serve of its restart, and the
 * requests in flight answered as load.ts expects. After the removals: the bridge or table back
 * (warren serve restores them) and functions that need them start again.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { deployed, lost } from './deployed.js';
import type { Churn, Lock } from './churn.js';
import { FUNCTIONS } from './functions.js';
import { FAULT_KINDS, type FaultKind, type Load } from './load.js';
import type { Places } from './places.js';
import { runtimePid, sandboxPids, spawnersOf } from './procs.js';
import type { Server } from './server.js';
import type { StateFs } from './statefs.js';

/** How long a fault waits for service to come back before it counts as not recovered. */
const RECOVERY_GIVE_UP_MS = 30_000;
const BENIGN = FUNCTIONS.filter((f) => f.judge(200, f.name === 'stream' ? 'chunk0;chunk1;chunk2;chunk3;chunk4;chunk5;chunk6;chunk7;chunk8;chunk9;' : f.name === 'log' ? 'logged' : f.name) === 'ok');

export interface FaultReport {
  kind: FaultKind;
  atS: number;
  /** Kill (or, for serve, restart) to every benign function answering 200. */
  recoveryMs?: number;
  /** serve-kill: restart to its control API listening. */
  listenMs?: number;
  lost: string[];
  /** Classes of the answers to what was in flight at the fault (load.ts fills them in). */
  inFlight: Record<string, number>;
  /** What went wrong: a missed target. */
  problems: string[];
  notes: string[];
}

export interface FaultContext {
  server: Server;
  load: Load;
  lock: Lock;
  churn: Churn;
  places: Places;
  statefs: StateFs;
  recoveryTargetMs: number;
}

async function ask(server: Server, fn: string): Promise<{ status: number; text: string }> {
  try {
    const res = await fetch(`${server.data}/${fn}/`, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    return { status: 0, text: String(err) };
  }
}

/** Polls every benign function until each answered 200; the ms from `from`, or undefined.
 * `each` gets each function's own figure. */
async function recovered(server: Server, from: number, fns = BENIGN.map((f) => f.name), each?: string[]): Promise<number | undefined> {
  const done = await Promise.all(
    fns.map(async (fn) => {
      while (performance.now() - from < RECOVERY_GIVE_UP_MS) {
        if ((await ask(server, fn)).status === 200) return performance.now();
        await new Promise((r) => setTimeout(r, 20));
      }
      return undefined;
    }),
  );
  each?.push(fns.map((fn, i) => `${fn} ${done[i] === undefined ? 'never' : `${Math.round((done[i] as number) - from)} ms`}`).join(', '));
  if (done.some((t) => t === undefined)) return undefined;
  return Math.max(...(done as number[])) - from;
}

function report(kind: FaultKind, load: Load): FaultReport {
  return { kind, atS: Math.round(load.now() * 10) / 10, lost: [], inFlight: {}, problems: [], notes: [] };
}

/** A kill: before, the kill itself (which returns the moment recovery is timed from), after. */
async function killFault(kind: FaultKind, ctx: FaultContext, kill: (r: FaultReport) => Promise<number>): Promise<FaultReport> {
  const r = report(kind, ctx.load);
  const before = await deployed(ctx.server);
  const window = ctx.load.fault(kind, { kill: true });
  r.inFlight = window.inFlight;
  const from = await kill(r);
  const each: string[] = [];
  const ms = await recovered(ctx.server, from, undefined, each);
  r.notes.push(`back: ${each.join('')}`);
  window.until = performance.now();
  if (ms === undefined) r.problems.push(`service not back within ${RECOVERY_GIVE_UP_MS} ms`);
  else {
    r.recoveryMs = Math.round(ms);
    if (ms > ctx.recoveryTargetMs) r.problems.push(`service back after ${Math.round(ms)} ms, past the ${ctx.recoveryTargetMs} ms target`);
  }
  r.lost = lost(before, await deployed(ctx.server));
  r.problems.push(...r.lost);
  return r;
}

async function runtimeKill(ctx: FaultContext): Promise<FaultReport> {
  return killFault('runtime-kill', ctx, async (r) => {
    const list = await ctx.server.api('GET', '/v1/sandboxes');
    const slow = (list.body?.sandboxes ?? []).filter((s: { fn: string | null; busy?: number }) => s.fn === 'slow');
    const target = slow.find((s: { busy?: number }) => (s.busy ?? 0) > 0) ?? slow[0];
    const pid = target ? runtimePid(sandboxPids(ctx.places.dirs.cgroupParent, target.id)) : undefined;
    if (pid === undefined) r.notes.push('no instance of slow was running: nothing killed');
    else {
      process.kill(pid, 'SIGKILL');
      r.notes.push(`killed the runtime (pid ${pid}) of ${target.id}, ${target.busy ?? 0} requests busy on it`);
    }
    return performance.now();
  });
}

async function spawnerKill(ctx: FaultContext): Promise<FaultReport> {
  return killFault('spawner-kill', ctx, async (r) => {
    const pids = spawnersOf(ctx.server.pid, ctx.places.dirs.cgroupParent);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    r.notes.push(pids.length ? `killed the spawner (pid ${pids.join(', ')})` : 'no spawner found: nothing killed');
    if (!pids.length) r.problems.push('no spawner found');
    return performance.now();
  });
}

async function serveKill(ctx: FaultContext): Promise<FaultReport> {
  return killFault('serve-kill', ctx, async (r) => {
    const old = ctx.server.pid;
    await ctx.server.kill();
    r.notes.push(`killed warren serve (pid ${old}) with ${ctx.load.inFlight} requests in flight`);
    const restart = performance.now();
    await ctx.server.start();
    r.listenMs = Math.round(performance.now() - restart);
    return restart;
  });
}

async function diskFull(ctx: FaultContext): Promise<FaultReport> {
  const r = report('disk-full', ctx.load);
  const before = await deployed(ctx.server);
  const bytes = ctx.statefs.fill();
  r.notes.push(`filled the state filesystem (${Math.round(bytes / 2 ** 20)} MiB written, ${ctx.statefs.available()} bytes left)`);
  try {
    const d = await ctx.churn.deployNext();
    r.notes.push(`deploy on the full disk: ${d.status} ${d.text.slice(0, 160)}`);
    if (d.status >= 200 && d.status < 300) {
      r.notes.push('the deploy went through on a full disk');
    } else {
      if (d.status < 500) r.problems.push(`a deploy on a full disk answered ${d.status}: the platform's fault should be a 5xx`);
      else if (!/"code":"WARREN_DEPLOY_NO_SPACE"/.test(d.text)) r.problems.push(`a deploy on a full disk was refused without saying why: ${d.status} ${d.text.slice(0, 160)}`);
      const during = await deployed(ctx.server);
      r.lost.push(...lost(before, during));
      for (const name of Object.keys(during)) if (!before[name]) r.problems.push(`the refused deploy left function '${name}'`);
    }
    // the functions keep answering on a full disk (their logs are dropped, not their requests)
    const answers = await Promise.all(BENIGN.map((f) => ask(ctx.server, f.name)));
    const failed = answers.map((a, i) => `${BENIGN[i]?.name}: ${a.status}`).filter((_, i) => answers[i]?.status !== 200);
    if (failed.length) r.problems.push(`on the full disk: ${failed.join(', ')}`);
  } finally {
    ctx.statefs.free();
  }
  const again = await ctx.churn.deployNext();
  if (again.status !== 201) r.problems.push(`deploy after the space was freed: ${again.status} ${again.text.slice(0, 200)}`);
  else {
    const t0 = performance.now();
    let seen = '';
    while (performance.now() - t0 < 10_000 && seen !== `churn v${again.n}`) seen = (await ask(ctx.server, 'churn')).text;
    if (seen !== `churn v${again.n}`) r.problems.push(`churn v${again.n} deployed after the space was freed but it answered '${seen.slice(0, 100)}'`);
  }
  r.problems.push(...r.lost);
  return r;
}

function exists(kind: 'bridge-removed' | 'table-removed', places: Places): boolean {
  const { bridge, table } = places.dirs.net;
  if (kind === 'bridge-removed') return fs.existsSync(`/sys/class/net/${bridge}`);
  try {
    execFileSync('nft', ['list', 'table', 'inet', table], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Someone else removes the bridge or the table; serve must put it back and start instances
 * that need it (oom and loop start one per request; slow's need egress, the table). */
async function removal(kind: 'bridge-removed' | 'table-removed', ctx: FaultContext): Promise<FaultReport> {
  const r = report(kind, ctx.load);
  const { bridge, table } = ctx.places.dirs.net;
  ctx.load.fault(kind, { kill: false });
  if (kind === 'bridge-removed') execFileSync('ip', ['link', 'del', bridge]);
  else execFileSync('nft', ['delete', 'table', 'inet', table]);
  const t0 = performance.now();
  while (!exists(kind, ctx.places) && performance.now() - t0 < RECOVERY_GIVE_UP_MS) await new Promise((res) => setTimeout(res, 50));
  if (!exists(kind, ctx.places)) r.problems.push(`the ${kind === 'bridge-removed' ? 'bridge' : 'table'} was not restored within ${RECOVERY_GIVE_UP_MS} ms`);
  else r.recoveryMs = Math.round(performance.now() - t0);
  // fresh instances: a new version of churn starts one, and the hostile ones start one a request
  const d = await ctx.churn.deployNext();
  if (d.status !== 201) r.problems.push(`deploy after the ${kind}: ${d.status} ${d.text.slice(0, 200)}`);
  const ms = await recovered(ctx.server, t0, [...BENIGN.map((f) => f.name), 'churn']);
  if (ms === undefined) r.problems.push(`functions not all answering within ${RECOVERY_GIVE_UP_MS} ms after the ${kind}`);
  return r;
}

export const FAULTS: Record<FaultKind, (ctx: FaultContext) => Promise<FaultReport>> = {
  'runtime-kill': runtimeKill,
  'spawner-kill': spawnerKill,
  'serve-kill': serveKill,
  'disk-full': diskFull,
  'bridge-removed': (ctx) => removal('bridge-removed', ctx),
  'table-removed': (ctx) => removal('table-removed', ctx),
};

export const FAULT_ORDER: readonly FaultKind[] = FAULT_KINDS;

/** When each fault happens, seconds from the start: `order` round after round, one every
 * `interval` (the duration over the count plus one in a run under 10 minutes, which has each
 * fault of `order` once; else the duration over 20, at most 90 s). Serve is killed only in the
 * first half, so the last incarnation carries most of the run (its RSS is what is
 * judged); a run of serve kills alone (--faults serve-kill) has nothing else to put there and
 * kills it all along. */
export function schedule(durationS: number, order: readonly FaultKind[] = FAULT_ORDER): Array<{ atS: number; kind: FaultKind }> {
  const interval = durationS < 600 ? durationS / (order.length + 1) : Math.min(90, durationS / 20);
  const others = order.some((k) => k !== 'serve-kill');
  const out: Array<{ atS: number; kind: FaultKind }> = [];
  let k = 0;
  for (let at = interval; at <= durationS - interval / 2; at += interval) {
    let kind = order[k++ % order.length] as FaultKind;
    if (others) while (kind === 'serve-kill' && at > durationS / 2) kind = order[k++ % order.length] as FaultKind;
    out.push({ atS: at, kind });
  }
  return out;
}
