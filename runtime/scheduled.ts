/**
 * A cron firing, as Workers run one: the module's `scheduled(event, env, ctx)` with
 * `event = { type: 'scheduled', cron, scheduledTime, noRetry() }`. The run is over once the handler
 * and every ctx.waitUntil promise it made (also one made while those ran) settled. Everything it
 * does runs under the run's id (log.ts), so its console output is tagged as a request's is.
 */
import { errorText, report, withRequestId } from './log.js';
import { MAX_REQUEST_ID_LENGTH, type ScheduledAnswer, type ScheduledRequest } from './protocol.js';
import type { ExecutionContext } from './serve.js';

/** The event a Workers scheduled() handler gets (its ScheduledController). */
export interface ScheduledEvent {
  readonly type: 'scheduled';
  readonly cron: string;
  readonly scheduledTime: number;
  noRetry(): void;
}

export type ScheduledHandler = (event: ScheduledEvent, env: Record<string, unknown>, ctx: ExecutionContext) => unknown;

/** A scheduled request the runtime cannot act on (answered 400). */
export class BadScheduledRequest extends Error {}

/** Checks a scheduled request's shape; throws BadScheduledRequest naming what is wrong. */
export function parseScheduledRequest(body: string): ScheduledRequest {
  let req: unknown;
  try {
    req = JSON.parse(body);
  } catch {
    throw new BadScheduledRequest('the scheduled request is not JSON');
  }
  const { cron, scheduledTime, rid } = (typeof req === 'object' && req !== null ? req : {}) as Record<string, unknown>;
  if (typeof cron !== 'string' || cron === '') throw new BadScheduledRequest("'cron' is not a non-empty string");
  if (typeof scheduledTime !== 'number' || !Number.isFinite(scheduledTime)) throw new BadScheduledRequest("'scheduledTime' is not a number of epoch ms");
  if (typeof rid !== 'string' || rid === '' || rid.length > MAX_REQUEST_ID_LENGTH) throw new BadScheduledRequest(`'rid' is not a string of 1 to ${MAX_REQUEST_ID_LENGTH} characters`);
  return { cron, scheduledTime, rid };
}

/**
 * Runs one firing. Never rejects: a throw is the answer's outcome, and its stack goes to the log.
 * `pending` is the runtime's set of waitUntil work, which a SIGTERM drain waits for: the run and
 * its promises are in it while they go.
 */
export function runScheduled(
  handler: ScheduledHandler,
  env: Record<string, unknown>,
  req: ScheduledRequest,
  pending: Set<Promise<unknown>>,
): Promise<ScheduledAnswer> {
  const run = withRequestId(req.rid, async (): Promise<ScheduledAnswer> => {
    let noRetry = false;
    let error: string | undefined;
    const failed = (what: string, err: unknown) => {
      // the catch runs in the run's context: the report carries its id
      report(`${what}: ${errorText(err)}`);
      error ??= err instanceof Error ? err.message : String(err);
    };
    const waits: Promise<unknown>[] = [];
    const ctx: ExecutionContext = {
      waitUntil(promise) {
        const p = Promise.resolve(promise).catch((err: unknown) => failed('a waitUntil promise of the scheduled run rejected', err));
        waits.push(p);
        track(pending, p);
      },
      passThroughOnException() {
        // nothing to pass through to
      },
    };
    const event: ScheduledEvent = Object.freeze({
      type: 'scheduled' as const,
      cron: req.cron,
      scheduledTime: req.scheduledTime,
      noRetry: () => {
        noRetry = true;
      },
    });
    try {
      await handler(event, env, ctx);
    } catch (err) {
      failed('the scheduled handler threw', err);
    }
    // by index: a waitUntil called while these settle joins the list, and is waited for too
    for (let i = 0; i < waits.length; i++) await waits[i];
    return error === undefined ? { ok: true, outcome: 'ok', noRetry } : { ok: true, outcome: 'exception', error, noRetry };
  });
  track(pending, run);
  return run;
}

function track(pending: Set<Promise<unknown>>, p: Promise<unknown>): void {
  pending.add(p);
  void p.finally(() => pending.delete(p));
}
