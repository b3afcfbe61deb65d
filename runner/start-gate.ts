/**
 * A start's first request, sent right behind the load (instance.ts specialize): the runtime holds
 * it until the module is loaded (runtime/protocol.ts), and here its answer's events wait until
 * the start itself is over, so that nothing of the function's reaches the client before the pool
 * knows the start succeeded. A start that failed fails the request with the start's own error,
 * which the router answers as it would acquire()'s (router/invoker.ts).
 *
 *   request written       ──> runtime: waits for the load; serves it once the module serves
 *   answer's events       ──> held here (the connection paused) until `started` settles
 *   started resolves      ──> the held events go to the router in order, then the rest as they come
 *   started rejects       ──> the upstream request is aborted; the router gets the start's error
 */
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';

/** undici's raw handler callbacks (the router's exchange is one: router/proxy.ts). The gate takes
 * and gives these, not the controller API: a gate of that API between two raw handlers made undici
 * parse the head into an object and build raw headers again, on every start's first answer, and
 * that merged repeated headers (two Set-Cookie became one, comma-joined). */
type Handler = Dispatcher.DispatchHandler;

/** How a start ended, for a request that went out before it did. */
export interface StartOutcome {
  readonly done: Promise<void>;
  failed: boolean;
  succeed(): void;
  fail(err: Error): void;
}

export function startOutcome(): StartOutcome {
  let succeed!: () => void;
  let fail!: (err: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    succeed = resolve;
    fail = reject;
  });
  done.catch(() => {}); // no request may have gone out to hear of it
  const outcome: StartOutcome = { done, failed: false, succeed, fail: (err) => ((outcome.failed = true), fail(err)) };
  return outcome;
}

/** `dispatcher`, with each request's answer held until `started` settles (see above). */
export function afterStart(dispatcher: Dispatcher, started: Promise<void>): Dispatcher {
  const dispatch = (opts: Dispatcher.DispatchOptions, handler: Handler): boolean => dispatcher.dispatch(opts, new StartGate(handler, started));
  // as undici's compose() does: the same dispatcher, its request() and the rest going through
  // this dispatch
  return new Proxy(dispatcher, { get: (target, key) => (key === 'dispatch' ? dispatch : Reflect.get(target, key)) });
}

/** An answer's event: true when the connection may go on reading (a raw handler's return). */
type Event = () => boolean;

class StartGate implements Handler {
  readonly #inner: Handler;
  #state: 'waiting' | 'open' | 'failed' = 'waiting';
  #error: Error | undefined;
  /** undici's abort of the upstream request, once it started. */
  #abort: ((err?: Error) => void) | null = null;
  /** undici's resume of the answer's reading, once its head came. */
  #resume: (() => void) | null = null;
  /** The answer's events that came while waiting, in order. */
  #held: Event[] = [];
  /** Reading is paused: by us (while waiting) or by the inner handler (its own backpressure). */
  #paused = false;
  /** The inner handler asked for the pause, apart from ours. */
  #innerPaused = false;

  constructor(inner: Handler, started: Promise<void>) {
    this.#inner = inner;
    started.then(
      () => this.#open(),
      (err: unknown) => this.#fail(err instanceof Error ? err : new Error(String(err))),
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#state === 'failed') {
      abort(this.#error);
      return;
    }
    this.#inner.onConnect?.(abort);
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    this.#pass(() => (this.#inner.onUpgrade?.(statusCode, headers, socket), true));
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    this.#resume = resume;
    return this.#pass(() => this.#inner.onHeaders?.(statusCode, headers, this.#innerResume, statusText) !== false);
  }

  onData(chunk: Buffer): boolean {
    return this.#pass(() => this.#inner.onData?.(chunk) !== false);
  }

  onComplete(trailers: string[] | null): void {
    this.#pass(() => (this.#inner.onComplete?.(trailers), true));
  }

  onError(err: Error): void {
    this.#pass(() => (this.#inner.onError?.(err), true));
  }

  /** An event: to the inner handler now when open, held while waiting (reading paused, in case
   * more follow), dropped once failed (the inner handler had the error). */
  #pass(event: Event): boolean {
    if (this.#state === 'open') return this.#ran(event);
    if (this.#state === 'waiting') {
      this.#held.push(event);
      this.#paused = true;
    }
    return false;
  }

  /** Runs an event; a false from the inner handler pauses reading until it resumes. */
  #ran(event: Event): boolean {
    if (event()) return true;
    this.#innerPaused = this.#paused = true;
    return false;
  }

  readonly #innerResume = (): void => {
    this.#innerPaused = false;
    if (this.#state === 'open') this.#wake();
  };

  #wake(): void {
    if (!this.#paused || this.#innerPaused) return;
    this.#paused = false;
    this.#resume?.();
  }

  #open(): void {
    if (this.#state !== 'waiting') return;
    this.#state = 'open';
    for (const event of this.#held.splice(0)) this.#ran(event);
    this.#wake();
  }

  #fail(err: Error): void {
    if (this.#state !== 'waiting') return;
    this.#state = 'failed';
    this.#error = err;
    this.#held = [];
    this.#abort?.(err);
    this.#inner.onError?.(err);
  }
}
