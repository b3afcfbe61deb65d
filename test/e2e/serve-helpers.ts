/**
 * A real `warren serve` for the e2e tests: its own state dir, run dir, cgroup parent, bridge,
 * table, subnet and ports (127.0.0.1 only), started as the CLI, talked to over HTTP as a user would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import type { Dirs } from '../../lib/dirs.js';
import { testDirs, testEnv, WARREN } from '../integration/helpers.js';

export interface Server {
  readonly data: string;
  readonly control: string;
  readonly token: string;
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM, and its exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

/** A test server's dirs: testDirs(name) with a state dir of its own, made fresh (a registry left
 * by an earlier run would hold its functions), and removed by the returned cleanup. */
export function serveDirs(name: string): Dirs {
  const base = testDirs(name);
  const dirs = { ...base, state: `${base.state}-${name}` };
  fs.rmSync(dirs.state, { recursive: true, force: true });
  return dirs;
}

/** Ports for this file: distinct per WRNTEST_SLOT so that parallel worktrees do not collide. */
export function ports(base: number): { data: number; control: number } {
  const slot = Number(process.env.WRNTEST_SLOT ?? 0);
  return { data: base + slot * 10, control: base + slot * 10 + 1 };
}

export async function startServe(dirs: Dirs, port: { data: number; control: number }, extra: readonly string[] = []): Promise<Server> {
  const args = [WARREN, 'serve', '--listen', `127.0.0.1:${port.data}`, '--control', `127.0.0.1:${port.control}`, '--state-dir', dirs.state, '--run-dir', dirs.run, ...extra];
  const child = spawn(process.execPath, args, { env: testEnv(dirs), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d));
  child.stderr?.on('data', (d: Buffer) => (out += d));
  let stopping = false;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      // a server that ends by itself is a bug: show what it said
      if (!stopping) process.stderr.write(`warren serve ended by itself (${code ?? signal}):\n${out}\n`);
      resolve(code);
    }),
  );
  const deadline = Date.now() + 60_000;
  while (!out.includes('control API')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`warren serve did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const token = fs.readFileSync(path.join(dirs.state, 'token'), 'utf8').trim();
  return {
    data: `http://127.0.0.1:${port.data}`,
    control: `http://127.0.0.1:${port.control}`,
    token,
    child,
    output: () => out,
    async stop() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      stopping = true;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = any>(): T;
}

async function answer(res: Awaited<ReturnType<typeof request>>): Promise<Answer> {
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** A control API call with the server's token. */
export async function api(s: Server, method: string, p: string, body?: unknown, token: string | null = s.token): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    headers['content-type'] = typeof body === 'string' ? 'text/plain' : 'application/json';
  }
  return answer(await request(`${s.control}${p}`, { method: method as 'GET', headers, body: payload, headersTimeout: 120_000, bodyTimeout: 120_000 }));
}

/** A data-plane request. */
export async function invoke(s: Server, p: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  return answer(await request(`${s.data}${p}`, { method: (opts.method ?? 'GET') as 'GET', headers: opts.headers, body: opts.body, headersTimeout: 120_000, bodyTimeout: 120_000 }));
}

export async function deploy(s: Server, name: string, module: string, extra: Record<string, unknown> = {}): Promise<Answer> {
  return api(s, 'PUT', `/v1/functions/${name}`, { module, ...extra });
}

export async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Processes in a cgroup under `parent` (the sandboxes of one server), and `pids` still alive. */
export function processesOf(parent: string, pids: readonly number[] = []): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cgroup = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cgroup.includes(`/${parent}/`) || pids.includes(Number(pid))) out.push(`${pid} ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The server's spawner (a child of its process). */
export function spawnerOf(serverPid: number): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      return /^Name:\s+warren:\[spawner/m.test(status) && new RegExp(`^PPid:\\s+${serverPid}$`, 'm').test(status);
    } catch {
      return false;
    }
  });
}

/** Sandbox cgroups left under the test's parent (v1 memory hierarchy, or v2). */
export function sandboxCgroups(parent: string): string[] {
  const dirs = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/pids', '/sys/fs/cgroup'].map((r) => path.join(r, parent));
  return dirs.flatMap((d) => {
    try {
      return fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(d, e.name));
    } catch {
      return [];
    }
  });
}
