export { Pool, type PoolOptions, type Version, type Versions, type Logs, type LogMeta, type PoolObserver } from './pool.js';
export { Generics, type GenericsOptions } from './generics.js';
export { Functions, DEFAULT_LIMITS, type Bundles, type FunctionRegistry, type FunctionsOptions, type LogReader } from './functions.js';
export { Metrics } from './metrics.js';
export { type InstanceState } from './instance.js';
