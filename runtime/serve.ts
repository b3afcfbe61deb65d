/**
 * Between node:http and the Workers API: each request node parsed becomes a light Request
 * (request.ts), the module's handler is called with it, and its Response is written to node's
 * ServerResponse. A Response still light (web.ts: made from a string, bytes or nothing with a
 * plain header object) is written at once, from what it was made with; any other is undici's,
 * whose head is copied and whose body is streamed chunk by chunk as the client takes them, and
 * cancelled when the client goes away. Our Request and Response are the globals (web.ts), put in
 * before any module is imported (main.ts).
 *
 * Everything a request does runs under its request id (log.ts), from the head to the last byte
 * of the response: the handler, its awaits and timers, its waitUntil work, its response stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorText, report, requestIdOf, withRequestId } from './log.js';
import { REQUEST_ID_HEADER } from './protocol.js';
import { Headers as LightHeaders } from './headers.js';
import { Request as LightRequest, requestUrl } from './request.js';
import { installWorkersGlobals, Response as LightResponse, type LightParts } from './web.js';

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

function unusable(response: Response): string | null {
  // node:http would refuse these while writing, and the listener would then show the client why
  if (response.status < 200 || response.status > 599) return `a Response with status ${response.status}`;
  const light = LightResponse.lightParts(response);
  // a light one's body as given: asking it for .body would make undici's Response it avoids
  if (light) return (light.body as ReadableStream | null)?.locked ? 'a Response whose body is locked' : null;
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

/** Writes a head and a body given whole. */
function writeWhole(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Uint8Array | null): void {
  if (body !== null && !('content-length' in headers) && !('transfer-encoding' in headers)) {
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  }
  res.writeHead(status, headers);
  res.end(body);
}

/** Resolves once `res` can take more (drain) or is gone (close). */
function writable(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Writes a head, then a body stream's chunks as the client takes them; cancels it if the client goes away. */
async function writeStream(res: ServerResponse, status: number, headers: Record<string, string | string[]>, body: ReadableStream<Uint8Array>): Promise<void> {
  res.writeHead(status, headers);
  res.flushHeaders();
  const reader = body.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  res.once('close', cancel);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (res.destroyed) return;
      if (done) break;
      if (!res.write(value)) await writable(res);
    }
    res.end();
  } catch (err) {
    report(`the function's response stream failed: ${errorText(err)}`);
    res.destroy();
  } finally {
    res.off('close', cancel);
  }
}

/** Writes undici's Response: its head, then its body. */
async function writeReal(res: ServerResponse, response: Response): Promise<void> {
  const head: Record<string, string | string[]> = {};
  for (const [name, value] of response.headers) if (name !== 'set-cookie') head[name] = value;
  const cookies = response.headers.getSetCookie();
  if (cookies.length) head['set-cookie'] = cookies;
  if (response.body) return writeStream(res, response.status, head, response.body);
  res.writeHead(response.status, head);
  res.end();
}

function written(res: ServerResponse): (err: unknown) => void {
  return (err) => {
    report(`the function's Response could not be written: ${errorText(err)}`);
    if (res.headersSent) res.destroy();
    else res.writeHead(500, TEXT).end('the function did not return a usable Response\n');
  };
}

function send(res: ServerResponse, response: Response): void {
  const light = LightResponse.lightParts(response);
  const body = light ? light.body : response.body;
  if (res.destroyed) {
    // the client went away: a body stream nobody will read is cancelled
    if (body && typeof body === 'object' && 'cancel' in body) void body.cancel().catch(() => {});
    return;
  }
  try {
    if (!light) void writeReal(res, LightResponse.real(response) as Response).catch(written(res));
    else if (light.body === null || typeof light.body === 'string' || light.body instanceof Uint8Array) writeWhole(res, light.status, light.headers, light.body);
    else void writeStream(res, light.status, light.headers, light.body).catch(written(res));
  } catch (err) {
    written(res)(err);
  }
}

function serve(serving: () => Serving | null, pending: Set<Promise<unknown>>, req: IncomingMessage, res: ServerResponse): void {
  const url = requestUrl(req);
  if (url === null) {
    res.writeHead(400, TEXT).end('the request has no valid URL\n');
    return;
  }
  const fn = serving();
  const out = fn ? invoke(fn, LightRequest.of(req, res, url) as unknown as Request, pending) : new Response('no function is loaded in this runtime\n', { status: 503, headers: TEXT });
  if (isThenable(out)) void out.then((response) => send(res, response));
  else send(res, out);
}

/**
 * A request listener serving what `serving()` gives, or 503 while it gives null. The warm-up's
 * private server uses it too, so that it walks the very same code.
 */
export function workersListener(serving: () => Serving | null, pending: Set<Promise<unknown>>): Listener {
  installWorkersGlobals({ Request: LightRequest, Headers: LightHeaders }, (input) => LightRequest.real(input));
  return (req, res) => {
    withRequestId(requestIdOf(req.headers[REQUEST_ID_HEADER]), serve, serving, pending, req, res);
  };
}
