/**
 * One invocation's HTTP exchange: the client's request goes to the instance's socket through
 * undici's `Dispatcher.dispatch` (its handler API, no Request/Response objects: measured, Web
 * objects on the invocation bytes cost more than half the throughput), and the answer comes back
 * chunk by chunk, each side's backpressure holding the other.
 *
 * The handler takes undici's raw callbacks (onConnect, onHeaders, onData, onComplete, onError),
 * which its newer controller API (onRequestStart, onResponseStart...) wraps: the wrapper costs
 * an object or two per request and parses the answer's head into an object, which this file
 * would only copy again. Here the head's raw name/value pairs become node's writeHead array.
 *
 * The exchange ends exactly once, and that is when the invocation is released:
 *   the function's answer ended          -> release('ok')
 *   the client went away                 -> abort upstream, release('ok') (the instance is fine)
 *   the request body grew past the limit -> abort upstream, 413, release('ok')
 *   the clock ran out (timeoutMs)        -> abort upstream, 504, release('timeout')
 *   the instance's socket failed         -> release('broken'), 502 with the reason it gives
 * An answer that can no longer be given (the function's headers went out) cuts the client's
 * connection instead, so a half answer never looks whole. The clock runs until the answer's last
 * byte: an instance stuck mid-stream holds a slot like one stuck before its headers, so a stream
 * longer than the function's timeout is cut too.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { isWarrenError, WarrenError } from '../lib/errors.js';
import { REQUEST_ID_HEADER } from '../runtime/protocol.js';
import { answerError, RESPONSE_ID_HEADER } from './errors.js';
import { releaseOrHandOff } from './handoff.js';
import type { Invocation, Outcome, Start } from './invoker.js';

/** The start label of the instance that answered. */
export const START_HEADER = 'x-warren-start';

/** Headers about one connection, not the message (RFC 9110 7.6.1), and `expect` (node answered it). */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authenticate', 'proxy-authorization', 'expect', 'http2-settings',
]);

/** Headers of the function's answer that the router drops: hop-by-hop, and the ones it sets. */
const NOT_PASSED_BACK = new Set([...HOP_BY_HOP, RESPONSE_ID_HEADER, START_HEADER, 'server-timing']);

export interface ExchangeOptions {
  requestId: string;
  /** The URL the function sees. */
  path: string;
  maxBodyBytes: number;
  /** The connection may go to the instance after this answer (serve --handoff, router/handoff.ts). */
  handoff?: boolean;
}

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export function startExchange(req: IncomingMessage, res: ServerResponse, inv: Invocation, opts: ExchangeOptions): void {
  new Exchange(req, res, inv, opts).start();
}

class Exchange implements Dispatcher.DispatchHandler {
  /** undici's abort of the upstream request, once it has started. */
  private abortRequest: ((err: Error) => void) | null = null;
  /** undici's resume after onData returned false. */
  private resumeAnswer: (() => void) | null = null;
  private timer: NodeJS.Timeout | undefined;
  private body: RequestBody | null = null;
  /** Why the router ended it early, to abort the upstream request with once it starts. */
  private abortReason: Error | null = null;
  private done = false;
  private corked = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly inv: Invocation,
    private readonly opts: ExchangeOptions,
  ) {}

  start(): void {
    const { req, res, inv } = this;
    res.on('close', this.onClientClose);
    if (inv.timeoutMs > 0 && Number.isFinite(inv.timeoutMs)) this.timer = setTimeout(this.onTimeout, inv.timeoutMs);
    if (hasBody(req)) this.body = new RequestBody(req, this.opts.maxBodyBytes, this.onTooLarge);
    inv.dispatcher.dispatch(
      {
        path: this.opts.path,
        method: req.method as Dispatcher.HttpMethod,
        headers: upstreamHeaders(req, this.opts.requestId),
        body: this.body,
        // the router keeps the one clock (timeoutMs); undici's own would fire on a slow stream
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortRequest = abort;
    if (this.abortReason) abort(this.abortReason);
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText?: string): boolean {
    if (this.done || status < 200) return true; // 1xx: node answers the client's own Expect
    this.resumeAnswer = resume;
    const out = responseHeaders(raw, this.opts.requestId, this.inv.start);
    if (statusText) this.res.writeHead(status, statusText, out);
    else this.res.writeHead(status, out);
    this.corkTick();
    return true;
  }

  /**
   * Holds the client socket's writes until the end of this tick: undici hands a small answer's
   * head, body and end over in one tick, and they then leave in one writev instead of two or three
   * (a syscall is most of a proxied request's cost here). A streamed body still leaves chunk by
   * chunk, each on the tick it came.
   */
  private corkTick(): void {
    if (this.corked) return;
    this.corked = true;
    this.res.cork();
    process.nextTick(this.uncork);
  }

  private readonly uncork = (): void => {
    // uncorked already by onComplete: a second uncork could open another exchange's cork on this
    // keep-alive connection
    if (!this.corked) return;
    this.corked = false;
    this.res.uncork();
  };

  /** false pauses undici's reading of the answer until resumeAnswer(). */
  onData(chunk: Buffer): boolean {
    if (this.done) return true;
    this.corkTick();
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.onDrain);
    return false;
  }

  onComplete(): void {
    if (this.done) return;
    if (this.opts.handoff && this.inv.handOff) {
      this.finish('ok', false);
      releaseOrHandOff(this.req, this.res, this.inv);
      this.res.end();
    } else {
      // the answer leaves first, then the release's work (the pool's bookkeeping, metrics, a
      // first request's refill), which ran before its end was written: 0.5 ms of a prewarm
      // start's answer here
      this.res.end();
      this.uncork();
      void this.finish('ok');
    }
  }

  onError(err: Error): void {
    if (this.done) return; // the router aborted it and has answered already
    const code = (err as { code?: unknown }).code;
    if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') {
      // a request node accepted and undici will not send (a header value): the client's doing
      this.finish('ok');
      answerError(this.res, new WarrenError('WARREN_FN_BAD_REQUEST', `bad request for function '${this.inv.fn}': ${err.message}`, { cause: err }), this.opts.requestId, !this.req.complete);
      return;
    }
    if (isWarrenError(err)) {
      // the invoker's own: a start that failed after the request went out behind its load
      // (router/invoker.ts), answered as acquire()'s rejection would have been
      void this.finish('broken');
      answerError(this.res, err, this.opts.requestId, !this.req.complete);
      return;
    }
    const release = this.finish('broken');
    const fail = (reason: string | undefined) => {
      const why = reason ?? `function '${this.inv.fn}' broke off its answer (${err.message})`;
      answerError(this.res, new WarrenError('WARREN_FN_CRASHED', why, { cause: err }), this.opts.requestId, !this.req.complete);
    };
    release.then(fail, () => fail(undefined));
  }

  private readonly onDrain = (): void => {
    this.resumeAnswer?.();
  };

  private readonly onTimeout = (): void => {
    if (this.done) return;
    const err = new WarrenError('WARREN_FN_TIMEOUT', `function '${this.inv.fn}' did not answer within ${this.inv.timeoutMs} ms`);
    this.finish('timeout');
    this.abortUpstream(err);
    answerError(this.res, err, this.opts.requestId, !this.req.complete);
  };

  private readonly onClientClose = (): void => {
    if (this.done) return;
    this.finish('ok');
    this.abortUpstream(new Error('the client went away'));
  };

  private readonly onTooLarge = (): void => {
    if (this.done) return;
    const err = new WarrenError('WARREN_FN_BODY_TOO_LARGE', `request body for function '${this.inv.fn}' exceeds ${this.opts.maxBodyBytes} bytes`);
    this.finish('ok');
    this.abortUpstream(err);
    answerError(this.res, err, this.opts.requestId, true);
  };

  private abortUpstream(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.abortRequest?.(reason);
  }

  /** The one place the exchange ends: the clock stops, the body detaches, the release goes out
   * (unless `release` is false: releaseOrHandOff then does it). */
  private finish(outcome: Outcome, release = true): Promise<string | undefined> {
    this.done = true;
    clearTimeout(this.timer);
    this.res.off('close', this.onClientClose);
    this.res.off('drain', this.onDrain);
    if (this.body) {
      this.body.detach();
      // an unread rest of the upload is read and dropped, so node can close or reuse the connection
      if (!this.req.complete && !this.req.destroyed) this.req.resume();
    }
    return release ? this.inv.release(outcome) : Promise.resolve(undefined);
  }
}

/**
 * The request body as undici reads it: the client's stream, counted (a chunked body has no
 * length to refuse up front), with the client's own stream never handed over, so an abort of the
 * upstream request never destroys the client's connection before the router has answered.
 */
class RequestBody extends Readable {
  private received = 0;

  constructor(
    private readonly req: IncomingMessage,
    private readonly limit: number,
    private readonly tooLarge: () => void,
  ) {
    super();
    req.on('data', this.onData);
    req.on('end', this.onEnd);
    req.on('error', this.onError);
  }

  override _read(): void {
    this.req.resume();
  }

  detach(): void {
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    // the 'error' listener stays: a client reset after this must not become an uncaught error
  }

  private readonly onData = (chunk: Buffer): void => {
    this.received += chunk.length;
    if (this.received > this.limit) {
      this.req.pause();
      this.tooLarge();
    } else if (!this.push(chunk)) {
      this.req.pause();
    }
  };

  private readonly onEnd = (): void => {
    this.push(null);
  };

  private readonly onError = (): void => {
    // the client's reset: the response's 'close' ends the exchange
  };
}

function upstreamHeaders(req: IncomingMessage, requestId: string): string[] {
  const raw = req.rawHeaders;
  const named = connectionTokens(req.headers.connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === REQUEST_ID_HEADER || named?.has(lower)) continue;
    out.push(name, raw[i + 1] as string);
  }
  out.push(REQUEST_ID_HEADER, requestId);
  return out;
}

/** Other headers a Connection header names as hop-by-hop (rare: keep-alive and close are not). */
function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (value === undefined || value === 'keep-alive' || value === 'close') return undefined;
  return new Set(value.toLowerCase().split(',').map((s) => s.trim()));
}

/** The function's head as node's writeHead takes it (name, value, name, value...: repeated
 * names such as set-cookie stay apart), less what is not passed back, plus the router's own. */
function responseHeaders(raw: Buffer[], requestId: string, start: Start): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1');
    if (NOT_PASSED_BACK.has(name.toLowerCase())) continue;
    out.push(name, (raw[i + 1] as Buffer).toString('latin1'));
  }
  out.push(RESPONSE_ID_HEADER, requestId, START_HEADER, start.label, 'server-timing', serverTiming(start));
  return out;
}

/** `start;desc=cold;dur=12.3, spawn;dur=8.1, ...`: the whole start, then its phases in order. */
export function serverTiming(start: Start): string {
  let s = `start;desc=${start.label};dur=${ms(start.ms)}`;
  for (const [name, dur] of start.phases) s += `, ${name};dur=${ms(dur)}`;
  return s;
}

function ms(n: number): string {
  return String(Math.round(n * 100) / 100);
}
