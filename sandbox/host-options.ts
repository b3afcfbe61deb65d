/**
 * What a SandboxHost is opened with (HostOptions) and what a sandbox is created with
 * (SandboxOptions), and the named steps of a create that tests can fail (FaultSeam).
 */
import type { Dirs } from '../lib/dirs.js';
import type { CgroupLimits } from './cgroups/index.js';
import type { Egress, NetworkConfig, Publish } from './network/index.js';
import type { ReleaseStep } from './sandbox.js';
import type { StdioSpec } from './stdio.js';

/** The steps of a create, in order: each one's undo runs when a later one fails. */
export const CREATE_STEPS = ['stdio', 'lease', 'cgroup', 'netns', 'egress', 'rundir', 'io', 'layers', 'spawn'] as const;
export type CreateStep = (typeof CREATE_STEPS)[number];

/** Tests only: called before each step; a throw there fails that step as a real fault would. */
export interface FaultSeam {
  create?(step: CreateStep): void;
  release?(step: ReleaseStep): void;
}

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
  /** stdin, stdout, stderr; default all 'null'. The sandbox never gets a host fd: 'pipe',
   * 'inherit' and {path} are pipes that the host reads or writes (stdio.ts). */
  stdio?: readonly [StdioSpec, StdioSpec, StdioSpec];
  /** `idmap`: the source is storage warren owns (a volume), its files stored owned by 0..65535;
   * they appear owned by the same uids inside, whatever host uid range the sandbox maps. */
  binds?: ReadonlyArray<{ src: string; dst: string; readonly: boolean; idmap?: boolean }>;
  /** A dir on disk holding `upper.img`, an ext4 image (made by makeKeptImage in snapshots/) that the
   * child mounts for the overlay's upper/ and work/: the changes outlive the sandbox, capped by the
   * image's size and inodes. */
  keep?: string;
  /** A veth on the bridge (the host's network: HostOptions.network), with this egress and these
   * published ports; absent: loopback only. `names`: what the sandbox answers to on a user
   * network's DNS server (--name, --network-alias), while it runs. */
  net?: { egress: Egress; publish?: readonly Publish[]; names?: readonly string[] };
  /**
   * A fresh dir of its own, bind-mounted read-write at `dst` and owned by the sandbox's root:
   * where the host and the sandbox meet (the runtime's sockets). A tmpfs capped at `sizeBytes`
   * and `inodes` (default io-dir.ts IO_DIR_CAP: 1 MiB, 64). `sandbox.ioDir` is its host path;
   * it is unmounted and removed when the sandbox ends.
   */
  io?: { dst: string; sizeBytes?: number; inodes?: number };
  /**
   * Who the sandbox runs for (the pool passes the function version). A network namespace a sandbox
   * used is reused only for later sandboxes of the same tenant; without one, never.
   */
  tenant?: string;
  /**
   * Plain JSON the owner keeps with the sandbox (the runner: what it runs). It is written to the
   * sandbox's host-side record, so that with HostOptions.liveRestore the next process that opens
   * the host gets it back on the adopted sandbox (`sandbox.record`).
   */
  record?: Readonly<Record<string, unknown>>;
}

export interface HostOptions {
  dirs: Dirs;
  uidBase?: number;
  uidSlots?: number;
  /** How many spares to keep ready (lib/spares.ts): network namespaces of each kind in use, and
   * sandboxes per set of limits in use (spare-sandboxes.ts). Default 2; 0 for one-shot use. */
  spare?: number;
  /** Tests only: fails chosen steps of create and release (test/integration/faults.test.ts). */
  faults?: FaultSeam;
  /** The network bridged sandboxes join: a user network (`warren run --network NAME`, from
   * user-networks.ts); default the dirs' bridge. */
  network?: NetworkConfig;
  /**
   * Live restore: the sandboxes outlive this process when it dies without close() (SIGKILL, a
   * crash). The spawner keeps them running for `graceMs`, waiting for the next process to open a
   * host on the same run dir with liveRestore, which adopts them (adopted()); nobody in time, it
   * kills them, and the next sweep frees their host side. close() still ends everything.
   */
  liveRestore?: { graceMs: number };
}
