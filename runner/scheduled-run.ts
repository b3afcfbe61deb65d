/**
 * One cron firing on an instance the pool handed over as it hands one to a request (Pool.scheduled):
 * the instance counts as busy, the function's timeout applies, and the release says how it went,
 * so limits, the queue, crash and OOM handling and the metrics treat it as an invocation. The run
 * itself goes over the instance's control socket (runtime/protocol.ts CONTROL_SCHEDULED_PATH),
 * which only the host reaches: no HTTP request can fire a function's scheduled().
 *
 *   handler settled, no throw          -> 'ok',      release('ok')
 *   handler or a waitUntil threw       -> 'error',   release('ok'): the instance is fine
 *   the runtime could not run it       -> 'error',   release('ok') (no scheduled() handler)
 *   the clock ran out (timeoutMs)      -> 'timeout', release('timeout'): the instance is destroyed
 *   the control connection broke       -> 'error',   release('broken'): destroyed, with why (OOM)
 *
 * It writes the run's start and end as 'warren' lines of the function's log, tagged with the run's
 * id, as the runtime tags the handler's console output.
 */
import { isWarrenError } from '../lib/errors.js';
import type { Invocation } from '../router/invoker.js';
import type { RuntimeConnection } from '../runtime/index.js';
import type { Logs } from './pool-parts.js';

/** One firing of one cron of a function. */
export interface ScheduledRun {
  /** The run's id: its log lines carry it, as a request's carry the request id. */
  readonly id: string;
  readonly cron: string;
  /** When the firing was due, epoch ms. */
  readonly scheduledTime: number;
}

export type ScheduledOutcome = 'ok' | 'error' | 'timeout';

export interface ScheduledResult {
  readonly outcome: ScheduledOutcome;
  /** Why, for 'error' and 'timeout'. */
  readonly error?: string;
  readonly ms: number;
}

export async function runScheduled(inv: Invocation, conn: RuntimeConnection, run: ScheduledRun, logs: Pick<Logs, 'report'>): Promise<ScheduledResult> {
  const meta = { fn: inv.fn, version: inv.version, instance: inv.instance };
  const what = `scheduled run of cron '${run.cron}'`;
  logs.report(meta, `${what} started (due ${new Date(run.scheduledTime).toISOString()})`, run.id);
  const t0 = performance.now();
  const clock = new AbortController();
  const timer = setTimeout(() => clock.abort(), inv.timeoutMs);
  let outcome: ScheduledOutcome;
  let error: string | undefined;
  try {
    const answer = await conn.scheduled({ cron: run.cron, scheduledTime: run.scheduledTime, rid: run.id }, clock.signal);
    await inv.release('ok');
    outcome = answer.outcome === 'ok' ? 'ok' : 'error';
    if (answer.outcome === 'exception') error = `${answer.error ?? 'the handler failed'}${answer.noRetry ? ' (it called noRetry())' : ''}`;
  } catch (err) {
    if (clock.signal.aborted) {
      outcome = 'timeout';
      error = `timed out after ${inv.timeoutMs} ms`;
      await inv.release('timeout');
    } else if (isWarrenError(err, 'WARREN_RUNTIME_SCHEDULED')) {
      outcome = 'error';
      error = err.message.replace(/^runtime POST \S+ answered \d+: /, '');
      await inv.release('ok');
    } else {
      outcome = 'error';
      error = `the instance ended: ${(await inv.release('broken')) ?? 'its connection broke'}`;
    }
  } finally {
    clearTimeout(timer);
  }
  const ms = performance.now() - t0;
  const took = `${Math.round(ms)} ms`;
  logs.report(meta, outcome === 'ok' ? `${what} ended ok (${took})` : `${what} failed: ${error} (${took})`, run.id);
  return { outcome, ...(error !== undefined && { error }), ms };
}
