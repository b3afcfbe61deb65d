/**
 * What every sandbox on this host shares: the spawner, the cgroup driver, the compiled seccomp
 * filter and the uid-range leases. Open one per process; create sandboxes from it. Creating is
 * the hot path, so everything that can be done once (detecting cgroups, compiling seccomp,
 * starting the spawner) is done here.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { failuresError, messageOf, Undo } from '../lib/cleanup.js';
import { WarrenError, isWarrenError } from '../lib/errors.js';
import type { Dirs } from '../lib/dirs.js';
import { LeaseSet } from '../lib/leases.js';
import { runDirOfThisBoot } from '../lib/run-dir.js';
import { detectCgroups, type CgroupDriver } from './cgroups/index.js';
import { LiveEgress, SandboxNetwork, type Egress, type ResolvConf } from './network/index.js';
import { SpareNetns, type NetnsSlot } from './spare-netns.js';
import { compileSeccomp, defaultPolicy } from './seccomp/index.js';
import { etcFiles, sandboxResolvConf } from './etc-files.js';
import { forgetLayers, recordLayers } from './layer-use.js';
import {
  ATTACH_SOCKET,
  DEFAULT_LIMITS,
  DEFAULT_PATH,
  DEFAULT_RLIMITS,
  MASKED_PATHS,
  READONLY_PATHS,
  UID_BASE_DEFAULT,
  UID_LEASES,
  UID_RANGE,
  UID_SLOTS_DEFAULT,
} from './defaults.js';
import { channels, type SandboxCreateEvent } from './events.js';
import { makeIoDir, removeIoDir } from './io-dir.js';
import { Sandbox } from './sandbox.js';
import { Spawner, type SpawnerOptions } from './spawner.js';
import { adoptAll, attachWaiting } from './adopt.js';
import { recordSandbox, restoreDir, type RestoreHooks } from './restore-records.js';
import { SpareSandboxes, type SpareSandbox } from './spare-sandboxes.js';
import { SandboxStdio } from './stdio.js';
import { validateOptions } from './validate.js';
import type { CreateStep, HostOptions, SandboxOptions } from './host-options.js';

const SPARE_DEFAULT = 2;
const SIGKILL = 9;

export class SandboxHost {
  readonly dirs: Dirs;
  readonly cgroups: CgroupDriver;
  readonly seccompPath: string;
  readonly #opts: HostOptions;
  readonly #uids: LeaseSet;
  readonly #uidBase: number;
  readonly #live = new Set<Sandbox>();
  #network: Promise<SandboxNetwork> | undefined;
  /** The spawner and the spares that live in it; all three are replaced together when it dies. */
  #spawner: Spawner;
  #netns: SpareNetns;
  #spareSandboxes: SpareSandboxes;
  #restarting: Promise<void> | undefined;
  #closed = false;
  /** Live restore: what open() adopted, still running then. */
  #adopted: Sandbox[] = [];

  private constructor(opts: HostOptions, cgroups: CgroupDriver, seccompPath: string, spawner: Spawner) {
    this.dirs = opts.dirs;
    this.cgroups = cgroups;
    this.seccompPath = seccompPath;
    this.#opts = opts;
    this.#uids = new LeaseSet(path.join(opts.dirs.run, UID_LEASES), opts.uidSlots ?? UID_SLOTS_DEFAULT);
    this.#uidBase = opts.uidBase ?? UID_BASE_DEFAULT;
    this.#spawner = spawner;
    this.#netns = new SpareNetns(spawner, () => this.#openNetwork(), opts.spare);
    this.#spareSandboxes = new SpareSandboxes(spawner, cgroups, this.#uids, opts.spare ?? SPARE_DEFAULT);
  }

  static async open(opts: HostOptions): Promise<SandboxHost> {
    if (process.getuid?.() !== 0) throw new WarrenError('WARREN_HOST_NOT_ROOT', 'warren needs root to create sandboxes (run it with sudo)');
    const cgroups = detectCgroups({ parent: opts.dirs.cgroupParent });
    const seccompPath = compileSeccomp(defaultPolicy(), path.join(opts.dirs.state, 'seccomp'));
    runDirOfThisBoot(opts.dirs.run);
    fs.mkdirSync(path.join(opts.dirs.run, 'sandboxes'), { recursive: true, mode: 0o700 });
    if (!opts.liveRestore) return new SandboxHost(opts, cgroups, seccompPath, await Spawner.start());
    // live restore: the spawner the last process left, if one waits; a new one otherwise
    fs.mkdirSync(restoreDir(opts.dirs.run), { recursive: true, mode: 0o700 });
    const spawner = (await attachWaiting(opts.dirs.run)) ?? (await Spawner.start(spawnerOptions(opts)));
    const host = new SandboxHost(opts, cgroups, seccompPath, spawner);
    try {
      await host.#adoptAll();
    } catch (err) {
      await host.close().catch(() => {});
      throw err;
    }
    return host;
  }

  /**
   * The sandboxes the last process left running, adopted at open (liveRestore only; else empty).
   * Each works as a created one; the caller must take each (keep it, or destroy it). Those that
   * ended while no process owned them were released during open(), and told on the exit channel.
   */
  adopted(): readonly Sandbox[] {
    return this.#adopted;
  }

  /** Adopts what the spawner holds (adopt.ts); those that ended are released before open() returns. */
  async #adoptAll(): Promise<void> {
    const ctx = {
      run: this.dirs.run,
      spawner: this.#spawner,
      uids: this.#uids,
      cgroups: this.cgroups,
      netns: this.#netns,
      network: () => this.#openNetwork(),
      ...(this.#opts.faults?.release ? { fault: this.#opts.faults.release } : {}),
    };
    const { adopted, ended } = await adoptAll(ctx);
    for (const sandbox of [...adopted, ...ended]) {
      this.#live.add(sandbox);
      void sandbox.exited.then(() => this.#live.delete(sandbox));
    }
    this.#adopted = adopted;
    await Promise.all(ended.map((s) => s.exited));
  }

  /** The spawner's pid (tests kill it to see the host recover). */
  get spawnerPid(): number {
    return this.#spawner.pid;
  }

  /**
   * Starts a sandbox; `await sandbox.ready()` for the command to be running. Bad options are
   * refused before anything is taken; a failure at any later step undoes exactly what the steps
   * before it did, and throws a WarrenError naming the step (and any undo that failed too).
   */
  async create(opts: SandboxOptions): Promise<Sandbox> {
    if (this.#closed) throw new WarrenError('WARREN_HOST_CLOSED', 'the sandbox host is closed');
    validateOptions(opts);
    if (!this.#spawner.alive) await this.#restart();
    const undo = new Undo();
    const at: { step: CreateStep | 'take'; id: string } = { step: 'take', id: '' };
    // the spares it takes are replaced once its command runs (or it failed): spare-sandboxes.ts
    let started!: () => void;
    const start = new Promise<void>((resolve) => (started = resolve));
    try {
      return await this.#create(opts, undo, at, { start, started });
    } catch (err) {
      started();
      const undone = await undo.run();
      const sandbox = `sandbox ${at.id || '(none)'}`;
      if (undone.length) {
        // the failure first, then each undo that failed too: one error, every cause kept
        const all = [{ name: at.step, error: err }, ...undone.map((u) => ({ name: `undo ${u.name}`, error: u.error }))];
        throw failuresError('WARREN_SANDBOX_UNDO', sandbox, all) as WarrenError;
      }
      if (isWarrenError(err)) throw err;
      throw new WarrenError('WARREN_SANDBOX_CREATE', `${sandbox}: ${at.step}: ${messageOf(err)}`, { cause: err });
    }
  }

  async #create(opts: SandboxOptions, undo: Undo, at: { step: CreateStep | 'take'; id: string }, spares: { start: Promise<void>; started: () => void }): Promise<Sandbox> {
    const createdAt = performance.now();
    const fault = this.#opts.faults?.create;
    const enter = (step: CreateStep) => {
      at.step = step;
      fault?.(step);
    };
    // first: a file the host cannot open for it is the caller's error, found before anything is taken
    enter('stdio');
    const stdio = SandboxStdio.open(opts.stdio);
    undo.push('stdio', () => stdio.destroy());
    const limits = {
      memoryBytes: opts.limits?.memoryBytes ?? DEFAULT_LIMITS.memoryBytes,
      cpus: opts.limits?.cpus ?? DEFAULT_LIMITS.cpus,
      pids: opts.limits?.pids ?? DEFAULT_LIMITS.pids,
    };
    const spawner = this.#spawner;
    // a spare when one with these limits is free: its clone and cgroup join are done
    const spare = this.#spareSandboxes.take(limits, spares.start);
    const id = spare?.id ?? `w${randomBytes(6).toString('hex')}`;
    at.id = id;
    if (spare) undoSpare(undo, spawner, spare);
    enter('lease');
    const lease = spare?.lease ?? this.#uids.take(id);
    if (!spare) undo.push('lease', () => lease.release());
    enter('cgroup');
    const cgroup = spare?.cgroup ?? (await this.cgroups.create(id, limits));
    if (!spare) undo.push('cgroup', () => cgroup[Symbol.asyncDispose]());
    enter('netns');
    const pool = this.#netns;
    const slot = await pool.take(opts.net ? 'bridge' : 'loopback', opts.tenant, spares.start);
    // never used by a sandbox: it goes back as it came
    undo.push('netns', () => pool.give(slot, 'unused', opts.tenant));
    enter('egress');
    let disallow: (() => Promise<void>) | undefined;
    let egress: LiveEgress | undefined;
    let resolv: ResolvConf | undefined;
    if (opts.net && slot.address) {
      const network = await this.#openNetwork();
      disallow = await network.allow(slot.address.ip, opts.net);
      undo.push('egress', disallow);
      egress = new LiveEgress(network, slot.address.ip, opts.net);
      const unpublish = network.publishNames(slot.address.ip, opts.net.names ?? [], opts.net.egress);
      undo.push('egress', async () => unpublish());
      const disallowed = disallow;
      // its name goes first when it ends: nobody is sent to an address about to be reused
      disallow = async () => {
        unpublish();
        await disallowed();
      };
      // whatever its egress: a later setEgress decides whether the forwarder answers it
      resolv = sandboxResolvConf(network.gateway, network.resolvConf);
    }
    enter('rundir');
    const rundir = path.join(this.dirs.run, 'sandboxes', id);
    fs.mkdirSync(rundir, { mode: 0o700 });
    undo.push('rundir', () => fs.rmdirSync(rundir));
    enter('io');
    const uidBase = this.#uidBase + lease.n * UID_RANGE;
    const ioDir = opts.io ? makeIoDir(this.dirs.run, id, uidBase, opts.io) : undefined;
    if (ioDir) undo.push('io', () => removeIoDir(ioDir));
    const binds = ioDir && opts.io ? [...(opts.binds ?? []), { src: ioDir, dst: opts.io.dst, readonly: false }] : opts.binds;
    const hostname = opts.hostname ?? id.slice(0, 12);
    const env = { PATH: DEFAULT_PATH, HOME: '/root', HOSTNAME: hostname, ...opts.env };
    // before the spawn: once the overlay is mounted, `warren image gc` must see its lower dirs in use
    enter('layers');
    const layerRecord = recordLayers(this.dirs.run, id, opts.layers);
    undo.push('layers', () => forgetLayers(layerRecord));
    enter('spawn');
    // live restore: what adopting it would need, written before the spawn request goes out
    const restore = this.#opts.liveRestore ? this.#record(opts, { id, spawner, lease, uidBase, cgroup: cgroup.name, oomBase: cgroup.oomBase, memoryBytes: limits.memoryBytes, slot, rundir, ioDir, layerRecord }) : undefined;
    // from here the Sandbox owns everything: the spawner settles `exited` whatever happens
    const spawning = spawner.spawn({
      id,
      argv: opts.argv,
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      cwd: opts.cwd ?? '/',
      hostname,
      rundir,
      tmpfs: { sizeBytes: opts.tmpfs?.sizeBytes ?? DEFAULT_LIMITS.tmpfsBytes, inodes: opts.tmpfs?.inodes ?? DEFAULT_LIMITS.tmpfsInodes },
      layers: opts.layers,
      uid: { base: uidBase, count: UID_RANGE },
      cgroupDirs: cgroup.dirs,
      seccompPath: this.seccompPath,
      rlimits: DEFAULT_RLIMITS,
      stdio: stdio.child,
      binds,
      masked: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      files: etcFiles(hostname, slot.address?.ip, resolv),
      netns: slot.id,
      keep: opts.keep,
      prepped: spare !== undefined,
      ...(restore ? { hold: stdio.readEnds } : {}),
    });
    spawning.ready.then(spares.started, spares.started);
    // once its child has opened its ends of the pipes (or never will), the host's copies go
    if (stdio.hasPipes) {
      const opened = () => stdio.childHasEnds();
      spawning.ready.then(opened, opened);
      void spawning.exited.then(opened);
    }
    const net = {
      ip: slot.address?.ip,
      setEgress: egress && (async (e: Egress) => {
        await (egress as LiveEgress).set(e);
        restore?.update({ net: { ...opts.net, egress: e } });
      }),
      release: async (reused: boolean) => {
        try {
          await egress?.close(); // a change in flight first: the undo must see what it left
          await disallow?.();
        } finally {
          pool.give(slot, reused ? 'clean' : 'dirty', opts.tenant);
        }
      },
    };
    const fail = this.#opts.faults?.release;
    const parts = { id, spawner, spawning, stdio, cgroup, lease, net, rundir, ioDir, layerRecord, uidBase, memoryBytes: limits.memoryBytes, createdAt, record: opts.record, ...(restore ? { restore } : {}), ...(fail ? { fault: fail } : {}) };
    const sandbox = new Sandbox(parts);
    if (channels.create.hasSubscribers) {
      const network = slot.address ? 'bridge' : 'loopback';
      channels.create.publish({ id, limits, network, ip: slot.address?.ip, spare: spare !== undefined, createMs: performance.now() - createdAt } satisfies SandboxCreateEvent);
    }
    this.#live.add(sandbox);
    void sandbox.exited.then(() => this.#live.delete(sandbox));
    return sandbox;
  }

  /** Writes a sandbox's restore record (restore-records.ts); throws before anything is sent. */
  #record(opts: SandboxOptions, p: { id: string; spawner: Spawner; lease: { n: number }; uidBase: number; cgroup: string; oomBase: number; memoryBytes: number; slot: NetnsSlot; rundir: string; ioDir: string | undefined; layerRecord: string }): RestoreHooks {
    return recordSandbox(this.dirs.run, {
      id: p.id,
      spawner: p.spawner.pid,
      lease: p.lease.n,
      uidBase: p.uidBase,
      cgroup: p.cgroup,
      ...(p.oomBase > 0 ? { oomBase: p.oomBase } : {}),
      memoryBytes: p.memoryBytes,
      netns: { id: p.slot.id, kind: p.slot.kind, ...(p.slot.address ? { ip: p.slot.address.ip } : {}) },
      ...(opts.net && p.slot.address ? { net: { egress: opts.net.egress, ...(opts.net.publish ? { publish: opts.net.publish } : {}) } } : {}),
      ...(opts.tenant !== undefined ? { tenant: opts.tenant } : {}),
      rundir: p.rundir,
      ...(p.ioDir ? { ioDir: p.ioDir } : {}),
      layerRecord: p.layerRecord,
      stdio: opts.stdio ?? ['null', 'null', 'null'],
      ...(opts.record ? { record: opts.record } : {}),
    });
  }

  /**
   * A new spawner, after the old one died (every sandbox in it died with it, and their exits
   * released what they held): its pools go with it, and new ones start empty.
   */
  #restart(): Promise<void> {
    this.#restarting ??= (async () => {
      // the old one's process may outlive its socket (it hangs): ended, and an attached one's
      // pidfd let go (spawner.ts)
      await Promise.allSettled([this.#spareSandboxes.close(), this.#netns.close(), this.#spawner.destroy()]);
      const spawner = await Spawner.start(spawnerOptions(this.#opts));
      this.#spawner = spawner;
      this.#netns = new SpareNetns(spawner, () => this.#openNetwork(), this.#opts.spare);
      this.#spareSandboxes = new SpareSandboxes(spawner, this.cgroups, this.#uids, this.#opts.spare ?? SPARE_DEFAULT);
    })().finally(() => (this.#restarting = undefined));
    return this.#restarting;
  }

  /**
   * The bridge, nftables table, forwarding and DNS forwarder, set up once, on the first sandbox
   * that needs them; the forwarder stops with the host.
   */
  #openNetwork(): Promise<SandboxNetwork> {
    this.#network ??= SandboxNetwork.open(this.#opts.network ?? { ...this.dirs.net, runDir: this.dirs.run });
    this.#network.catch(() => (this.#network = undefined)); // let a later sandbox retry
    return this.#network;
  }

  /** Destroys every sandbox still running, then stops the spawner. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#restarting?.catch(() => {});
    await Promise.all([...this.#live].map((s) => s.destroy()));
    await this.#spareSandboxes.close();
    await this.#netns.close();
    await (await this.#network?.catch(() => undefined))?.close();
    await this.cgroups.close?.();
    await this.#spawner.close();
  }

  /** Kills the spawner now, and with it every sandbox; waits until what they held is released. */
  async destroy(): Promise<void> {
    this.#closed = true;
    await this.#restarting?.catch(() => {});
    await this.#spawner.destroy();
    await Promise.all([...this.#live].map((s) => s.exited));
    await this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Live restore: the spawner outlives this process and waits for the next on the run dir's socket. */
function spawnerOptions(opts: HostOptions): SpawnerOptions {
  return opts.liveRestore ? { attach: { path: path.join(opts.dirs.run, ATTACH_SOCKET), graceMs: opts.liveRestore.graceMs } } : {};
}

/**
 * A spare sandbox taken for a create that fails before its hand-over will get no request: it is
 * killed, and once its exit says it is gone, its cgroup and lease are released (last, first).
 */
function undoSpare(undo: Undo, spawner: Spawner, spare: SpareSandbox): void {
  undo.push('lease', () => spare.lease.release());
  undo.push('cgroup', () => spare.cgroup[Symbol.asyncDispose]());
  undo.push('spare', async () => {
    spawner.kill(spare.id, SIGKILL);
    await spare.spawning.exited;
  });
}
