/**
 * A sandbox: one command in its own namespaces, cgroup, overlay root and seccomp filter, started
 * by the spawner. Its states are a closed union; its resources (uid range lease, cgroup, run dir)
 * are released when init ends, whoever ended it, so a finished sandbox holds nothing.
 */
import fs from 'node:fs';
import type { Cgroup, CgroupStats } from './cgroups/index.js';
import type { Lease } from '../lib/leases.js';
import { forgetLayers } from './layer-use.js';
import type { Readable, Writable } from 'node:stream';
import type { ExitInfo, Spawner, Spawning } from './spawner.js';
import type { SandboxStdio } from './stdio.js';

export type SandboxState = 'starting' | 'running' | 'exited';

export interface SandboxExit {
  /** As a shell reports it: the command's status, or 128+N when signal N killed it. */
  readonly code: number;
  readonly signal: number | null;
  /** The kernel's OOM killer acted in the sandbox's cgroup. */
  readonly oomKilled: boolean;
  readonly stats: CgroupStats | null;
}

export interface SandboxParts {
  id: string;
  spawner: Spawner;
  spawning: Spawning;
  /** The host's ends of its stdio pipes, and their relays. */
  stdio: SandboxStdio;
  cgroup: Cgroup;
  lease: Lease;
  /** Its network namespace (pooled) and, on the bridge, its address and nftables elements. */
  net: { ip: string | undefined; release(reused: boolean): Promise<void> };
  rundir: string;
  ioDir: string | undefined;
  /** Its record of the layers it mounted (layer-use.ts), removed once nothing of it runs. */
  layerRecord: string;
  uidBase: number;
  memoryBytes: number;
}

const SIGKILL = 9;
const SIGTERM = 15;

export class Sandbox {
  readonly id: string;
  readonly memoryBytes: number;
  /** The host uid its root maps to (its files in a kept upper are owned by uidBase + n). */
  readonly uidBase: number;
  /** Its address on the bridge, when it has a veth. */
  readonly ip: string | undefined;
  /** The host path of its io dir, when it asked for one. */
  readonly ioDir: string | undefined;
  /** Host pid of the sandbox's init, once running. */
  pid = -1;
  /** From the spawn request to the command exec'd, microseconds. */
  setupUs = 0;
  #state: SandboxState = 'starting';
  #parts: SandboxParts;
  readonly exited: Promise<SandboxExit>;

  constructor(parts: SandboxParts) {
    this.id = parts.id;
    this.memoryBytes = parts.memoryBytes;
    this.ip = parts.net.ip;
    this.ioDir = parts.ioDir;
    this.uidBase = parts.uidBase;
    this.#parts = parts;
    this.exited = parts.spawning.exited.then((info) => this.#release(info));
    // an unobserved spawn failure is reported through ready(); never an unhandled rejection
    parts.spawning.ready.catch(() => {});
  }

  /** Its stdin, for stdio[0] 'pipe': end() it and the sandbox reads EOF. */
  get stdin(): Writable | null {
    return this.#parts.stdio.stdin;
  }

  /** Its stdout and stderr, for 'pipe': EOF once every process of it that held them is gone.
   * Unread, they hold at most ~80 KiB on the host, then the sandbox blocks in write (stdio.ts).
   * They are the caller's: read each to its end or destroy it, or its fd stays open. */
  get stdout(): Readable | null {
    return this.#parts.stdio.stdout;
  }

  get stderr(): Readable | null {
    return this.#parts.stdio.stderr;
  }

  get state(): SandboxState {
    return this.#state;
  }

  /** Resolves when the command was exec'd; rejects with the SpawnError of the failed stage. */
  async ready(): Promise<this> {
    const started = await this.#parts.spawning.ready;
    this.pid = started.pid;
    this.setupUs = started.setupUs;
    if (this.#state === 'starting') this.#state = 'running';
    return this;
  }

  /** Sends a signal to the command (through init); SIGKILL kills the whole sandbox. */
  kill(signal: number): void {
    if (this.#state !== 'exited') this.#parts.spawner.kill(this.id, signal);
  }

  stats(): CgroupStats {
    return this.#parts.cgroup.stats();
  }

  /** Kills it now and waits until everything it held is released. Idempotent. */
  async destroy(): Promise<SandboxExit> {
    this.kill(SIGKILL);
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after graceMs, like `docker stop`. Idempotent. */
  async close(graceMs = 10_000): Promise<SandboxExit> {
    this.kill(SIGTERM);
    const timer = setTimeout(() => this.kill(SIGKILL), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  async #release(info: ExitInfo): Promise<SandboxExit> {
    this.#state = 'exited';
    const { cgroup, lease, net, rundir, ioDir, layerRecord } = this.#parts;
    let stats: CgroupStats | null = null;
    try {
      stats = cgroup.stats();
    } catch {
      // a cgroup that vanished has no stats to give; the exit still counts
    }
    // init is gone, so the kernel has killed its pid namespace; killAll waits out stragglers
    await cgroup[Symbol.asyncDispose]();
    // no writer is left in the sandbox: the relays deliver what its pipes hold (bounded in time)
    await this.#parts.stdio.finish();
    // every task is dead, so its mount namespace and overlay are gone: its layers may be collected
    forgetLayers(layerRecord);
    // never recursive: the host side is an empty mount point (the tmpfs lived in the child's namespace)
    try {
      fs.rmdirSync(rundir);
    } catch {
      // not empty or gone: `warren gc` looks at what is left
    }
    // what the sandbox left there (its sockets) goes with it; rm never follows a symlink it finds
    if (ioDir) fs.rmSync(ioDir, { recursive: true, force: true });
    // the spawner cleaned its netns (or discarded it) before it reported the exit
    await net.release(info.netns === 'reused');
    lease.release();
    const signal = info.signal;
    const code = info.code ?? 128 + (signal ?? SIGKILL);
    return { code, signal, oomKilled: (stats?.oomKills ?? 0) > 0, stats };
  }
}
