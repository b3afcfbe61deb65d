export { Pool } from './pool.js';
export type { PoolOptions, Version, Versions, Logs, LogMeta, PoolObserver } from './pool-parts.js';
export { Generics, type GenericsOptions } from './generics.js';
export { Functions, DEFAULT_LIMITS, type Bundles, type CronTriggers, type FunctionRegistry, type FunctionsOptions, type LogReader } from './functions.js';
export { Crons, MAX_CRONS, checkCrons, type CronOutcome, type CronsOptions } from './crons.js';
export type { ScheduledOutcome, ScheduledResult, ScheduledRun } from './scheduled-run.js';
export { Metrics } from './metrics.js';
export { type InstanceState } from './instance.js';
