/**
 * What goes to warren-spawner and what comes back, as the runner sees it: a spawn request and how
 * it becomes the protocol's fields (protocol.ts), and the answers' shapes (Started, ExitInfo,
 * Held). The Spawner (spawner.ts) sends and receives them.
 */
import { WarrenError } from '../lib/errors.js';
import { spawnStage, type SpawnStage } from './spawn-stages.js';
import type { Fields } from './protocol.js';
import type { ChildStdio } from './stdio.js';

export interface SpawnRequest {
  id: string;
  argv: readonly string[];
  env: readonly string[];
  cwd?: string;
  hostname?: string;
  /** An existing, empty dir; the child mounts its scratch tmpfs there, in its own mount namespace. */
  rundir: string;
  tmpfs: { sizeBytes: number; inodes: number };
  /** Overlay lower dirs, top first. */
  layers: readonly string[];
  uid: { base: number; count: number };
  cgroupDirs: readonly string[];
  seccompPath: string;
  rlimits?: ReadonlyArray<{ name: string; soft: number | 'unlimited'; hard: number | 'unlimited' }>;
  /** Each /dev/null unless given (stdio.ts makes the pipes). */
  stdio?: readonly [ChildStdio, ChildStdio, ChildStdio];
  /** `idmap`: the source is storage warren owns (a volume), its files stored owned by 0..65535;
   * they appear owned by the same uids inside, whatever host uid range the sandbox maps. */
  binds?: ReadonlyArray<{ src: string; dst: string; readonly: boolean; idmap?: boolean }>;
  masked?: readonly string[];
  readonlyPaths?: readonly string[];
  /** Written into the root after pivot_root, owned by the sandbox's root: /etc/hosts... */
  files?: ReadonlyArray<{ path: string; content: string }>;
  /** A pooled network namespace to join (addNetns); absent: a fresh one with loopback only. */
  netns?: string;
  /** A dir on disk holding `upper.img`, an ext4 image (made by makeKeptImage in snapshots/) that the
   * child mounts for the overlay's upper/ and work/: the changes outlive the sandbox, capped by the
   * image's size and inodes. */
  keep?: string;
  /** Made ahead by prep() with this id and these cgroups: hand the request to that child. */
  prepped?: boolean;
  /** Live restore: the runner's read ends of stdout and stderr, which the spawner holds. */
  hold?: { stdout?: number; stderr?: number };
}

/** Live restore: a sandbox the spawner held while no runner was attached (protocol.ts). */
export interface Held {
  readonly id: string;
  readonly pid: number;
  readonly netns?: string;
  /** The spawner's fds of its held stdout and stderr read ends: /proc/<spawner>/fd/N. */
  readonly stdout?: number;
  readonly stderr?: number;
  /** It ended while no runner was attached: its exit is settled already. */
  readonly exited: boolean;
  readonly spawning: Spawning;
}

/** How init ended: `code` when it exited, `signal` when a signal killed it. */
export interface ExitInfo {
  code: number | null;
  signal: number | null;
  /** For a sandbox in a pooled netns: whether the netns was clean and may serve again. */
  netns?: 'reused' | 'discarded';
  /** The spawner died, and the sandbox with it: its signal 9 is that death, not its command's. */
  spawnerGone?: boolean;
}

/** A pooled network namespace: loopback only, or with a veth on `bridge` and eth0 = `cidr`. */
export interface NetnsSpec {
  id: string;
  /** `peers`: a user network's bridge port, not isolated, so its sandboxes reach each other. */
  veth?: { hostIf: string; bridge: string; cidr: string; gateway: string; peers?: boolean };
}

export interface Started {
  readonly pid: number;
  /** From the spawner receiving the request to the command exec'd, in microseconds. */
  readonly setupUs: number;
}

/** A spawn in flight: `ready` when the command was exec'd (or a SpawnError); `exited` always
 * settles, when init ends or at once when nothing was started. */
export interface Spawning {
  readonly ready: Promise<Started>;
  readonly exited: Promise<ExitInfo>;
}

/** A spawn that failed at a named stage (`exec` when the command could not be executed). */
export class SpawnError extends WarrenError {
  readonly stage: SpawnStage;
  readonly errno: number;
  /** `stage` as the spawner said it: a stage SPAWN_STAGES does not know is kept in the message. */
  constructor(id: string, stage: string, errno: number, msg: string) {
    super(stage === 'exec' ? 'WARREN_SANDBOX_EXEC' : 'WARREN_SANDBOX_SPAWN', `sandbox ${id}: ${stage}: ${msg}`);
    this.stage = spawnStage(stage);
    this.errno = errno;
  }
}

const STDIO_FIELDS = ['stdin', 'stdout', 'stderr'];

/** A spawn refused before anything was sent: ready rejects, and nothing ran, so exited says so. */
export function refused(err: WarrenError): Spawning {
  return { ready: Promise.reject(err), exited: Promise.resolve({ code: null, signal: null }) };
}

export function requestFields(r: SpawnRequest): Fields {
  const f: Array<readonly [string, string | number]> = [
    ['id', r.id],
    ['rundir', r.rundir],
    ['tmpfs_size', r.tmpfs.sizeBytes],
    ['tmpfs_inodes', r.tmpfs.inodes],
    ['uid_base', r.uid.base],
    ['uid_count', r.uid.count],
    ['seccomp', r.seccompPath],
    ['cwd', r.cwd ?? '/'],
  ];
  if (r.hostname) f.push(['hostname', r.hostname]);
  for (const a of r.argv) f.push(['arg', a]);
  for (const e of r.env) f.push(['env', e]);
  for (const l of r.layers) f.push(['layer', l]);
  for (const c of r.cgroupDirs) f.push(['cgroup', c]);
  for (const l of r.rlimits ?? []) f.push(['rlimit', `${l.name}:${l.soft}:${l.hard}`]);
  // 'null' is the spawner's default: only pipes are said
  (r.stdio ?? []).forEach((s, fd) => s !== 'null' && f.push([STDIO_FIELDS[fd] as string, `pipe:${s.runnerFd}`]));
  for (const b of r.binds ?? []) f.push(['bind', `${b.src}:${b.dst}:${b.readonly ? 'ro' : 'rw'}${b.idmap ? ':idmap' : ''}`]);
  for (const m of r.masked ?? []) f.push(['mask', m]);
  for (const m of r.readonlyPaths ?? []) f.push(['readonly', m]);
  for (const file of r.files ?? []) f.push(['file', file.path], ['content', file.content]);
  if (r.keep) f.push(['keep', r.keep]);
  if (r.netns) f.push(['netns', r.netns]);
  if (r.prepped) f.push(['prepped', 1]);
  if (r.hold?.stdout !== undefined) f.push(['hold_stdout', r.hold.stdout]);
  if (r.hold?.stderr !== undefined) f.push(['hold_stderr', r.hold.stderr]);
  return f;
}
