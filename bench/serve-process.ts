/**
 * A `warren serve` of the bench's own, started as a user starts one (the CLI, as a child process)
 * and driven over HTTP as a user drives it: the cold and warm scenarios measure what a client of
 * the data plane sees. Everything it gets is private and named after the bench's pid, so a run
 * killed with SIGKILL is swept by the next one (sweepServes):
 *
 *   state dir   <bench workDir>/serve-<tag>           (registry, token, its node image)
 *   run dir     <run>/bench-serve-<tag>-<pid>
 *   cgroups     <parent>-bench-<tag>-<pid>            (bench.ts sweepStale knows the pattern)
 *   bridge      wb<pid><t>, nft table wb<pid><t>      (t: the tag's first letter)
 *   subnet      a /20 of 10.90.0.0/15 that no route of the host overlaps
 *   ports       127.0.0.1, free ones, data and control
 *
 * close(): SIGTERM, waited for (SIGKILL after a grace), then its bridge, table, cgroups and run
 * dir are removed. Idempotent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import type { Dirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { packageRoot } from '../lib/package-root.js';
import { formatCidr, overlaps, parseCidr, parseRoutes, readRoutes, SandboxNetwork } from '../sandbox/network/index.js';
import { sweepCgroups } from './baselines/crun.js';

const WARREN = path.join(packageRoot(import.meta.url), 'bin', 'warren.js');
/** A fresh state dir builds its node image first: seconds, not minutes. */
const START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 60_000;
const OUTPUT_KEEP = 8000;

export interface ServeOptions {
  /** Lower-case letters: names the row's dirs and cgroups (`prewarm`, `cold`, `warm`). */
  tag: string;
  dirs: Dirs;
  workDir: string;
  /** `warren serve` options besides the addresses and dirs (--pool, --keep-alive...). */
  args: readonly string[];
  /** The subnet this server must not take (one another server of the same bench took). */
  avoid?: readonly string[];
  cgroupRoot?: string;
}

export interface ServeProcess {
  readonly pid: number;
  readonly data: { host: string; port: number };
  readonly subnet: string;
  /** Its sandboxes' cgroup parent (for their CPU use). */
  readonly cgroupParent: string;
  /** A control API call; the answer's status and parsed JSON body (undefined when empty). */
  api(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Its sandboxes (GET /v1/sandboxes): generic warm runtimes have no fn. */
  sandboxes(): Promise<Array<{ fn: string | null; state: string }>>;
  output(): string;
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The first /20 of 10.90.0.0/15 that overlaps no route of the host nor anything in `avoid`. */
export function freeSubnet(routesText: string, avoid: readonly string[]): string {
  const taken = [...parseRoutes(routesText).map((r) => r.dst), ...avoid.map((a) => parseCidr(a))];
  for (let i = 0; i < 32; i++) {
    const candidate = parseCidr(`10.${90 + (i >> 4)}.${(i & 15) * 16}.0/20`);
    if (!taken.some((t) => overlaps(candidate, t))) return formatCidr(candidate);
  }
  throw new WarrenError('WARREN_BENCH_SERVE', 'no free /20 in 10.90.0.0/15 for the bench\'s server: every one overlaps a route');
}

function names(tag: string, pid = process.pid): { bridge: string; cgroupParent: (parent: string) => string; run: (run: string) => string } {
  return {
    bridge: `wb${pid}${tag[0]}`,
    cgroupParent: (parent) => `${parent}-bench-${tag}-${pid}`,
    run: (run) => path.join(run, `bench-serve-${tag}-${pid}`),
  };
}

/** The server's bridge and table, and any iptables rules it added for them (what is absent is fine). */
async function removeNetwork(bridge: string): Promise<void> {
  await SandboxNetwork.remove({ bridge, table: bridge });
}

export async function startServe(o: ServeOptions): Promise<ServeProcess> {
  if (!/^[a-z]+$/.test(o.tag)) throw new WarrenError('WARREN_BENCH_SERVE', `serve tag '${o.tag}' must be lower-case letters`);
  const n = names(o.tag);
  const state = path.join(o.workDir, `serve-${o.tag}`);
  const run = n.run(o.dirs.run);
  const cgroupParent = n.cgroupParent(o.dirs.cgroupParent);
  const subnet = freeSubnet(await readRoutes(), [o.dirs.net.subnet, ...(o.avoid ?? [])]);
  const [dataPort, controlPort] = [await freePort(), await freePort()];
  fs.mkdirSync(state, { recursive: true, mode: 0o700 });
  const env = {
    ...process.env,
    WARREN_STATE_DIR: state,
    WARREN_RUN_DIR: run,
    WARREN_CGROUP_PARENT: cgroupParent,
    WARREN_BRIDGE: n.bridge,
    WARREN_NFT_TABLE: n.bridge,
    WARREN_SUBNET: subnet,
    // the bench's own resolver config, when it names one (the tests' is empty: no real DNS)
    ...(o.dirs.net.resolvConf ? { WARREN_RESOLV_CONF: o.dirs.net.resolvConf } : {}),
  };
  const argv = [WARREN, 'serve', '--listen', `127.0.0.1:${dataPort}`, '--control', `127.0.0.1:${controlPort}`, '--state-dir', state, '--run-dir', run, '--no-demo', ...o.args];
  // its own process group: a Ctrl-C on the terminal reaches the bench, which then stops it in order
  const child: ChildProcess = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-OUTPUT_KEEP);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      await removeNetwork(n.bridge);
      sweepCgroups(o.cgroupRoot ?? '/sys/fs/cgroup', cgroupParent);
      fs.rmSync(run, { recursive: true, force: true });
      fs.rmSync(state, { recursive: true, force: true });
    })());
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!out.includes('control API')) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        throw new WarrenError('WARREN_BENCH_SERVE', `warren serve (${o.tag}) did not start: ${out.trim().split('\n').slice(-5).join(' | ') || 'no output'}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await close();
    throw err;
  }
  const token = fs.readFileSync(path.join(state, 'token'), 'utf8').trim();
  const control = `http://127.0.0.1:${controlPort}`;
  const self: ServeProcess = {
    pid: child.pid as number,
    data: { host: '127.0.0.1', port: dataPort },
    subnet,
    cgroupParent,
    async api(method, p, body) {
      const res = await request(`${control}${p}`, {
        method: method as 'GET',
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: 120_000,
        bodyTimeout: 120_000,
      });
      const text = await res.body.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = text;
      }
      return { status: res.statusCode, body: parsed };
    },
    async sandboxes() {
      const r = await self.api('GET', '/v1/sandboxes');
      if (r.status !== 200 || !Array.isArray(r.body?.sandboxes)) throw new WarrenError('WARREN_BENCH_SERVE', `GET /v1/sandboxes answered ${r.status}`);
      return r.body.sandboxes as Array<{ fn: string | null; state: string }>;
    },
    output: () => out,
    close,
  };
  return self;
}

/** Polls `ok` until it holds; a WarrenError once `timeoutMs` passed or `signal` aborted. */
export async function until(what: string, ok: () => Promise<boolean>, signal: AbortSignal, timeoutMs = 60_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await ok())) {
    if (signal.aborted) throw new WarrenError('WARREN_BENCH_SERVE', `stopped waiting for ${what}`);
    if (performance.now() > end) throw new WarrenError('WARREN_BENCH_SERVE', `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Whether `pid` runs (names of what a bench leaves carry its pid: the dead one's are swept). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the bridges and tables that benches since dead left (run dirs and cgroups are swept
 * by bench.ts sweepStale). */
export async function sweepServes(linksDir = '/sys/class/net'): Promise<void> {
  let links: string[] = [];
  try {
    links = fs.readdirSync(linksDir);
  } catch {
    return;
  }
  for (const link of links) {
    const m = /^wb(\d+)[a-z]$/.exec(link);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) await removeNetwork(link);
  }
}
