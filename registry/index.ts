/**
 * registry: functions, their versions and deployments, and secrets, behind one small interface
 * (registry.ts); `warren serve` keeps them in SQLite in its state dir (open.ts), so a restart
 * keeps every deployed function. Bundles live in the layer store (snapshots putBundle); a version
 * names its bundle's layer by digest.
 */
export type { Deployment, DeployKind, NewVersion, Registry, StoredFunction, StoredVersion, VersionEgress, VersionLimits } from './registry.js';
export { openRegistry, registryBundleDigests, REGISTRY_FILE, type OpenRegistryOptions } from './open.js';
export { rollbackTarget } from './history.js';
