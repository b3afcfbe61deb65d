/**
 * What the pool needs from the parts around it, each declared here where the pool needs it (STYLE
 * rule 2): the function service's versions, the log store, the metrics; and its options.
 */
import type { Readable } from 'node:stream';
import type { Start } from '../router/invoker.js';
import type { Specialization } from './instance.js';

/** What the pool needs of a function's live version (the function service gives it). */
export interface Version {
  readonly fn: string;
  readonly version: number;
  /** Unique per Version object: a version whose secrets changed is a new one, with new instances. */
  readonly key: string;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly memoryBytes: number;
  /** Its limits, egress, env (vars and secrets, read now) and module. */
  specialization(): Promise<Specialization>;
}

export interface Versions {
  live(fn: string): Version | undefined;
}

/** Where instances' output and the pool's own reports about them go (runner/logs.ts). */
export interface Logs {
  attach(stream: Readable, which: 'stdout' | 'stderr', meta: LogMeta): void;
  report(meta: LogMeta, text: string, requestId?: string): void;
}
export interface LogMeta {
  fn: string;
  version: number;
  instance: string;
}

/** What the pool tells the metrics. */
export interface PoolObserver {
  /** A prewarm or cold start. */
  started(fn: string, start: Start): void;
  /** A live instance handed over. */
  warm(): void;
  refused(fn: string, why: 'queue-full' | 'queue-timeout' | 'start-failed'): void;
  /** An invocation released, `ms` after it was handed over. */
  finished(fn: string, status: 'ok' | 'timeout' | 'error', ms: number): void;
}

export interface PoolOptions {
  /** Instances of one function at most. */
  readonly maxInstances: number;
  /** Requests waiting per function at most; one more is refused with 429. */
  readonly queueCap: number;
  /** An idle instance lives this long after its last request. */
  readonly keepAliveMs: number;
  /** Memory limits of all function instances together, at most. */
  readonly memoryBudgetBytes: number;
  /** Tasks per instance at most (a fork bomb stops there). */
  readonly pids: number;
  /**
   * serve --handoff: a host-routed client connection goes to its instance after its first
   * answer (router/invoker.ts handOff), and holds one of its concurrency slots until it closes.
   * `domain` as the router routes it; `keepAliveMs`: the router's idle-connection timeout.
   */
  readonly handoff?: { readonly domain: string; readonly keepAliveMs: number };
}
