/**
 * Between node:http and the Workers API, through @hono/node-server's request listener: it hands
 * the module a lightweight Request that reads node's IncomingMessage only as far as the module
 * asks (its body streams, through a bounded web stream), and writes the module's Response to
 * node's ServerResponse without building a Web Response where it need not (a string or bytes go
 * out at once; a stream chunk by chunk, as the client takes them). It swaps its own lighter
 * Request and Response classes in as the globals, which is where most of its speed comes from:
 * so the listener must be made before any module is imported (main.ts).
 *
 * Everything a request does runs under its request id (log.ts), from the head to the last byte
 * of the response: the handler, its awaits and timers, its waitUntil work, its response stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { errorText, report, requestIdOf, withRequestId } from './log.js';
import { REQUEST_ID_HEADER } from './protocol.js';

/** The module's handler as the Workers module format defines it. */
export type FetchHandler = (request: Request, env: Record<string, unknown>, ctx: ExecutionContext) => unknown;

export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
}

/** What a request is served with: the module's handler and the function's env. */
export interface Serving {
  handler: FetchHandler;
  env: Record<string, unknown>;
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

/** ctx for one invocation: waitUntil's promises are kept in `pending` so that a drain waits for them. */
export function executionContext(pending: Set<Promise<unknown>>): ExecutionContext {
  return {
    waitUntil(promise) {
      // the catch runs in the context waitUntil was called in: the report carries the request's id
      const p = Promise.resolve(promise).catch((err: unknown) => report(`a waitUntil promise rejected: ${errorText(err)}`));
      pending.add(p);
      void p.finally(() => pending.delete(p));
    },
    passThroughOnException() {
      // there is no origin behind a warren function to pass through to: an exception is a 500
    },
  };
}

function threw(err: unknown, request: Request): Response {
  // most often a read of the body that failed because of it: not the function's bug
  const gone = request.signal.aborted ? 'the client went away mid-request, then ' : '';
  report(`${gone}the function threw: ${errorText(err)}`);
  return new Response('the function threw an exception\n', { status: 500, headers: TEXT });
}

/**
 * The key under which @hono/node-server's lightweight Response keeps [status, body, headers] while
 * no Web Response was built for it (not exported: found on a probe, once the listener swapped its
 * Response in). Without it (another version) every check below builds the Web Response: slower,
 * still right.
 */
let lightKey: symbol | null | undefined;

function unusable(response: Response): string | null {
  // node:http would refuse these while writing, and the listener would then show the client why
  if (response.status < 200 || response.status > 599) return `a Response with status ${response.status}`;
  lightKey ??= Object.getOwnPropertySymbols(new Response(null)).find((k) => k.description === 'cache') ?? null;
  const light = lightKey ? (response as unknown as Record<symbol, [number, unknown, unknown] | undefined>)[lightKey] : undefined;
  // a lightweight one's body as given: asking it for .body would build the Web Response it avoids
  if (light) return (light[1] as ReadableStream | null)?.locked ? 'a Response whose body is locked' : null;
  if (response.bodyUsed || response.body?.locked) return 'a Response whose body was read already';
  return null;
}

function checked(value: unknown): Response {
  if (value instanceof Response) {
    const why = unusable(value);
    if (!why) return value;
    report(`the function's fetch() returned ${why}`);
    return new Response('the function did not return a usable Response\n', { status: 500, headers: TEXT });
  }
  const what = value === null ? 'null' : typeof value === 'object' ? `an object (${value.constructor?.name ?? 'no class'})` : typeof value;
  report(`the function's fetch() returned ${what}, not a Response`);
  return new Response('the function did not return a Response\n', { status: 500, headers: TEXT });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * Calls the handler; always a Response or a promise of one. A Response returned at once stays
 * synchronous: the listener then writes it without a turn of the event loop.
 */
function invoke(fn: Serving, request: Request, pending: Set<Promise<unknown>>): Response | Promise<Response> {
  let out: unknown;
  try {
    out = fn.handler(request, fn.env, executionContext(pending));
  } catch (err) {
    return threw(err, request);
  }
  if (isThenable(out)) return Promise.resolve(out).then(checked, (err: unknown) => threw(err, request));
  return checked(out);
}

export type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A request listener serving what `serving()` gives, or 503 while it gives null. The warm-up's
 * private server uses it too, so that it walks the very same code.
 */
export function workersListener(serving: () => Serving | null, pending: Set<Promise<unknown>>): Listener {
  const listener = getRequestListener((request) => {
    const fn = serving();
    if (!fn) return new Response('no function is loaded in this runtime\n', { status: 503, headers: TEXT });
    return invoke(fn, request, pending);
  });
  return (req, res) => {
    void withRequestId(requestIdOf(req.headers[REQUEST_ID_HEADER]), listener, req, res);
  };
}
