/**
 * The data plane: a plain node:http server (no Hono, no Web objects on the invocation path) that
 * routes each request to a function (routing.ts), takes an instance from the invoker, and hands
 * the exchange to proxy.ts. Its limits are node's own server settings plus the body limit.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isWarrenError, WarrenError } from '../lib/errors.js';
import { answerError } from './errors.js';
import type { Invoker } from './invoker.js';
import { countRequest } from './handoff.js';
import { hasBody, startExchange } from './proxy.js';
import { route } from './routing.js';

export interface DataLimits {
  /** Largest request body, bytes: by Content-Length up front (413 before any instance is taken),
   * and by counting a chunked one. Default 100 MiB; bodies stream, so this bounds time, not memory. */
  maxBodyBytes: number;
  /** Time for a client to send a request's headers; node answers 408. Default 20 s. */
  headersTimeoutMs: number;
  /** Time for a client to send a whole request (headers and body); node answers 408. Default 300 s. */
  requestTimeoutMs: number;
  /** Open client connections at most; node drops (resets) the ones past it. Default 4096. */
  maxConnections: number;
  /** An idle keep-alive connection is closed after this. Default 5 s (node's). */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_DATA_LIMITS: DataLimits = {
  maxBodyBytes: 100 * 1024 * 1024,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 300_000,
  maxConnections: 4096,
  keepAliveTimeoutMs: 5_000,
};

export interface DataPlaneOptions {
  invoker: Invoker;
  /** Route `Host: <fn>.<domain>` too. */
  domain?: string;
  limits?: Partial<DataLimits>;
  /** Hand host-routed connections to their instance after their first answer (serve --handoff,
   * handoff.ts); only where the invoker can take them. */
  handoff?: boolean;
  /** Errors no one expected (a bug in the invoker): answered 500, reported here. */
  onUnexpected?: (err: unknown) => void;
}

export function createDataPlane(opts: DataPlaneOptions): http.Server {
  const limits = { ...DEFAULT_DATA_LIMITS, ...opts.limits };
  if (limits.requestTimeoutMs > 0 && limits.headersTimeoutMs > limits.requestTimeoutMs) {
    // node would throw a bare RangeError for it
    throw new WarrenError('WARREN_ARG_INVALID', `header timeout (${limits.headersTimeoutMs} ms) is longer than the request timeout (${limits.requestTimeoutMs} ms)`);
  }
  const domain = opts.domain?.toLowerCase().replace(/^\.+|\.+$/g, '') || undefined;
  const invoker = opts.invoker;
  const onUnexpected = opts.onUnexpected ?? ((err) => console.error('warren router:', err));

  /** `continueAsked`: the client waits for a 100 Continue before it sends its body, and gets it
   * once an instance takes the request (checkContinue below). */
  const handle = (req: IncomingMessage, res: ServerResponse, continueAsked = false): void => {
    const requestId = nextRequestId();
    const target = route(req.url ?? '/', req.headers.host, domain);
    if ('missing' in target) {
      const what = target.missing ? `no function '${target.missing}'` : 'no function named in the request';
      answerError(res, new WarrenError('WARREN_FN_NOT_FOUND', what), requestId, hasBody(req));
      return;
    }
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > limits.maxBodyBytes) {
      const err = new WarrenError('WARREN_FN_BODY_TOO_LARGE', `request body for function '${target.fn}' of ${length} bytes exceeds ${limits.maxBodyBytes} bytes`);
      answerError(res, err, requestId, true);
      return;
    }
    const handoff = opts.handoff === true && target.byHost === true;
    if (handoff) countRequest(req, res);
    // the client may go away while the invocation waits for an instance (a queue, a cold start)
    const gone = clientGone(req.socket);
    invoker.acquire(target.fn, gone).then(
      (inv) => {
        if (gone.aborted) {
          void inv.release('ok');
          return;
        }
        if (continueAsked) res.writeContinue();
        startExchange(req, res, inv, { requestId, path: target.path, maxBodyBytes: limits.maxBodyBytes, handoff });
      },
      (err: unknown) => {
        if (gone.aborted) return;
        if (!isWarrenError(err)) onUnexpected(err);
        answerError(res, err, requestId, hasBody(req));
      },
    );
  };

  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // node checks the two timeouts above only this often (its default, 30 s, would let a slow
      // client hold a connection half a minute past them)
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
    handle,
  );
  // a client that asks before it sends its body (Expect: 100-continue; curl does past 1 MiB) is
  // told to go on once an instance takes its request: a body over the limit, an unknown function,
  // a full queue or a start that failed is answered before the body is ever sent (node would say
  // 100 Continue to every one at once by itself)
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
  server.maxConnections = limits.maxConnections;
  return server;
}

/**
 * Request ids shaped as UUIDs: a random one per 2^48 requests, whose last 12 hex digits count.
 * As unique as randomUUID() across processes and restarts (the log store keeps ids), at a
 * fraction of its cost on every request.
 */
let idPrefix = '';
let idCount = 2 ** 48;

function nextRequestId(): string {
  if (idCount >= 2 ** 48) {
    idPrefix = randomUUID().slice(0, 24);
    idCount = 0;
  }
  return idPrefix + (idCount++).toString(16).padStart(12, '0');
}

const GONE = Symbol('warren.clientGone');

/**
 * Aborts when the client's connection closes: the one way an HTTP/1.1 client goes away. One per
 * connection, shared by the requests it carries one after another, not one per request: an
 * AbortController costs more than the rest of the router's own work on a request (measured).
 */
function clientGone(socket: Socket): AbortSignal {
  const s = socket as Socket & { [GONE]?: AbortController };
  let ac = s[GONE];
  if (ac === undefined) {
    const made = new AbortController();
    socket.once('close', () => made.abort(new Error('the client went away')));
    s[GONE] = ac = made;
  }
  return ac.signal;
}
