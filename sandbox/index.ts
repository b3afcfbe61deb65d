export { SandboxHost, type SandboxOptions, type HostOptions } from './host.js';
export { Sandbox, type SandboxExit, type SandboxState } from './sandbox.js';
export { SpawnError } from './spawner.js';
export type { StdioSpec } from './stdio.js';
export { DEFAULT_LIMITS, DEFAULT_PATH, DEFAULT_RLIMITS, MASKED_PATHS, READONLY_PATHS } from './defaults.js';
export type { Egress, Publish } from './network/index.js';
export { layersInUse } from './layer-use.js';
