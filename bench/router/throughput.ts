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
 * round's requests/s and the ratio of the medians (the target is >= 0.5x).
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
    for (let i = 0; i < rounds; i++) {
      b.push(load(bin, basePort, '/', connections, requests));
      r.push(load(bin, routerPort, '/hello/', connections, requests));
      console.log(`round ${i + 1}: plain node ${Math.round(b[i]!)} req/s, through the router ${Math.round(r[i]!)} req/s (${(r[i]! / b[i]!).toFixed(2)}x)`);
    }
    console.log(`median: plain node ${Math.round(median(b))} req/s, router ${Math.round(median(r))} req/s, ratio ${(median(r) / median(b)).toFixed(2)}x at ${connections} connections, ${requests} requests a run (${os.cpus().length} cpus)`);
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
