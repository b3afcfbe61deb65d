/**
 * What every sandbox on this host shares: the spawner, the cgroup driver, the compiled seccomp
 * filter and the uid-range leases. Open one per process; create sandboxes from it. Creating is
 * the hot path, so everything that can be done once (detecting cgroups, compiling seccomp,
 * starting the spawner) is done here.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WarrenError, errnoOf } from '../lib/errors.js';
import type { Dirs } from '../lib/dirs.js';
import { LeaseSet } from '../lib/leases.js';
import { detectCgroups, type CgroupDriver, type CgroupLimits } from './cgroups/index.js';
import { SandboxNetwork, type Egress, type Publish } from './network/index.js';
import { SpareNetns, type NetnsSlot } from './spare-netns.js';
import { compileSeccomp, defaultPolicy } from './seccomp/index.js';
import { etcFiles, sandboxResolvConf } from './etc-files.js';
import { recordLayers } from './layer-use.js';
import {
  DEFAULT_LIMITS,
  DEFAULT_PATH,
  DEFAULT_RLIMITS,
  MASKED_PATHS,
  READONLY_PATHS,
  UID_BASE_DEFAULT,
  UID_LEASES,
  UID_RANGE,
  UID_SLOTS_DEFAULT,
  IO_DIRS,
} from './defaults.js';
import { Sandbox } from './sandbox.js';
import { Spawner, type StdioSpec } from './spawner.js';
import { SpareSandboxes } from './spare-sandboxes.js';

const SPARE_DEFAULT = 2;

export interface SandboxOptions {
  argv: readonly string[];
  /** Overlay lower dirs, top first (the image's layers). */
  layers: readonly string[];
  /** Added to PATH, HOME and HOSTNAME; nothing of the host's environment is inherited. */
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  hostname?: string;
  limits?: CgroupLimits;
  tmpfs?: { sizeBytes?: number; inodes?: number };
  stdio?: readonly [StdioSpec, StdioSpec, StdioSpec];
  binds?: ReadonlyArray<{ src: string; dst: string; readonly: boolean }>;
  /** A dir on disk for the overlay's upper/ and work/: the sandbox's changes outlive it. */
  keep?: string;
  /** A veth on the bridge, with this egress and these published ports; absent: loopback only. */
  net?: { egress: Egress; publish?: readonly Publish[] };
  /**
   * A fresh dir of its own, bind-mounted read-write at `dst` and owned by the sandbox's root:
   * where the host and the sandbox meet (the runtime's socket). `sandbox.ioDir` is its host path;
   * it is removed when the sandbox ends.
   */
  io?: { dst: string };
  /**
   * Who the sandbox runs for (the pool passes the function version). A network namespace a sandbox
   * used is reused only for later sandboxes of the same tenant; without one, never.
   */
  tenant?: string;
}

export interface HostOptions {
  dirs: Dirs;
  /** The spawner's stdin, read by sandboxes with stdio[0] 'inherit' (`warren run -i`). */
  stdin?: 'inherit' | 'ignore';
  uidBase?: number;
  uidSlots?: number;
  /** How many spares to keep ready (lib/spares.ts): network namespaces of each kind in use, and
   * sandboxes per set of limits in use (spare-sandboxes.ts). Default 2; 0 for one-shot use. */
  spare?: number;
}

export class SandboxHost {
  readonly dirs: Dirs;
  readonly cgroups: CgroupDriver;
  readonly seccompPath: string;
  readonly #spawner: Spawner;
  readonly #uids: LeaseSet;
  readonly #uidBase: number;
  readonly #live = new Set<Sandbox>();
  #network: Promise<SandboxNetwork> | undefined;
  readonly #netns: SpareNetns;
  readonly #spareSandboxes: SpareSandboxes;

  private constructor(opts: HostOptions, cgroups: CgroupDriver, seccompPath: string, spawner: Spawner) {
    this.dirs = opts.dirs;
    this.cgroups = cgroups;
    this.seccompPath = seccompPath;
    this.#spawner = spawner;
    this.#uids = new LeaseSet(path.join(opts.dirs.run, UID_LEASES), opts.uidSlots ?? UID_SLOTS_DEFAULT);
    this.#uidBase = opts.uidBase ?? UID_BASE_DEFAULT;
    this.#netns = new SpareNetns(spawner, () => this.#openNetwork(), opts.spare);
    this.#spareSandboxes = new SpareSandboxes(spawner, cgroups, this.#uids, opts.spare ?? SPARE_DEFAULT);
  }

  static async open(opts: HostOptions): Promise<SandboxHost> {
    if (process.getuid?.() !== 0) throw new WarrenError('WARREN_HOST_NOT_ROOT', 'warren needs root to create sandboxes (run it with sudo)');
    const cgroups = detectCgroups({ parent: opts.dirs.cgroupParent });
    const seccompPath = compileSeccomp(defaultPolicy(), path.join(opts.dirs.state, 'seccomp'));
    fs.mkdirSync(path.join(opts.dirs.run, 'sandboxes'), { recursive: true, mode: 0o700 });
    const spawner = await Spawner.start({ stdin: opts.stdin });
    return new SandboxHost(opts, cgroups, seccompPath, spawner);
  }

  /** Starts a sandbox; `await sandbox.ready()` for the command to be running. */
  async create(opts: SandboxOptions): Promise<Sandbox> {
    const limits = {
      memoryBytes: opts.limits?.memoryBytes ?? DEFAULT_LIMITS.memoryBytes,
      cpus: opts.limits?.cpus ?? DEFAULT_LIMITS.cpus,
      pids: opts.limits?.pids ?? DEFAULT_LIMITS.pids,
    };
    // a spare when one with these limits is free: its clone and cgroup join are done
    const spare = this.#spareSandboxes.take(limits);
    const id = spare?.id ?? `w${randomBytes(6).toString('hex')}`;
    const lease = spare?.lease ?? this.#uids.take(id);
    let cgroup;
    try {
      cgroup = spare?.cgroup ?? (await this.cgroups.create(id, limits));
    } catch (err) {
      lease.release();
      throw err;
    }
    let slot: NetnsSlot | undefined;
    let disallow: (() => Promise<void>) | undefined;
    try {
      slot = await this.#netns.take(opts.net ? 'bridge' : 'loopback', opts.tenant);
      if (opts.net && slot.address) disallow = await (await this.#openNetwork()).allow(slot.address.ip, opts.net);
    } catch (err) {
      if (slot) this.#netns.give(slot, 'unused', opts.tenant);
      await cgroup[Symbol.asyncDispose]();
      lease.release();
      throw err;
    }
    const rundir = path.join(this.dirs.run, 'sandboxes', id);
    fs.mkdirSync(rundir, { mode: 0o700 });
    const uidBase = this.#uidBase + lease.n * UID_RANGE;
    const ioDir = opts.io ? makeIoDir(this.dirs.run, id, uidBase) : undefined;
    const binds = ioDir && opts.io ? [...(opts.binds ?? []), { src: ioDir, dst: opts.io.dst, readonly: false }] : opts.binds;
    const hostname = opts.hostname ?? id.slice(0, 12);
    const publicDns = opts.net && opts.net.egress !== 'none';
    const env = { PATH: DEFAULT_PATH, HOME: '/root', HOSTNAME: hostname, ...opts.env };
    // before the spawn: once the overlay is mounted, `warren image gc` must see its lower dirs in use
    const layerRecord = recordLayers(this.dirs.run, id, opts.layers);
    const spawning = this.#spawner.spawn({
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
      stdio: opts.stdio,
      binds,
      masked: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      files: etcFiles(hostname, slot.address?.ip, publicDns ? sandboxResolvConf() : undefined),
      netns: slot.id,
      keep: opts.keep,
      prepped: spare !== undefined,
    });
    const pool = this.#netns;
    const net = {
      ip: slot.address?.ip,
      release: async (reused: boolean) => {
        await disallow?.();
        pool.give(slot, reused ? 'clean' : 'dirty', opts.tenant);
      },
    };
    const parts = { id, spawner: this.#spawner, spawning, cgroup, lease, net, rundir, ioDir, layerRecord, uidBase, memoryBytes: limits.memoryBytes };
    const sandbox = new Sandbox(parts);
    this.#live.add(sandbox);
    void sandbox.exited.finally(() => this.#live.delete(sandbox));
    return sandbox;
  }

  /** The bridge, nftables table and forwarding, set up once, on the first sandbox that needs them. */
  #openNetwork(): Promise<SandboxNetwork> {
    this.#network ??= SandboxNetwork.open({ ...this.dirs.net, runDir: this.dirs.run });
    this.#network.catch(() => (this.#network = undefined)); // let a later sandbox retry
    return this.#network;
  }

  /** Destroys every sandbox still running, then stops the spawner. Idempotent. */
  async close(): Promise<void> {
    await Promise.all([...this.#live].map((s) => s.destroy()));
    await this.#spareSandboxes.close();
    this.#netns.close();
    await this.cgroups.close?.();
    await this.#spawner.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** `<run>/io/<id>`, owned by the uid that is root in the sandbox, so only it and host root enter. */
function makeIoDir(run: string, id: string, uidBase: number): string {
  const dir = path.join(run, IO_DIRS, id);
  // the parent is made on the first miss, not checked on every create (the hot path)
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
    fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o711 });
    fs.mkdirSync(dir, { mode: 0o700 });
  }
  fs.chownSync(dir, uidBase, uidBase);
  return dir;
}
