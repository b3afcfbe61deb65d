/**
 * The `cold` scenario: the latency of a function's first request through warren's router, from
 * the request sent to the whole answer received, for a function that has no instance. Rows:
 *
 *   warren prewarm  `warren serve --pool 2`: the first request specializes a generic warm runtime
 *                   (x-warren-start: prewarm). Target: p50 <= 5 ms, p99 <= 15 ms
 *   warren cold     `warren serve --pool 0 --pool-max 0`: no generic runtime, so the first
 *                   request spawns a sandbox and boots node in it (x-warren-start: cold)
 *   node            baseline: a fresh plain node process answering the same bytes from a raw
 *                   `(req, res)` handler on a unix socket, from its exec to its first answer,
 *                   started by the C driver (no fork of Node in its figure), as spawn --level
 *                   runtime starts its node row
 *   workerd         baseline, when installed (npm package workerd): a fresh workerd process
 *                   serving the same module on a unix socket, from its exec to its first answer,
 *                   started by the same C driver
 *
 * A warren cycle: deploy a function under a new name (untimed); wait until the instance the
 * deploy proved the module in is gone and the generic pool is full again (untimed); send the
 * first request (timed by a C client, bench/native/ask.c, from its connect to the answer's last
 * byte, as the driver times the baselines); remove the function. Why the instance goes: a
 * deploy keeps its proving instance idle, so the very first request after a deploy would be warm. The bench's servers run
 * with --keep-alive 1ms, so that instance is closed at once, exactly as a function idle for longer
 * than its keep-alive is scaled to zero; the request after that is the first request a user
 * measures after a quiet spell. No change to the pool was needed for it. A first request whose
 * x-warren-start is not the row's kind (say warm) is counted as a failure, never as a sample.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WarrenError } from '../lib/errors.js';
import { DEFAULT_PATH } from '../sandbox/index.js';
import { Asker } from './asker.js';
import { baselineCgroup } from './baselines/cgroup.js';
import { runDriver } from './baselines/driver.js';
import { errorText, runCycles } from './cycles.js';
import { ensureBenchNative, type BenchNative } from './native.js';
import type { Batch, Scenario, ScenarioContext, Subject } from './scenario.js';
import { parseServerTiming } from './server-timing.js';
import { startServe, sweepServes, until, type ServeProcess } from './serve-process.js';
import { findWorkerd, workerdCommand, workerdMissingNote, workerdVersion, writeWorkerdProject } from './workerd.js';

/** The function every row serves: a constant answer, so the rows differ only in how they start. */
export const BODY = 'hello from the bench\n';
export const MODULE = `export default { fetch() { return new Response(${JSON.stringify(BODY)}, { headers: { 'content-type': 'text/plain' } }); } };\n`;
/** The same answer from plain node: a raw handler, listening under a temporary name and renamed,
 * so the socket's name appears only once it accepts (what the driver waits for). */
export const PLAIN_NODE = `import http from 'node:http';
import fs from 'node:fs';
const [file] = process.argv.slice(2);
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(${JSON.stringify(BODY)});
});
const listen = (at) => server.listen(at, () => { if (typeof at === 'string') fs.renameSync(at, file); else console.log('listening ' + server.address().port); });
listen(file === undefined || /^\\d+$/.test(file) ? Number(file ?? 0) : file + '.tmp');
`;

const POOL = 2;
/** A cycle's untimed parts (deploy, settling) give up after this. */
const SETTLE_TIMEOUT_MS = 60_000;
/** After the pool settled: the proving instance's sandbox is being torn down meanwhile, which
 * takes the CPU for a few ms; the measured request should not share it. */
const QUIET_MS = 50;
const ANSWER_TIMEOUT_MS = 30_000;

interface WarrenColdRow {
  name: string;
  tag: string;
  args: string[];
  expect: 'prewarm' | 'cold';
  generics: number;
  description: string;
}

const ROWS: Record<'warm' | 'empty', WarrenColdRow> = {
  warm: {
    name: 'warren prewarm',
    tag: 'prewarm',
    args: ['--pool', String(POOL), '--pool-max', String(POOL), '--keep-alive', '1ms'],
    expect: 'prewarm',
    generics: POOL,
    description: `warren serve --pool ${POOL}: first request through the router specializes a generic warm runtime (prewarm)`,
  },
  empty: {
    name: 'warren cold',
    tag: 'cold',
    args: ['--pool', '0', '--pool-max', '0', '--keep-alive', '1ms'],
    expect: 'cold',
    generics: 0,
    description: 'warren serve --pool 0: first request through the router spawns a sandbox and boots node in it (cold)',
  },
};

async function warrenColdSubject(ctx: ScenarioContext, native: BenchNative, row: WarrenColdRow, avoid: string[]): Promise<Subject> {
  const server: ServeProcess = await startServe({ tag: row.tag, dirs: ctx.dirs, workDir: ctx.workDir, args: row.args, avoid });
  avoid.push(server.subnet);
  // timed by a C client, as the baselines are (asker.ts)
  const asker = new Asker(native.ask, server.data);
  const egress = ctx.options.egress ?? 'none';
  let n = 0;

  async function settled(fn: string): Promise<boolean> {
    const list = await server.sandboxes();
    return !list.some((s) => s.fn === fn) && list.filter((s) => s.fn === null).length >= row.generics;
  }

  async function cycle(out: Batch, signal: AbortSignal): Promise<void> {
    const fn = `bench-${process.pid}-${row.tag}-${n++}`;
    let deployed = false;
    try {
      const d = await server.api('PUT', `/v1/functions/${fn}`, { module: MODULE, egress });
      if (d.status !== 201) throw new WarrenError('WARREN_BENCH_SERVE', `deploy answered ${d.status}: ${JSON.stringify(d.body)}`);
      deployed = true;
      await until(`function '${fn}' to have no instance and the pool to be full`, () => settled(fn), signal, SETTLE_TIMEOUT_MS);
      await new Promise((r) => setTimeout(r, QUIET_MS));
      const answer = await asker.ask(`/${fn}/`, AbortSignal.any([signal, AbortSignal.timeout(ANSWER_TIMEOUT_MS)]));
      const ms = answer.ms;
      const label = answer.headers['x-warren-start'];
      if (answer.status !== 200) out.failures.push(`the first request answered ${answer.status}`);
      else if (label !== row.expect) out.failures.push(`the first request was a ${label ?? 'unlabelled'} start, not ${row.expect}`);
      else {
        out.latenciesMs.push(ms);
        const phases = parseServerTiming(answer.headers['server-timing']);
        for (const [phase, dur] of phases) (out.extra![`${phase}_ms`] ??= []).push(dur);
        // what the start's phases do not cover: the connection, the router, the proxied exchange
        // and the instance's first answer
        const start = phases.find(([phase]) => phase === 'start');
        if (start) (out.extra!.outside_start_ms ??= []).push(ms - start[1]);
      }
    } catch (err) {
      out.failures.push(errorText(err));
    } finally {
      if (deployed) await server.api('DELETE', `/v1/functions/${fn}`).catch(() => {});
    }
  }

  return {
    name: row.name,
    baseline: false,
    description: egress === 'none' ? row.description : `${row.description}; the function deployed with egress ${egress}`,
    batch: (count, _concurrency, tick, signal) => runCycles(count, 1, tick, signal, (out) => cycle(out, signal), {}),
    close: async () => {
      await asker.close();
      await server.close();
    },
  };
}

/** A baseline whose cycle is a fresh process, started by the C driver, to its first answer on a
 * unix socket; `command` gets the cycle's socket path (with the driver's "{n}" in it). */
interface FreshProcess {
  name: string;
  description: string;
  /** Writes what the process needs into `dir`; returns its command for a socket path. */
  prepare(dir: string): (socket: string) => string[];
}

async function freshProcessSubject(ctx: ScenarioContext, native: BenchNative, p: FreshProcess): Promise<Subject> {
  const dir = path.join(ctx.workDir, `${p.name}-cold`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const command = p.prepare(dir);
  const cgroup = await baselineCgroup(ctx.dirs.cgroupParent, p.name);
  // the environment a sandbox gets, not the host's (spawn-runtime.ts says why)
  const env = { PATH: DEFAULT_PATH, HOME: '/root', HOSTNAME: 'bench' };
  let batches = 0;
  return {
    name: p.name,
    baseline: true,
    description: p.description,
    batch(count, _concurrency, tick, signal) {
      const socket = path.join(dir, `b${batches++}-{n}.sock`);
      return runDriver({ driver: native.driver, wrapper: cgroup.wrapper, command: command(socket), env, answer: { socket, path: '/' }, count, concurrency: 1, tick, signal, timeoutMs: ANSWER_TIMEOUT_MS });
    },
    async close() {
      fs.rmSync(dir, { recursive: true, force: true });
      await cgroup.close();
    },
  };
}

const plainNode: FreshProcess = {
  name: 'node',
  description: `a fresh plain node (${process.version}) process with a raw (req, res) handler answering the same bytes on a unix socket, exec to first answer`,
  prepare(dir) {
    const script = path.join(dir, 'server.mjs');
    fs.writeFileSync(script, PLAIN_NODE);
    return (socket) => [process.execPath, script, socket];
  },
};

function freshWorkerd(bin: string): FreshProcess {
  return {
    name: 'workerd',
    description: `a fresh ${workerdVersion(bin)} process serving the same module on a unix socket, exec to first answer`,
    prepare(dir) {
      const config = writeWorkerdProject(dir, MODULE);
      return (socket) => workerdCommand(bin, config, `unix:${socket}`);
    },
  };
}

async function setup(ctx: ScenarioContext): Promise<Subject[]> {
  const native = ensureBenchNative();
  await sweepServes();
  const subjects: Subject[] = [];
  const avoid: string[] = [];
  try {
    const which = ctx.options.pool ? [ctx.options.pool] : (['warm', 'empty'] as const);
    for (const k of which) subjects.push(await warrenColdSubject(ctx, native, ROWS[k], avoid));
    subjects.push(await freshProcessSubject(ctx, native, plainNode));
    const workerd = findWorkerd();
    if (workerd) subjects.push(await freshProcessSubject(ctx, native, freshWorkerd(workerd)));
    else ctx.notes.push(workerdMissingNote());
    return subjects;
  } catch (err) {
    await Promise.allSettled(subjects.map((s) => s.close()));
    throw err;
  }
}

function refuse(what: string): never {
  throw new WarrenError('WARREN_ARG_INVALID', `cold: ${what}`);
}

export const coldScenario: Scenario = {
  name: 'cold',
  summary: 'the first request of a function with no instance, through the router: prewarm (generic pool warm) and cold (pool empty)',
  latency: () => 'first request sent to its whole answer received (its last byte, by a C client)',
  rate: 'deploy + first request + remove cycles',
  check(options) {
    if (options.concurrency !== 1) refuse('first requests are measured one at a time (no --concurrency)');
    if (options.level !== 'bare' || options.net !== 'none') refuse('--level and --net are spawn options');
    if (options.connections) refuse('--connections is a warm option');
  },
  setup,
  targets(results) {
    const ran = (name: string) => results.find((r) => r.name === name && r.count > 0);
    const ratio = (a: number, b: number, digits: number) => Math.round((a / b) * 10 ** digits) / 10 ** digits;
    const out: string[] = [];
    const prewarm = ran(ROWS.warm.name);
    if (prewarm) {
      const met = prewarm.p50_ms <= 5 && prewarm.p99_ms <= 15;
      out.push(`target (prewarm p50 <= 5 ms, p99 <= 15 ms): ${met ? 'met' : 'not met'}, p50 ${prewarm.p50_ms} ms, p99 ${prewarm.p99_ms} ms`);
      for (const base of ['node', 'workerd']) {
        const other = ran(base);
        if (!other) continue;
        const x = ratio(other.p50_ms, prewarm.p50_ms, 1);
        out.push(`target (prewarm p50 >= 8x faster than a fresh ${base}): ${x >= 8 ? 'met' : 'not met'}, ${x}x`);
      }
    }
    const cold = ran(ROWS.empty.name);
    const node = ran('node');
    if (cold && node) {
      const x = ratio(cold.p50_ms, node.p50_ms, 2);
      out.push(`target (cold p50 within 1.3x of a fresh node): ${x <= 1.3 ? 'met' : 'not met'}, ${x}x`);
    }
    return out;
  },
};
