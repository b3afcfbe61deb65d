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
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';

type Controller = Dispatcher.DispatchController;
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
  return dispatcher.compose((dispatch) => (opts, handler) => dispatch(opts, new StartGate(handler, started)));
}

class StartGate implements Handler {
  readonly #inner: Handler;
  #state: 'waiting' | 'open' | 'failed' = 'waiting';
  #error: Error | undefined;
  /** undici's controller of the upstream request, once it started. */
  #real: Controller | null = null;
  /** The answer's events that came while waiting, in order. */
  #held: Array<() => void> = [];
  /** Whether the inner handler asked for a pause (its own backpressure), apart from ours. */
  #innerPaused = false;
  /** The controller the inner handler sees: its pauses are its own, ours stay ours. */
  readonly #view: Controller;

  constructor(inner: Handler, started: Promise<void>) {
    this.#inner = inner;
    const gate = this;
    this.#view = {
      get aborted() {
        return gate.#real?.aborted ?? gate.#state === 'failed';
      },
      get paused() {
        return gate.#innerPaused;
      },
      get reason() {
        return gate.#real?.reason ?? gate.#error ?? null;
      },
      abort: (reason) => this.#real?.abort(reason),
      pause: () => {
        this.#innerPaused = true;
        if (this.#state === 'open') this.#real?.pause();
      },
      resume: () => {
        this.#innerPaused = false;
        if (this.#state === 'open') this.#real?.resume();
      },
    };
    started.then(
      () => this.#open(),
      (err: unknown) => this.#fail(err instanceof Error ? err : new Error(String(err))),
    );
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.#real = controller;
    if (this.#state === 'failed') {
      controller.abort(this.#error as Error);
      return;
    }
    this.#inner.onRequestStart?.(this.#view, context);
  }

  onRequestUpgrade(_c: Controller, statusCode: number, headers: IncomingHttpHeaders, socket: import('node:stream').Duplex): void {
    this.#pass(() => this.#inner.onRequestUpgrade?.(this.#view, statusCode, headers, socket));
  }

  onResponseStart(_c: Controller, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    this.#pass(() => this.#inner.onResponseStart?.(this.#view, statusCode, headers, statusMessage), true);
  }

  onResponseData(_c: Controller, chunk: Buffer): void {
    this.#pass(() => this.#inner.onResponseData?.(this.#view, chunk), true);
  }

  onResponseEnd(_c: Controller, trailers: IncomingHttpHeaders): void {
    this.#pass(() => this.#inner.onResponseEnd?.(this.#view, trailers));
  }

  onResponseError(_c: Controller, err: Error): void {
    this.#pass(() => this.#inner.onResponseError?.(this.#view, err));
  }

  /** An event: to the inner handler now when open, held while waiting (pausing the connection
   * for one that more may follow), dropped once failed (the inner handler had the error). */
  #pass(event: () => void, more = false): void {
    if (this.#state === 'open') event();
    else if (this.#state === 'waiting') {
      this.#held.push(event);
      if (more) this.#real?.pause();
    }
  }

  #open(): void {
    if (this.#state !== 'waiting') return;
    this.#state = 'open';
    for (const event of this.#held.splice(0)) event();
    if (!this.#innerPaused && this.#real?.paused) this.#real.resume();
  }

  #fail(err: Error): void {
    if (this.#state !== 'waiting') return;
    this.#state = 'failed';
    this.#error = err;
    this.#held = [];
    if (this.#real && !this.#real.aborted) this.#real.abort(err);
    this.#inner.onResponseError?.(this.#view, err);
  }
}
