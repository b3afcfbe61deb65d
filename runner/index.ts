export { Pool } from './pool.js';
export type { PoolOptions, Version, Versions, Logs, LogMeta, PoolObserver } from './pool-parts.js';
export { Generics, type GenericsOptions } from './generics.js';
export { Functions, DEFAULT_LIMITS, type Bundles, type FunctionRegistry, type FunctionsOptions, type LogReader } from './functions.js';
export { Metrics } from './metrics.js';
export { type InstanceState } from './instance.js';
