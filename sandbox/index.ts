export { SandboxHost } from './host.js';
export type { SandboxOptions, HostOptions } from './host-options.js';
export { Sandbox, type SandboxExit, type SandboxState } from './sandbox.js';
export { SpawnError } from './spawn-request.js';
export type { StdioSpec } from './stdio.js';
export { DEFAULT_LIMITS, DEFAULT_PATH, DEFAULT_RLIMITS, MASKED_PATHS, READONLY_PATHS } from './defaults.js';
export { parseCidr, type Egress, type Publish } from './network/index.js';
export {
  checkName,
  claimSandboxName,
  claimNetwork,
  collectNetworks,
  createNetwork,
  DEFAULT_POOL,
  networkConfig,
  NetworkStore,
  removeNetwork,
  type NetworkConfig,
  type NetworkRecord,
} from './network/index.js';
export { layersInUse } from './layer-use.js';
export { collectGarbage, stopWaitingSpawner, type GcReport } from './gc.js';
export { CREATE_STEPS, type CreateStep, type FaultSeam } from './host-options.js';
export { RELEASE_STEPS, type ReleaseStep } from './sandbox.js';
export { SPAWN_STAGES, type SpawnStage } from './spawn-stages.js';
export { checkUidBase, preflight } from './preflight.js';
export {
  channels as sandboxChannels,
  type SandboxCreateEvent,
  type SandboxEgressEvent,
  type SandboxExitEvent,
  type SandboxLimitsEvent,
  type SandboxOomEvent,
  type SandboxReadyEvent,
} from './events.js';
export { IO_DIR_CAP } from './io-dir.js';
