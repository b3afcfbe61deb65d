/**
 * What the sandbox layer tells whoever listens, on node:diagnostics_channel (as undici does), so
 * metrics and the bench observe it without wiring into it:
 *
 *   import diagnostics_channel from 'node:diagnostics_channel';
 *   diagnostics_channel.subscribe('warren:sandbox:exit', (e) => record(e as SandboxExitEvent));
 *
 * | channel                  | when                                             | payload              |
 * | ------------------------ | ------------------------------------------------ | -------------------- |
 * | warren:sandbox:create    | host.create() sent the spawn request             | SandboxCreateEvent   |
 * | warren:sandbox:ready     | the command was exec'd                           | SandboxReadyEvent    |
 * | warren:sandbox:oom       | it ended, and the OOM killer acted in it         | SandboxOomEvent      |
 * | warren:sandbox:exit      | it ended and everything it held was released     | SandboxExitEvent     |
 * | warren:sandbox:limits    | sandbox.setLimits() applied new limits           | SandboxLimitsEvent   |
 * | warren:sandbox:egress    | sandbox.setEgress() applied a new egress         | SandboxEgressEvent   |
 *
 * oom comes at the end, just before exit, also when the kill hit a child and the command lived
 * on: cgroup v1 tells of an OOM kill as it happens only through an eventfd (cgroup.event_control),
 * which Node cannot make; the counts are read from the cgroup as the sandbox is released.
 *
 * Payloads are plain objects, times in milliseconds from performance.now() at host.create().
 * Each is built only when its channel has subscribers: the spawn path pays one property read.
 * What a subscriber throws never reaches the sandbox layer: diagnostics_channel rethrows it on a
 * later tick, as an uncaught exception, as it does for every channel.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import type { CgroupLimits, CgroupStats } from './cgroups/index.js';
import type { Egress } from './network/index.js';

export const channels = {
  create: diagnostics_channel.channel('warren:sandbox:create'),
  ready: diagnostics_channel.channel('warren:sandbox:ready'),
  oom: diagnostics_channel.channel('warren:sandbox:oom'),
  exit: diagnostics_channel.channel('warren:sandbox:exit'),
  limits: diagnostics_channel.channel('warren:sandbox:limits'),
  egress: diagnostics_channel.channel('warren:sandbox:egress'),
} as const;

export interface SandboxCreateEvent {
  id: string;
  limits: Required<CgroupLimits>;
  /** 'bridge': a veth with an address (`ip`); 'loopback': no network beyond lo. */
  network: 'bridge' | 'loopback';
  ip: string | undefined;
  /** It was a spare (spare-sandboxes.ts): its clone and cgroup join were done before the request. */
  spare: boolean;
  /** From host.create() called to the spawn request sent. */
  createMs: number;
}

export interface SandboxReadyEvent {
  id: string;
  /** Host pid of its init. */
  pid: number;
  /** The spawner's part: from the request received to the command exec'd, microseconds. */
  setupUs: number;
  /** From host.create() called to ready. */
  readyMs: number;
}

export interface SandboxOomEvent {
  id: string;
  /** Tasks the OOM killer killed in its cgroup. */
  oomKills: number;
  /** Its memory limit at the end (after any setLimits). */
  memoryBytes: number;
}

export interface SandboxExitEvent {
  id: string;
  /** As a shell reports it: the status, or 128+N for signal N. */
  code: number;
  signal: number | null;
  oomKilled: boolean;
  stats: CgroupStats | null;
  /** From host.create() called to everything released. */
  lifetimeMs: number;
}

export interface SandboxLimitsEvent {
  id: string;
  /** The limits asked for (those left out did not change). */
  limits: CgroupLimits;
  tookMs: number;
}

export interface SandboxEgressEvent {
  id: string;
  egress: Egress;
  tookMs: number;
}
