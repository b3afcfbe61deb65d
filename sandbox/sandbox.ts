/**
 * A sandbox: one command in its own namespaces, cgroup, overlay root and seccomp filter, started
 * by the spawner. Its states are a closed union; its resources (uid range lease, cgroup, run dir)
 * are released when init ends, whoever ended it, so a finished sandbox holds nothing.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { failuresError, runSteps } from '../lib/cleanup.js';
import { WarrenError, errnoOf } from '../lib/errors.js';
import type { Cgroup, CgroupLimits, CgroupStats } from './cgroups/index.js';
import type { Lease } from '../lib/leases.js';
import { channels, type SandboxEgressEvent, type SandboxExitEvent, type SandboxLimitsEvent, type SandboxOomEvent, type SandboxReadyEvent } from './events.js';
import type { Egress } from './network/index.js';
import { removeIoDir } from './io-dir.js';
import { checkRecord } from './validate.js';
import { forgetLayers } from './layer-use.js';
import type { Readable, Writable } from 'node:stream';
import type { ExitInfo, Spawning } from './spawn-request.js';
import type { Spawner } from './spawner.js';
import type { SandboxStdio } from './stdio.js';
import type { RestoreHooks } from './restore-records.js';

export type SandboxState = 'starting' | 'running' | 'exited';

export interface SandboxExit {
  /** As a shell reports it: the command's status, or 128+N when signal N killed it. */
  readonly code: number;
  readonly signal: number | null;
  /** The kernel's OOM killer acted in the sandbox's cgroup. */
  readonly oomKilled: boolean;
  /** It died because the spawner did (killed, crashed): the platform's failure, not its command's. */
  readonly spawnerGone?: boolean;
  readonly stats: CgroupStats | null;
  /**
   * What could not be released (WARREN_SANDBOX_RELEASE, naming each part), when anything; the
   * exit itself still counts. A uid lease whose cgroup could not be emptied stays taken, so that
   * no other sandbox gets the uid range of a process that may still run; `warren gc` frees it.
   */
  readonly releaseError?: WarrenError;
}

/** The steps of a release, in order; a test's fault seam (HostOptions.faults) can fail each. */
export const RELEASE_STEPS = ['stats', 'cgroup', 'stdio', 'layers', 'rundir', 'io', 'netns', 'lease'] as const;
export type ReleaseStep = (typeof RELEASE_STEPS)[number];

export interface SandboxParts {
  id: string;
  spawner: Spawner;
  spawning: Spawning;
  /** The host's ends of its stdio pipes, and their relays. */
  stdio: SandboxStdio;
  cgroup: Cgroup;
  lease: Lease;
  /** Its network namespace (pooled) and, on the bridge, its address and nftables elements. */
  net: {
    ip: string | undefined;
    release(reused: boolean): Promise<void>;
    /** On the bridge only: swaps its egress elements (network/live-egress.ts). */
    setEgress?(egress: Egress): Promise<void>;
  };
  rundir: string;
  ioDir: string | undefined;
  /** Its record of the layers it mounted (layer-use.ts), removed once nothing of it runs. */
  layerRecord: string;
  uidBase: number;
  memoryBytes: number;
  /** Tests only: called before each release step; a throw makes that step fail. */
  fault?: (step: ReleaseStep) => void;
  /** performance.now() when host.create() was called: the origin of its events' times. */
  createdAt?: number;
  /** SandboxOptions.record, as given at create (or read back at adoption). */
  record?: Readonly<Record<string, unknown>>;
  /** Live restore: its host-side record (restore-records.ts), kept up to date, removed last. */
  restore?: RestoreHooks;
}

const SIGKILL = 9;
const SIGTERM = 15;

export class Sandbox {
  readonly id: string;
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
  #record: Readonly<Record<string, unknown>> | undefined;
  #memoryBytes: number;
  readonly #createdAt: number;
  readonly exited: Promise<SandboxExit>;

  constructor(parts: SandboxParts) {
    this.id = parts.id;
    this.#memoryBytes = parts.memoryBytes;
    this.#createdAt = parts.createdAt ?? performance.now();
    this.ip = parts.net.ip;
    this.ioDir = parts.ioDir;
    this.uidBase = parts.uidBase;
    this.#record = parts.record;
    this.#parts = parts;
    // the spawner settles `exited` with a signal when it dies, never with a rejection; a release
    // catches its own failures: `exited` never rejects
    this.exited = parts.spawning.exited
      .then(
        (info) => this.#release(info),
        () => this.#release({ code: null, signal: SIGKILL }),
      )
      .then((exit) => this.#ended(exit));
    // an unobserved spawn failure is reported through ready(); never an unhandled rejection
    parts.spawning.ready.then((s) => {
      if (channels.ready.hasSubscribers) channels.ready.publish({ id: this.id, pid: s.pid, setupUs: s.setupUs, readyMs: performance.now() - this.#createdAt } satisfies SandboxReadyEvent);
    }, () => {});
  }

  /** What its owner stored with it (SandboxOptions.record, or setRecord): given back on an
   * adopted sandbox too. */
  get record(): Readonly<Record<string, unknown>> | undefined {
    return this.#record;
  }

  /** Replaces its record; with live restore, written to its host-side record before this returns,
   * so that a process adopting it later reads this one. */
  setRecord(record: Readonly<Record<string, unknown>>): void {
    this.#live('set the record of');
    checkRecord(record);
    this.#parts.restore?.update({ record });
    this.#record = record;
  }

  /** Its memory limit, swap included, as set at create or by setLimits. */
  get memoryBytes(): number {
    return this.#memoryBytes;
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

  /**
   * Changes its memory, cpu and pids limits while it runs; those left out stay. What a memory
   * limit below its usage does depends on the cgroup version (Cgroup.setLimits): v1 refuses
   * (WARREN_CGROUP_MEMORY_BUSY, the old limits stay), v2 reclaims and may OOM-kill.
   */
  async setLimits(limits: CgroupLimits): Promise<void> {
    this.#live('set limits of');
    const t0 = performance.now();
    // synchronous up to its end (cgroupfs writes): #release cannot take the cgroup away midway
    await this.#parts.cgroup.setLimits(limits);
    if (limits.memoryBytes !== undefined) this.#memoryBytes = limits.memoryBytes;
    if (channels.limits.hasSubscribers) channels.limits.publish({ id: this.id, limits: { ...limits }, tookMs: performance.now() - t0 } satisfies SandboxLimitsEvent);
  }

  /**
   * Changes what it may reach (none, public, or an allowlist of CIDRs) while it runs, in one
   * nftables transaction; a narrower egress also cuts the flows it opened. Only a sandbox on
   * the bridge (created with `net`) has egress to change. Its /etc/resolv.conf stays as it was
   * made (public resolvers only when it was created with egress other than none).
   */
  async setEgress(egress: Egress): Promise<void> {
    this.#live('set egress of');
    const set = this.#parts.net.setEgress;
    if (!set) {
      throw new WarrenError('WARREN_SANDBOX_NO_VETH', `set egress of sandbox '${this.id}': it has no veth (created without net): egress applies to sandboxes on the bridge`);
    }
    const t0 = performance.now();
    await set(egress);
    if (channels.egress.hasSubscribers) channels.egress.publish({ id: this.id, egress, tookMs: performance.now() - t0 } satisfies SandboxEgressEvent);
  }

  #live(what: string): void {
    if (this.#state === 'exited') throw new WarrenError('WARREN_SANDBOX_EXITED', `${what} sandbox '${this.id}': it has exited`);
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

  /** Publishes the end (oom first, then exit) to whoever subscribed. */
  #ended(exit: SandboxExit): SandboxExit {
    const oomKills = exit.stats?.oomKills ?? 0;
    if (oomKills > 0 && channels.oom.hasSubscribers) channels.oom.publish({ id: this.id, oomKills, memoryBytes: this.#memoryBytes } satisfies SandboxOomEvent);
    if (channels.exit.hasSubscribers) {
      const { code, signal, oomKilled, stats } = exit;
      channels.exit.publish({ id: this.id, code, signal, oomKilled, stats, lifetimeMs: performance.now() - this.#createdAt } satisfies SandboxExitEvent);
    }
    return exit;
  }

  /**
   * Releases everything the sandbox held, each part even if another failed; never rejects, so
   * `exited` never does. Why this order: the cgroup is emptied first (init is gone, so the kernel
   * killed its pid namespace; killAll waits out stragglers); with every task dead its mount
   * namespace and overlay are gone, so its layers may be collected and its dirs removed; the
   * spawner cleaned its netns (or discarded it) before it reported the exit.
   */
  async #release(info: ExitInfo): Promise<SandboxExit> {
    this.#state = 'exited';
    const { cgroup, lease, net, rundir, ioDir, layerRecord, fault } = this.#parts;
    let stats: CgroupStats | null = null;
    let emptied = false;
    const step = (name: ReleaseStep, run: () => unknown) => ({
      name,
      run: async () => {
        fault?.(name);
        await run();
      },
    });
    const failed = await runSteps([
      step('stats', () => (stats = cgroup.stats())),
      step('cgroup', async () => {
        await cgroup[Symbol.asyncDispose]();
        emptied = true;
      }),
      // no writer is left in the sandbox: the relays deliver what its pipes hold (bounded in time)
      step('stdio', () => this.#parts.stdio.finish()),
      step('layers', () => forgetLayers(layerRecord)),
      // never recursive: the host side is an empty mount point (the tmpfs lived in the child's
      // namespace); ENOENT is fine (gone already), anything else is reported
      step('rundir', () => rmdirIfThere(rundir)),
      // its tmpfs, and what the sandbox left there (its sockets), go with it
      step('io', () => ioDir && removeIoDir(ioDir)),
      step('netns', () => net.release(info.netns === 'reused' && emptied)),
      step('lease', () => {
        if (emptied) lease.release();
        else throw new Error(`uid range ${this.uidBase} kept: its cgroup may still hold tasks`);
      }),
    ]);
    // last: until now a process adopting it after this one died would need it to release the rest
    try {
      this.#parts.restore?.remove();
    } catch (error) {
      failed.push({ name: 'record', error });
    }
    // a cgroup that vanished has no stats to give; the exit still counts
    const releaseError = failuresError('WARREN_SANDBOX_RELEASE', `sandbox ${this.id}: release`, failed.filter((f) => f.name !== 'stats'));
    const signal = info.signal;
    const code = info.code ?? 128 + (signal ?? SIGKILL);
    const oomKilled = ((stats as CgroupStats | null)?.oomKills ?? 0) > 0;
    return { code, signal, oomKilled, stats, ...(info.spawnerGone ? { spawnerGone: true } : {}), ...(releaseError ? { releaseError } : {}) };
  }
}

/** Off the event loop: where the run dir lies on a disk mounted with `discard` (this VM's /run),
 * an rmdir waits for the device to discard the dir's block, 0.4-0.9 ms here, which a server's
 * loop would spend blocked at each sandbox's end. */
async function rmdirIfThere(dir: string): Promise<void> {
  try {
    await fs.promises.rmdir(dir);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
}
