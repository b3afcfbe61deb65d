/** What every sandbox gets unless told otherwise: Docker's choices, written down as data. */

/** Hidden from the sandbox (a file becomes /dev/null, a dir an empty read-only tmpfs), as Docker does. */
export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Visible but read-only, as Docker does. */
export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export const DEFAULT_RLIMITS = [
  { name: 'nofile', soft: 1024, hard: 4096 },
  { name: 'core', soft: 0, hard: 0 },
] as const;

export const DEFAULT_LIMITS = {
  memoryBytes: 256 * 1024 ** 2,
  cpus: 1,
  pids: 256,
  tmpfsBytes: 64 * 1024 ** 2,
  tmpfsInodes: 16384,
} as const;

/** Root inside maps to `base + slot * UID_RANGE` on the host: a different range per sandbox. */
export { UID_RANGE, UID_BASE_DEFAULT, UID_SLOTS_DEFAULT } from '../lib/uid-range.js';
/** Under the run dir: the uid-range leases, one per sandbox, owned by the sandbox id. */
export const UID_LEASES = 'uids';

/** Under the run dir: one io dir per sandbox that asked for one (SandboxOptions.io). */
export const IO_DIRS = 'io';

/** Under the run dir, with live restore (HostOptions.liveRestore): a spawner whose runner died
 * waits on this socket for the next one, and each sandbox's host side is recorded in this dir. */
export const ATTACH_SOCKET = 'spawner.sock';
export const RESTORE_RECORDS = 'restore';
