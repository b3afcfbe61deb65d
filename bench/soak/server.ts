/**
 * The soak's `warren serve`, started as a user starts one (the CLI, a child process in a process
 * group of its own) and restarted after the soak kills it: one Server across incarnations, each
 * with its pid, start time and the moment it listened. Its RSS is sampled from /proc/<pid>/status.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { WarrenError } from '../../lib/errors.js';
import { packageRoot } from '../../lib/package-root.js';
import type { Places } from './places.js';
import { warrenEnv } from './places.js';

const WARREN = path.join(packageRoot(import.meta.url), 'bin', 'warren.js');
const START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 60_000;
const OUTPUT_KEEP = 20_000;

export interface ApiAnswer {
  status: number;
  body: any;
  text: string;
}

export class Server {
  readonly #places: Places;
  readonly #args: readonly string[];
  #agent = new Agent({ connections: 4 });
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  /** The process itself ended ('exit'): `#exited` also waits for its output pipes to close, which a
   * spawner it left running for live restore may hold for its grace. */
  #died: Promise<void> = Promise.resolve();
  #out = '';
  #token = '';
  /** Each incarnation's pid and start (performance.now()). */
  readonly lives: Array<{ pid: number; startedAt: number; listeningAt?: number }> = [];
  /** Set when an incarnation ended without the soak asking. */
  unexpectedExit: string | undefined;
  /** The current incarnation's: set when the soak ends it (each its own: an old one's pipes may
   * close long after the next one started, when the spawner it left for live restore ends). */
  #ending = { stopping: false };

  readonly #logFile: string | undefined;

  /** `logFile`: where every incarnation's output is appended (kept after the run). */
  constructor(places: Places, args: readonly string[], logFile?: string) {
    this.#places = places;
    this.#args = args;
    this.#logFile = logFile;
  }

  get pid(): number {
    return this.#child?.pid ?? 0;
  }

  get data(): string {
    return `http://127.0.0.1:${this.#places.data}`;
  }

  output(): string {
    return this.#out;
  }

  /** Starts an incarnation; resolves when its control API listens. */
  async start(): Promise<void> {
    const p = this.#places;
    const argv = [WARREN, 'serve', '--listen', `127.0.0.1:${p.data}`, '--control', `127.0.0.1:${p.control}`, '--state-dir', p.dirs.state, '--run-dir', p.dirs.run, ...this.#args];
    const child = spawn(process.execPath, argv, { env: warrenEnv(p.dirs), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.#child = child;
    const ending = { stopping: false };
    this.#ending = ending;
    const life: { pid: number; startedAt: number; listeningAt?: number } = { pid: child.pid as number, startedAt: performance.now() };
    this.lives.push(life);
    let said = '';
    if (this.#logFile) fs.appendFileSync(this.#logFile, `--- ${new Date().toISOString()} warren serve (pid ${child.pid})\n`);
    const keep = (d: Buffer) => {
      said += d.toString();
      if (this.#logFile) fs.appendFileSync(this.#logFile, d);
      this.#out = (this.#out + d.toString()).slice(-OUTPUT_KEEP);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#died = new Promise((resolve) => child.once('exit', () => resolve()));
    this.#exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        if (!ending.stopping) this.unexpectedExit ??= `warren serve (pid ${life.pid}) ended by itself (${code ?? signal}): ${said.trim().split('\n').slice(-5).join(' | ')}`;
        resolve();
      }),
    );
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!said.includes('control API')) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        ending.stopping = true;
        child.kill('SIGKILL');
        throw new WarrenError('WARREN_SOAK_SERVE', `warren serve did not start: ${said.trim().split('\n').slice(-8).join(' | ') || 'no output'}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    life.listeningAt = performance.now();
    this.#token = fs.readFileSync(path.join(p.dirs.state, 'token'), 'utf8').trim();
  }

  /** SIGKILL, as a crash or the OOM killer would; resolves once it is gone. */
  async kill(): Promise<void> {
    this.#ending.stopping = true;
    this.#child?.kill('SIGKILL');
    await this.#died;
    // its kept-alive connections died with it: the next incarnation gets new ones
    const old = this.#agent;
    this.#agent = new Agent({ connections: 4 });
    await old.destroy().catch(() => {});
  }

  /** SIGTERM (drain), SIGKILL after a grace; its exit code. Idempotent. */
  async stop(): Promise<number | null> {
    const child = this.#child;
    this.#ending.stopping = true;
    if (!child) return null;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.#exited;
      clearTimeout(timer);
    }
    await this.#agent.close().catch(() => {});
    return child.exitCode;
  }

  async api(method: string, p: string, body?: unknown): Promise<ApiAnswer> {
    const res = await request(`http://127.0.0.1:${this.#places.control}${p}`, {
      method: method as 'GET',
      dispatcher: this.#agent,
      headers: { authorization: `Bearer ${this.#token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
      // a connection each: one kept alive may be closed by serve while the soak's event loop is
      // busy (filling the disk) and the next call sent on it ("other side closed")
      reset: true,
    });
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.statusCode, body: parsed, text };
  }

  /** Resident memory of the current incarnation, bytes (undefined when it is not running). */
  rss(): number | undefined {
    try {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : undefined;
    } catch {
      return undefined;
    }
  }
}
