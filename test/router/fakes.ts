/**
 * Fakes for the router's tests: an Invoker whose instances are plain node http servers on unix
 * sockets (reached through an undici Pool with socketPath, as the real invoker's are), and a
 * Control that records its calls. No root, no sandboxes.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { WarrenError } from '../../lib/errors.js';
import type { Control, DeploySpec, FunctionInfo, LogLine, SandboxInfo, VersionInfo } from '../../router/control.js';
import type { Invocation, Invoker, Outcome, Start } from '../../router/invoker.js';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface FakeFunction {
  socketPath: string;
  server: http.Server;
  pool: Pool;
  close(): Promise<void>;
}

let seq = 0;

/** A plain node http server on a unix socket, the way a runtime's function socket looks. */
export async function fakeFunction(handler: Handler, connections = 64): Promise<FakeFunction> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrn-router-'));
  const socketPath = path.join(dir, `fn${++seq}.sock`);
  const server = http.createServer(handler);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const pool = new Pool('http://localhost', { socketPath, connections, pipelining: 1 });
  return {
    socketPath,
    server,
    pool,
    async close() {
      await pool.destroy().catch(() => {});
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface FakeFnOptions {
  timeoutMs?: number;
  start?: Start;
  /** What release('broken') resolves with. */
  brokenReason?: string;
}

export interface Release {
  fn: string;
  outcome: Outcome;
}

export class FakeInvoker implements Invoker {
  readonly fns = new Map<string, { fn: FakeFunction; opts: FakeFnOptions }>();
  readonly releases: Release[] = [];
  acquired = 0;
  /** When set, acquire() fails with what it returns (a full queue, a start failure). */
  refuse: ((fn: string) => Error | undefined) | undefined;
  /** When set, acquire() waits for it (a queue, a slow cold start). */
  hold: Promise<void> | undefined;
  private waiters: Array<() => void> = [];

  add(name: string, fn: FakeFunction, opts: FakeFnOptions = {}): void {
    this.fns.set(name, { fn, opts });
  }

  async acquire(name: string, signal: AbortSignal): Promise<Invocation> {
    const refusal = this.refuse?.(name);
    if (refusal) throw refusal;
    const entry = this.fns.get(name);
    if (!entry) throw new WarrenError('WARREN_FN_NOT_FOUND', `no function '${name}'`);
    if (this.hold) {
      await Promise.race([this.hold, new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))]);
    }
    this.acquired++;
    let released = false;
    return {
      dispatcher: entry.fn.pool,
      fn: name,
      version: 1,
      instance: `fake-${name}`,
      start: entry.opts.start ?? { label: 'warm', ms: 0.01, phases: [] },
      timeoutMs: entry.opts.timeoutMs ?? 30_000,
      release: async (outcome) => {
        if (released) throw new Error(`invocation of '${name}' released twice`);
        released = true;
        this.releases.push({ fn: name, outcome });
        for (const w of this.waiters.splice(0)) w();
        return outcome === 'broken' ? entry.opts.brokenReason : undefined;
      },
    };
  }

  /** Resolves once `n` invocations in all have been released (or after `ms`). */
  async released(n: number, ms = 3000): Promise<Release[]> {
    const until = Date.now() + ms;
    while (this.releases.length < n && Date.now() < until) {
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.releases;
  }
}

export class QueueFull extends WarrenError {
  constructor(
    name: string,
    readonly retryAfterS: number,
  ) {
    super('WARREN_FN_QUEUE_FULL', `function '${name}' has too many requests waiting`);
  }
}

const LIMITS = { memoryBytes: 128 * 1024 * 1024, cpus: 0.5, timeoutMs: 30_000, concurrency: 16 };

export function versionInfo(version: number, spec?: DeploySpec): VersionInfo {
  return {
    version,
    digest: 'sha256:00',
    sizeBytes: spec?.module.length ?? 0,
    createdAt: '2026-11-28T00:00:00.000Z',
    limits: { ...LIMITS, ...spec?.limits },
    egress: spec?.egress ?? 'public',
    vars: spec?.vars ?? {},
    crons: spec?.crons ?? [],
  };
}

interface FakeFn {
  versions: VersionInfo[];
  live: number;
  secrets: Map<string, string>;
}

/** A Control that keeps functions in a map and records each call as [method, ...args]. */
export class FakeControl implements Control {
  readonly calls: unknown[][] = [];
  readonly fns = new Map<string, FakeFn>();
  /** Lines logs() gives first; with follow, `push` adds more. */
  readonly lines: LogLine[] = [];
  private followers = new Set<(line: LogLine) => void>();
  followersOpen = 0;
  deployError: Error | undefined;

  async deploy(name: string, spec: DeploySpec): Promise<VersionInfo> {
    this.calls.push(['deploy', name, spec]);
    if (this.deployError) throw this.deployError;
    const f: FakeFn = this.fns.get(name) ?? { versions: [], live: 0, secrets: new Map() };
    const v = versionInfo(f.versions.length + 1, spec);
    f.versions.push(v);
    f.live = v.version;
    this.fns.set(name, f);
    return v;
  }

  async list(): Promise<FunctionInfo[]> {
    this.calls.push(['list']);
    return [...this.fns.keys()].map((n) => this.info(n));
  }

  async get(name: string): Promise<FunctionInfo> {
    this.calls.push(['get', name]);
    return this.info(name);
  }

  async remove(name: string): Promise<void> {
    this.calls.push(['remove', name]);
    this.info(name);
    this.fns.delete(name);
  }

  async versions(name: string): Promise<VersionInfo[]> {
    this.calls.push(['versions', name]);
    this.info(name);
    return this.fns.get(name)!.versions;
  }

  async rollback(name: string, version?: number): Promise<VersionInfo> {
    this.calls.push(['rollback', name, version]);
    this.info(name);
    const f = this.fns.get(name)!;
    const to = version ?? f.live - 1;
    const v = f.versions[to - 1];
    if (!v) throw new WarrenError('WARREN_DEPLOY_INVALID', `function '${name}' has no version ${to}`);
    f.live = to;
    return v;
  }

  async putSecret(name: string, key: string, value: string): Promise<void> {
    this.calls.push(['putSecret', name, key, value]);
    this.info(name);
    this.fns.get(name)!.secrets.set(key, value);
  }

  async deleteSecret(name: string, key: string): Promise<void> {
    this.calls.push(['deleteSecret', name, key]);
    this.info(name);
    this.fns.get(name)!.secrets.delete(key);
  }

  async secretNames(name: string): Promise<string[]> {
    this.calls.push(['secretNames', name]);
    this.info(name);
    return [...this.fns.get(name)!.secrets.keys()];
  }

  async *logs(name: string, opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine> {
    this.calls.push(['logs', name, opts.follow]);
    for (const line of this.lines) yield line;
    if (!opts.follow) return;
    const queue: LogLine[] = [];
    let wake: (() => void) | undefined;
    const follower = (line: LogLine) => {
      queue.push(line);
      wake?.();
    };
    const onAbort = () => wake?.();
    this.followers.add(follower);
    this.followersOpen++;
    opts.signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!opts.signal.aborted) {
        const line = queue.shift();
        if (line) yield line;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      this.followers.delete(follower);
      this.followersOpen--;
      opts.signal.removeEventListener('abort', onAbort);
    }
  }

  push(line: LogLine): void {
    for (const f of this.followers) f(line);
  }

  sandboxes(): SandboxInfo[] {
    this.calls.push(['sandboxes']);
    return [{ id: 'sb1', fn: null, version: null, state: 'warm', ageMs: 10, memoryBytes: 1 << 20, busy: 0 }];
  }

  async metrics(): Promise<{ contentType: string; text: string }> {
    this.calls.push(['metrics']);
    return { contentType: 'text/plain; version=0.0.4; charset=utf-8', text: 'warren_invocations_total 0\n' };
  }

  private info(name: string): FunctionInfo {
    const f = this.fns.get(name);
    if (!f) throw new WarrenError('WARREN_FN_NOT_FOUND', `no function '${name}'`);
    return { name, live: f.versions[f.live - 1]!, createdAt: '2026-11-28T00:00:00.000Z', secrets: [...f.secrets.keys()] };
  }
}
