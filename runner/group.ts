/**
 * A group: one function version's instances, its starts under way and its bounded queue of
 * requests waiting for a slot (pool.ts owns the groups and decides; this is their data, the wait
 * of one request in a queue, and the plain view policy.ts decides on).
 */
import { WarrenError } from '../lib/errors.js';
import type { Invocation } from '../router/invoker.js';
import type { Instance } from './instance.js';
import type { Version } from './pool-parts.js';
import type { InstanceView } from './policy.js';

/** A request waiting in a group's queue. */
export interface Waiter {
  readonly since: number;
  resolve(inv: Invocation): void;
  reject(err: unknown): void;
}

export interface Group {
  readonly key: string;
  readonly version: Version;
  readonly instances: Set<Instance>;
  starting: number;
  /** First requests handed to instances still starting (pool.ts #start): they fill those as queued ones would. */
  handed: number;
  readonly queue: Waiter[];
}

export function group(version: Version): Group {
  return { key: version.key, version, instances: new Set(), starting: 0, handed: 0, queue: [] };
}

/**
 * Waits in `g`'s queue until the pool hands the request an invocation (the waiter's resolve),
 * the client goes away (`signal`: rejects with its reason) or the function's timeout passes
 * (WARREN_FN_QUEUE_TIMEOUT, after `timedOut()`). A waiter that leaves is taken out of the queue.
 */
export function waitInQueue(g: Group, signal: AbortSignal, since: number, timedOut: () => void): Promise<Invocation> {
  return new Promise<Invocation>((resolve, reject) => {
    const timer = setTimeout(() => {
      leave();
      timedOut();
      reject(new WarrenError('WARREN_FN_QUEUE_TIMEOUT', `function '${g.version.fn}' had no instance free within ${g.version.timeoutMs} ms`));
    }, g.version.timeoutMs);
    const onAbort = () => {
      leave();
      reject(signal.reason);
    };
    const waiter: Waiter = {
      since,
      resolve: (inv) => {
        settle();
        resolve(inv);
      },
      reject: (err) => {
        settle();
        reject(err);
      },
    };
    const settle = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const leave = () => {
      settle();
      const at = g.queue.indexOf(waiter);
      if (at >= 0) g.queue.splice(at, 1);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);
    g.queue.push(waiter);
  });
}

/** What policy.ts route() sees of `g`: its ready and draining instances, and one per start. */
export function views(g: Group): InstanceView[] {
  const out: InstanceView[] = [];
  for (const i of g.instances) {
    if (i.state === 'ready' || i.state === 'draining') out.push({ id: i.id, state: i.state, busy: i.busy, lastUsed: i.lastUsed });
  }
  for (let n = 0; n < g.starting; n++) out.push({ id: `starting-${n}`, state: 'starting', busy: 0, lastUsed: 0 });
  return out;
}
