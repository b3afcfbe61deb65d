/**
 * Between node:http and the Workers API: an incoming request becomes a Web `Request`, the module's
 * `Response` is streamed back. Both bodies stream, so a large or slow body is never held whole in
 * memory, and a client that goes away cancels the response's stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** The module's handler as the Workers module format defines it. */
export type FetchHandler = (request: Request, env: Record<string, unknown>, ctx: ExecutionContext) => Response | Promise<Response>;

export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
}

const NO_BODY = new Set(['GET', 'HEAD']);

export function toRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  // rawHeaders keeps repeated headers apart (two Cookie lines stay two values)
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  const host = req.headers.host ?? 'localhost';
  const method = req.method ?? 'GET';
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
  if (!NO_BODY.has(method)) {
    init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
    init.duplex = 'half'; // a streamed request body: fetch's rule for bodies that are streams
  }
  return new Request(new URL(req.url ?? '/', `http://${host}`), init);
}

export async function sendResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Array<[string, string]> = [];
  response.headers.forEach((value, name) => {
    // Headers joins Set-Cookie lines with ", ", which breaks cookie dates: send each one alone
    if (name !== 'set-cookie') headers.push([name, value]);
  });
  for (const cookie of response.headers.getSetCookie()) headers.push(['set-cookie', cookie]);
  res.writeHead(response.status, response.statusText || undefined, headers.flat());
  if (!response.body) {
    res.end();
    return;
  }
  await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>), res);
}

/** ctx for one invocation: waitUntil's promises are kept so that a drain waits for them. */
export function executionContext(pending: Set<Promise<unknown>>): ExecutionContext {
  return {
    waitUntil(promise) {
      const p = Promise.resolve(promise).catch((err: unknown) => console.error('warren runtime: waitUntil promise rejected:', err));
      pending.add(p);
      void p.finally(() => pending.delete(p));
    },
    passThroughOnException() {
      // there is no origin behind a warren function to pass through to: an exception is a 500
    },
  };
}
