/**
 * Warm throughput through the router, against plain node: a benchmark, not a test.
 *
 *   npm run build && node dist/bench/router/throughput.js [--requests 100000] [--connections 50] [--rounds 3]
 *
 * Three processes besides the load generator (bench/router/load.c, built here with gcc):
 *   baseline   a raw node:http server on 127.0.0.1 answering BODY with a `(req, res)` handler
 *   instance   the same server on a unix socket: what a warm function's socket looks like
 *   router     startRouter() with an invoker that hands out that socket (warm, no queue)
 * Rounds alternate baseline and router so drift on this shared VM hits both; it prints each
 * round's requests/s and the ratio of the medians (the target is >= 0.5x). Requests/s swing with
 * whatever else runs on the host, and the router's side needs two busy processes where plain node
 * needs one; so it also prints each process's CPU time per request (from /proc), steadier under
 * that noise, and the ratio two free cores would give: plain's CPU over the busier of the two.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { startRouter } from '../../router/index.js';
import type { Control } from '../../router/control.js';
import type { Invoker } from '../../router/invoker.js';

const BODY = 'hello from warren\n';
const HERE = fileURLToPath(import.meta.url);
const LOAD_C = path.join(path.dirname(HERE), '../../../bench/router/load.c');

const handler = (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(BODY);
};

function tell(msg: unknown): void {
  process.send?.(msg);
}

async function role(name: string, arg: string | undefined): Promise<void> {
  // a clean exit on the parent's kill, so `--cpu-prof` gets to write its profile
  process.on('SIGTERM', () => process.exit(0));
  if (name === 'baseline') {
    const server = http.createServer(handler).listen(0, '127.0.0.1', () => tell((server.address() as { port: number }).port));
  } else if (name === 'instance') {
    const server = http.createServer(handler);
    server.keepAliveTimeout = 60_000;
    server.listen(arg, () => tell('ready'));
  } else if (name === 'router') {
    const pool = new Pool('http://localhost', { socketPath: arg as string, connections: 64, pipelining: 1 });
    const invoker: Invoker = {
      acquire: async (fn) => ({
        dispatcher: pool, fn, version: 1, instance: 'bench', timeoutMs: 30_000,
        start: { label: 'warm', ms: 0, phases: [] },
        release: async () => undefined,
      }),
    };
    const local = { host: '127.0.0.1', port: 0 };
    const router = await startRouter({ invoker, control: {} as Control, token: 'bench-token-not-used-000', dataListen: local, controlListen: local });
    tell(new URL(router.dataUrl).port);
  }
}

function spawnRole(name: string, arg?: string): Promise<{ child: ChildProcess; msg: unknown }> {
  const child = fork(HERE, ['--role', name, ...(arg ? [arg] : [])], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('message', (msg) => resolve({ child, msg }));
    child.once('exit', (code) => reject(new Error(`bench ${name} exited with ${code}`)));
  });
}

/** A process's user + system CPU time so far, µs (from /proc: the children are ours). */
function cpuUs(pid: number | undefined): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * (1e6 / 100); // clock ticks; USER_HZ is 100 on Linux
}

/** Requests/s of one run, and the CPU µs per request each of `pids` spent on it. */
function measure(bin: string, port: string, urlPath: string, connections: number, requests: number, pids: Array<number | undefined>): { rps: number; cpu: number[] } {
  const before = pids.map(cpuUs);
  const rps = load(bin, port, urlPath, connections, requests);
  return { rps, cpu: pids.map((pid, i) => (cpuUs(pid) - (before[i] as number)) / requests) };
}

function load(bin: string, port: string, urlPath: string, connections: number, requests: number): number {
  const out = execFileSync(bin, ['127.0.0.1', port, urlPath, String(connections), String(requests)], { encoding: 'utf8', timeout: 120_000 });
  const m = /requests (\d+) non2xx (\d+) seconds ([\d.]+)/.exec(out);
  if (!m || m[2] !== '0') throw new Error(`load generator: ${out.trim()}`);
  return Number(m[1]) / Number(m[3]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const opt = (name: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i === -1 ? dflt : Number(process.argv[i + 1]);
  };
  const requests = opt('requests', 100_000);
  const connections = opt('connections', 50);
  const rounds = opt('rounds', 3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrn-bench-router-'));
  const children: ChildProcess[] = [];
  try {
    const bin = path.join(dir, 'load');
    execFileSync('gcc', ['-O2', '-std=gnu11', '-D_GNU_SOURCE', '-o', bin, LOAD_C]);
    const socket = path.join(dir, 'fn.sock');
    const base = await spawnRole('baseline');
    const inst = await spawnRole('instance', socket);
    const router = await spawnRole('router', socket);
    children.push(base.child, inst.child, router.child);
    const basePort = String(base.msg);
    const routerPort = String(router.msg);
    // warm both up: node compiles its HTTP paths lazily
    load(bin, basePort, '/', connections, Math.min(20_000, requests));
    load(bin, routerPort, '/hello/', connections, Math.min(20_000, requests));
    const b: number[] = [];
    const r: number[] = [];
    const cpu: number[][] = [];
    for (let i = 0; i < rounds; i++) {
      const plain = measure(bin, basePort, '/', connections, requests, [base.child.pid]);
      const routed = measure(bin, routerPort, '/hello/', connections, requests, [router.child.pid, inst.child.pid]);
      b.push(plain.rps);
      r.push(routed.rps);
      cpu.push([...plain.cpu, ...routed.cpu]);
      const [pc, rc, ic] = cpu[i]!.map((x) => x.toFixed(1));
      console.log(`round ${i + 1}: plain node ${Math.round(plain.rps)} req/s, through the router ${Math.round(routed.rps)} req/s (${(routed.rps / plain.rps).toFixed(2)}x); CPU per request: plain ${pc} us, router ${rc} us + instance ${ic} us`);
    }
    const [pc, rc, ic] = [0, 1, 2].map((k) => median(cpu.map((c) => c[k] as number)));
    console.log(`median: plain node ${Math.round(median(b))} req/s, router ${Math.round(median(r))} req/s, ratio ${(median(r) / median(b)).toFixed(2)}x at ${connections} connections, ${requests} requests a run (${os.cpus().length} cpus)`);
    console.log(`median CPU per request: plain ${pc!.toFixed(1)} us, router ${rc!.toFixed(1)} us, instance ${ic!.toFixed(1)} us: on two free cores, ${(pc! / Math.max(rc!, ic!)).toFixed(2)}x`);
  } finally {
    for (const c of children) c.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const at = process.argv.indexOf('--role');
if (at !== -1) void role(process.argv[at + 1] as string, process.argv[at + 2]);
else
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
