/**
 * The pool's metrics for GET /metrics (Prometheus text format, prom-client): invocations by
 * function and status, their latency, cron firings by function and outcome, starts by label with each phase's time, instances by state
 * and the generic pool's size. A registry of its own, not prom-client's global one, so that two
 * servers in one process (the tests) never mix their counts.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Start } from '../router/invoker.js';
import type { CronOutcome } from './crons.js';
import type { PoolObserver } from './pool-parts.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics implements PoolObserver {
  readonly registry = new Registry();
  readonly #invocations = new Counter({ name: 'warren_invocations_total', help: 'Invocations by function and status (ok, timeout, error, queue_full, queue_timeout, start_failed).', labelNames: ['function', 'status'], registers: [this.registry] });
  readonly #latency = new Histogram({ name: 'warren_invocation_seconds', help: 'From a request taken by the pool to its instance released, seconds.', labelNames: ['function'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly #starts = new Counter({ name: 'warren_starts_total', help: 'Instance starts by label: warm (a live instance), prewarm (a generic runtime specialized), cold (spawned on the request path).', labelNames: ['label'], registers: [this.registry] });
  readonly #scheduled = new Counter({ name: 'warren_scheduled_runs_total', help: 'Cron firings by function and outcome (ok, error, timeout; refused: no instance took it; skipped: its run before was still going).', labelNames: ['function', 'outcome'], registers: [this.registry] });
  readonly #phases = new Histogram({ name: 'warren_start_phase_seconds', help: 'Time of each phase of a start, seconds.', labelNames: ['label', 'phase'], buckets: LATENCY_BUCKETS, registers: [this.registry] });

  /** `counts` gives instances by state and `target` the generic pool's target, read at each scrape. */
  constructor(counts: () => Record<string, number>, target: () => number) {
    const registry = this.registry;
    new Gauge({
      name: 'warren_instances',
      help: 'Sandboxes by state (booting, generic, specializing, ready, draining).',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(counts())) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'warren_pool_target',
      help: 'Generic warm runtimes the pool aims to keep now.',
      registers: [registry],
      collect() {
        this.set(target());
      },
    });
  }

  started(_fn: string, start: Start): void {
    this.#starts.inc({ label: start.label });
    for (const [phase, ms] of start.phases) this.#phases.observe({ label: start.label, phase }, ms / 1000);
  }

  /** A warm start has no phases; it is counted when the pool hands a live instance over. */
  warm(): void {
    this.#starts.inc({ label: 'warm' });
  }

  refused(fn: string, why: 'queue-full' | 'queue-timeout' | 'start-failed'): void {
    this.#invocations.inc({ function: fn, status: why.replace('-', '_') });
  }

  finished(fn: string, status: 'ok' | 'timeout' | 'error', ms: number): void {
    this.#invocations.inc({ function: fn, status });
    this.#latency.observe({ function: fn }, ms / 1000);
  }

  /** A cron firing, by how it went (crons.ts). */
  scheduled(fn: string, outcome: CronOutcome): void {
    this.#scheduled.inc({ function: fn, outcome });
  }

  async text(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
