export { SandboxHost, type SandboxOptions, type HostOptions } from './host.js';
export { Sandbox, type SandboxExit, type SandboxState } from './sandbox.js';
export { SpawnError, type StdioSpec } from './spawner.js';
export { DEFAULT_LIMITS, DEFAULT_PATH, DEFAULT_RLIMITS, MASKED_PATHS, READONLY_PATHS } from './defaults.js';
export type { Egress, Publish } from './network/index.js';
export { layersInUse } from './layer-use.js';
export { IO_DIR_CAP } from './io-dir.js';
