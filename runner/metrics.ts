/**
 * The pool's metrics for GET /metrics (Prometheus text format, prom-client): invocations by
 * function and status, their latency, cron firings by function and outcome, starts by label with each phase's time, instances by state
 * and the generic pool's size. A registry of its own, not prom-client's global one, so that two
 * servers in one process (the tests) never mix their counts.
 *
 * What happens on every request (an invocation ends, a warm start) is counted in plain numbers
 * and read into the exposition at scrape time: prom-client's inc() and observe() hash their labels
 * on every call (~1 us a request, measured, more than the rest of the pool's work on it).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Start } from '../router/invoker.js';
import type { CronOutcome } from './crons.js';
import type { PoolObserver } from './pool-parts.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const LATENCY_NAME = 'warren_invocation_seconds';
const LATENCY_HELP = 'From a request taken by the pool to its instance released, seconds.';

type Status = 'ok' | 'timeout' | 'error' | 'queue_full' | 'queue_timeout' | 'start_failed';

/** One function's invocations: counts by status, and the latency histogram's buckets (each
 * bucket its own count, not cumulative; the last one is +Inf), sum and count. */
interface FnCounts {
  readonly status: Map<Status, number>;
  readonly buckets: number[];
  sum: number;
  count: number;
}

export class Metrics implements PoolObserver {
  readonly registry = new Registry();
  readonly #starts = new Counter({ name: 'warren_starts_total', help: 'Instance starts by label: warm (a live instance), prewarm (a generic runtime specialized), cold (spawned on the request path).', labelNames: ['label'], registers: [this.registry] });
  readonly #scheduled = new Counter({ name: 'warren_scheduled_runs_total', help: 'Cron firings by function and outcome (ok, error, timeout; refused: no instance took it; skipped: its run before was still going).', labelNames: ['function', 'outcome'], registers: [this.registry] });
  readonly #phases = new Histogram({ name: 'warren_start_phase_seconds', help: 'Time of each phase of a start, seconds.', labelNames: ['label', 'phase'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly #fns = new Map<string, FnCounts>();
  #warm = 0;

  /** `counts` gives instances by state and `target` the generic pool's target, read at each scrape. */
  constructor(counts: () => Record<string, number>, target: () => number) {
    const registry = this.registry;
    const fns = this.#fns;
    new Counter({
      name: 'warren_invocations_total',
      help: 'Invocations by function and status (ok, timeout, error, queue_full, queue_timeout, start_failed).',
      labelNames: ['function', 'status'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [fn, c] of fns) for (const [status, n] of c.status) this.inc({ function: fn, status }, n);
      },
    });
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
    this.#warm++;
  }

  refused(fn: string, why: 'queue-full' | 'queue-timeout' | 'start-failed'): void {
    count(this.#counts(fn), why === 'queue-full' ? 'queue_full' : why === 'queue-timeout' ? 'queue_timeout' : 'start_failed');
  }

  finished(fn: string, status: 'ok' | 'timeout' | 'error', ms: number): void {
    const c = this.#counts(fn);
    count(c, status);
    const s = ms / 1000;
    let b = 0;
    while (b < LATENCY_BUCKETS.length && s > (LATENCY_BUCKETS[b] as number)) b++;
    (c.buckets[b] as number)++;
    c.sum += s;
    c.count++;
  }

  /** Requests answered so far, by function (live-record.ts scores how busy each was lately). */
  requests(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [fn, c] of this.#fns) out.set(fn, c.count);
    return out;
  }

  /** A cron firing, by how it went (crons.ts). */
  scheduled(fn: string, outcome: CronOutcome): void {
    this.#scheduled.inc({ function: fn, outcome });
  }

  async text(): Promise<{ contentType: string; text: string }> {
    // read now, so the scrape shows every warm start so far (warm starts are all counted here)
    if (this.#warm > 0) {
      this.#starts.inc({ label: 'warm' }, this.#warm);
      this.#warm = 0;
    }
    // prom-client puts a blank line between metrics and ends with a newline
    const text = `${await this.registry.metrics()}\n${latencyText(this.#fns)}`;
    return { contentType: this.registry.contentType, text };
  }

  #counts(fn: string): FnCounts {
    let c = this.#fns.get(fn);
    if (c === undefined) this.#fns.set(fn, (c = { status: new Map(), buckets: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0), sum: 0, count: 0 }));
    return c;
  }
}

function count(c: FnCounts, status: Status): void {
  c.status.set(status, (c.status.get(status) ?? 0) + 1);
}

/** The latency histogram in Prometheus text format, as prom-client writes one. */
function latencyText(fns: ReadonlyMap<string, FnCounts>): string {
  let s = `# HELP ${LATENCY_NAME} ${LATENCY_HELP}\n# TYPE ${LATENCY_NAME} histogram\n`;
  for (const [fn, c] of fns) {
    if (c.count === 0) continue;
    const label = `function="${escapeLabel(fn)}"`;
    let cumulative = 0;
    for (let b = 0; b <= LATENCY_BUCKETS.length; b++) {
      cumulative += c.buckets[b] as number;
      const le = b < LATENCY_BUCKETS.length ? String(LATENCY_BUCKETS[b]) : '+Inf';
      s += `${LATENCY_NAME}_bucket{le="${le}",${label}} ${cumulative}\n`;
    }
    s += `${LATENCY_NAME}_sum{${label}} ${c.sum}\n${LATENCY_NAME}_count{${label}} ${c.count}\n`;
  }
  return s;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
