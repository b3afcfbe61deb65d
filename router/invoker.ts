/**
 * What the router needs from whoever runs functions (runner/ implements it; cli/ wires the two):
 * an instance to send one request to. The router owns the HTTP exchange (streaming both ways,
 * the timeout's clock, the answer to the client); the invoker owns the instances.
 *
 *   router                                    invoker
 *   acquire(fn, signal)               --->    a ready instance of fn's live version (warm), or a
 *                                             generic runtime specialized for it (prewarm), or a
 *                                             new sandbox (cold); waits in fn's bounded queue
 *   dispatch the request on
 *   invocation.dispatcher, with the
 *   REQUEST_ID_HEADER set
 *   release('ok' | 'timeout' | 'broken') --->  'ok': the instance serves again; 'timeout': it is
 *                                             destroyed; 'broken': it is destroyed, and the
 *                                             promise says why it failed, as a client reads it
 */
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';

/** How an instance came to serve a request: a live one of this version (warm), a generic
 * runtime specialized for it (prewarm), or a sandbox spawned on the request path (cold). */
export type StartLabel = 'warm' | 'prewarm' | 'cold';

export interface Start {
  label: StartLabel;
  /** From acquire() to the instance ready to serve (its module loaded), ms. Final once the
   * answer's head came (a start's first request is handed over before it is over). */
  ms: number;
  /** The phases of a prewarm or cold start (take, spawn, boot, specialize, load...), ms each, in
   * order; final, like ms, once the answer's head came. */
  phases: ReadonlyArray<readonly [name: string, ms: number]>;
}

export type Outcome = 'ok' | 'timeout' | 'broken';

export interface Invocation {
  /**
   * The instance's function socket (HTTP/1.1, kept alive): every path there is the function's.
   * For the first request of a prewarm or cold start it is handed over before the start is over
   * (the request goes out right behind the module's load): a start that then fails fails the
   * request with a WarrenError before any answer (onResponseError), which the router answers
   * as it would have answered acquire()'s rejection with it.
   */
  readonly dispatcher: Dispatcher;
  readonly fn: string;
  readonly version: number;
  /** The instance's id (a sandbox id), for logs and headers. */
  readonly instance: string;
  readonly start: Start;
  /** The function's per-request timeout: past it the router answers 504 and releases 'timeout'. */
  readonly timeoutMs: number;
  /**
   * Once, when the exchange is over. 'ok' also when the client went away. For 'broken' (the
   * instance's socket failed before the response ended) it resolves with why, as the client
   * should read it ('out of memory', 'the function's process exited with code 1'); otherwise
   * with undefined.
   */
  release(outcome: Outcome): Promise<string | undefined>;
  /**
   * Present when the invoker can take client connections (serve --handoff): once the exchange's
   * answer went out whole, the router may give the client's connection to the instance, which
   * serves its later requests itself (runtime/handoff.ts). Releases the invocation 'ok' either
   * way. True: the connection is the instance's now, and the caller closes its own copy with
   * destroy() (never end(): a FIN would end it for the instance too). False: it stayed the
   * caller's (the instance cannot take one now).
   */
  handOff?(socket: Socket): boolean;
}

export interface Invoker {
  /**
   * An instance for one request of `fn`. Rejects with a WarrenError: WARREN_FN_NOT_FOUND (no such
   * function), WARREN_FN_QUEUE_FULL (its queue is full; `retryAfterS` on the error), WARREN_FN_START
   * (no instance could be started, with why), WARREN_HOST_CLOSED (shutting down); or with
   * `signal.reason` when the client went away while it waited.
   *
   * `signal` is the client connection's: it aborts when the connection closes, and the requests a
   * keep-alive connection carries one after another share it (an AbortController per request
   * cost the router more than all its other per-request work). So a listener added to it must be
   * removed once acquire() settles, and a warm acquire should not touch it at all.
   */
  acquire(fn: string, signal: AbortSignal): Promise<Invocation>;
}
