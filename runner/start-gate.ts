/**
 * A start's first request, sent right behind the load (instance.ts specialize): the runtime holds
 * it until the module is loaded (runtime/protocol.ts), and here its answer's events wait until
 * the start itself is over, so that nothing of the function's reaches the client before the pool
 * knows the start succeeded. A start that failed fails the request with the start's own error,
 * which the router answers as it would acquire()'s (router/invoker.ts).
 *
 * The request asks the runtime for the load's proof (LOAD_PROOF_HEADER): an answer that carries
 * it is the loaded module's, so the load succeeded, and it goes on at once, without waiting for
 * the load's answer on the control socket (the runtime writes that one after it: a wake-up of
 * the host less before the client has its answer). The header is the runtime's word to the host,
 * never passed on.
 *
 *   request written       ──> runtime: waits for the load; serves it once the module serves
 *   answer with the proof ──> `outcome.prove()`, then on to the router as it comes
 *   answer without it     ──> held here (the connection paused) until `outcome.done` settles
 *   done resolves         ──> the held events go to the router in order, then the rest as they come
 *   done rejects          ──> the upstream request is aborted; the router gets the start's error
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { LOAD_PROOF_HEADER } from '../runtime/index.js';

type Controller = Dispatcher.DispatchController;
type Handler = Dispatcher.DispatchHandler;

/** How a start ended, for a request that went out before it did. */
export interface StartOutcome {
  readonly done: Promise<void>;
  failed: boolean;
  succeed(): void;
  fail(err: Error): void;
  /** The first request's answer proved the load (before `done`, or instead of waiting for it):
   * calls `onProof` once, so the start's phases are complete before the answer's head goes on. */
  prove(): void;
  onProof: (() => void) | undefined;
}

export function startOutcome(): StartOutcome {
  let succeed!: () => void;
  let fail!: (err: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    succeed = resolve;
    fail = reject;
  });
  done.catch(() => {}); // no request may have gone out to hear of it
  let proved = false;
  const outcome: StartOutcome = {
    done,
    failed: false,
    succeed,
    fail: (err) => ((outcome.failed = true), fail(err)),
    prove: () => {
      if (proved) return;
      proved = true;
      outcome.onProof?.();
    },
    onProof: undefined,
  };
  return outcome;
}

/** `dispatcher`, with each request's answer held until `outcome` is known (see above). */
export function afterStart(dispatcher: Dispatcher, outcome: StartOutcome): Dispatcher {
  return dispatcher.compose((dispatch) => (opts, handler) => dispatch({ ...opts, headers: askingProof(opts.headers) }, new StartGate(handler, outcome)));
}

/** `headers` and LOAD_PROOF_HEADER, in the form undici was given: a flat name, value list (the
 * router's), pairs from an iterable, or an object. */
function askingProof(headers: Dispatcher.DispatchOptions['headers']): Dispatcher.DispatchOptions['headers'] {
  if (Array.isArray(headers)) return [...(headers as string[]), LOAD_PROOF_HEADER, '?'];
  if (headers != null && Symbol.iterator in headers) return new Map([...(headers as Iterable<[string, string | string[] | undefined]>), [LOAD_PROOF_HEADER, '?']]);
  return { ...headers, [LOAD_PROOF_HEADER]: '?' };
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

  readonly #outcome: StartOutcome;

  constructor(inner: Handler, outcome: StartOutcome) {
    this.#inner = inner;
    this.#outcome = outcome;
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
    outcome.done.then(
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
    const proof = headers[LOAD_PROOF_HEADER] !== undefined;
    delete headers[LOAD_PROOF_HEADER];
    if (proof && this.#state === 'waiting' && statusCode >= 200) {
      this.#outcome.prove();
      this.#open();
    }
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
