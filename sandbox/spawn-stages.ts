/**
 * The stages a spawn can fail at, as the C side names them (werr_set's stage in
 * sandbox/native/*.c; spawn-stages.test.ts checks that the two lists agree). A closed set, so
 * that callers can branch on a stage: `exec` is the command that could not be executed,
 * `request` a request the spawner refused before anything ran.
 */
export const SPAWN_STAGES = [
  'address', 'attach', 'bind', 'bridge', 'bridge-port', 'caps', 'cgroup', 'cgroupns', 'clone', 'dev', 'exec',
  'files', 'hostname', 'idmap', 'keep', 'kill', 'layer', 'link', 'link-del', 'loopback', 'mask', 'mount',
  'namespace', 'neigh', 'netns', 'overlay', 'pivot_root', 'proc', 'readonly', 'request', 'rlimit',
  'route', 'seccomp', 'setsid', 'setup', 'stdio', 'sync', 'sys', 'tmpfs', 'userns', 'veth',
] as const;

export type SpawnStage = (typeof SPAWN_STAGES)[number];

const KNOWN: ReadonlySet<string> = new Set(SPAWN_STAGES);

/** A stage from the wire; one the list does not know (a newer spawner) counts as `setup`. */
export function spawnStage(s: string | undefined): SpawnStage {
  return s !== undefined && KNOWN.has(s) ? (s as SpawnStage) : 'setup';
}
