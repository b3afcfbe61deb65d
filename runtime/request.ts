/**
 * The Request a function's fetch() is handed: node's IncomingMessage behind the Workers API, read
 * only as far as the function asks, without undici until it asks for more than the method, the
 * url, the signal, a header's value or the body (web.ts says why that matters). Its headers are
 * light Headers (headers.ts) over node's raw list; its body streams from the socket as the function reads it, through a web
 * stream that holds nothing ahead (highWaterMark 0: the socket's own buffers are the bound);
 * text(), json(), arrayBuffer() and bytes() read the socket directly. Anything else (clone(),
 * formData(), blob(), cache...) materializes undici's Request, which this one then forwards to.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import { Headers as LightHeaders } from './headers.js';
import { realRequest } from './web.js';

type RealRequest = InstanceType<ReturnType<typeof realRequest>>;

/** The arguments that make a light Request: only this module has it. */
const INCOMING = Symbol('incoming');

const unusable = () => new TypeError('Body is unusable: Body has already been read');

/** The request's body as a web stream pulled from the socket one chunk at a time. */
function bodyStream(incoming: IncomingMessage): ReadableStream<Uint8Array> {
  const chunks = incoming[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        const { done, value } = await chunks.next();
        if (done) c.close();
        else c.enqueue(value);
      },
      // the rest of the upload is read and dropped (node does so too once the answer is sent)
      cancel: () => void incoming.resume(),
    },
    { highWaterMark: 0 },
  );
}

export class Request {
  #incoming!: IncomingMessage;
  #res!: ServerResponse;
  #url!: string;
  #method!: string;
  #hasBody!: boolean;
  #headers: Headers | null = null;
  #abort: AbortController | null = null;
  #stream: ReadableStream<Uint8Array> | null = null;
  #consumed = false;
  #real: RealRequest | null = null;

  static [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    return #url in value || (this === Request && value instanceof realRequest());
  }

  /** A function's `new Request(...)`: undici's own, from a light one's materialized form if given one. */
  constructor(input: unknown, init?: unknown) {
    if (input !== INCOMING) return new (realRequest())(Request.real(input) as ConstructorParameters<ReturnType<typeof realRequest>>[0], init as RequestInit) as unknown as Request;
    const [incoming, res, url] = init as [IncomingMessage, ServerResponse, string];
    this.#incoming = incoming;
    this.#res = res;
    this.#url = url;
    this.#method = incoming.method ?? 'GET';
    this.#hasBody = this.#method !== 'GET' && this.#method !== 'HEAD';
  }

  /** The Request for a request node parsed, `url` its absolute URL; `res` its response (for the signal). */
  static of(incoming: IncomingMessage, res: ServerResponse, url: string): Request {
    return new Request(INCOMING, [incoming, res, url]);
  }

  /** undici's Request for `value` when it is a light one (fetch() and `new Request` take those); else `value`. */
  static real(value: unknown): unknown {
    return typeof value === 'object' && value !== null && #url in value ? value.#materialize() : value;
  }

  #materialize(): RealRequest {
    if (this.#real) return this.#real;
    const init: RequestInit & { duplex?: 'half' } = { method: this.#method, headers: LightHeaders.real(this.headers) as globalThis.Headers, signal: this.signal };
    if (this.#hasBody && !this.#consumed) {
      init.body = this.body;
      init.duplex = 'half';
    }
    this.#real = new (realRequest())(this.#url, init);
    return this.#real;
  }

  get method(): string {
    return this.#method;
  }

  get url(): string {
    return this.#url;
  }

  get headers(): Headers {
    if (this.#real) return this.#real.headers;
    return (this.#headers ??= LightHeaders.of(this.#incoming.rawHeaders) as unknown as Headers);
  }

  /** Aborted when the client goes away before the response was sent whole. */
  get signal(): AbortSignal {
    if (!this.#abort) {
      const abort = (this.#abort = new AbortController());
      const res = this.#res;
      if (!res.writableFinished) {
        if (res.destroyed) abort.abort();
        else res.once('close', () => res.writableFinished || abort.abort());
      }
    }
    return this.#abort.signal;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#real || this.#consumed) return this.#materialize().body;
    if (!this.#hasBody) return null;
    return (this.#stream ??= bodyStream(this.#incoming));
  }

  get bodyUsed(): boolean {
    if (this.#real) return this.#real.bodyUsed;
    return this.#consumed || (this.#stream?.locked ?? false);
  }

  /** The whole body from the socket, or undefined when undici's Request must read it. */
  #direct(): Promise<Buffer> | undefined {
    if (this.#real || this.#stream) return undefined;
    if (this.#consumed) return Promise.reject(unusable());
    this.#consumed = true;
    if (!this.#hasBody) return Promise.resolve(Buffer.alloc(0));
    return (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of this.#incoming as AsyncIterable<Buffer>) chunks.push(chunk);
      return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    })();
  }

  text(): Promise<string> {
    return this.#direct()?.then((b) => b.toString('utf8')) ?? this.#materialize().text();
  }

  json(): Promise<unknown> {
    return this.#direct()?.then((b) => JSON.parse(b.toString('utf8')) as unknown) ?? this.#materialize().json();
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#direct()?.then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer) ?? this.#materialize().arrayBuffer();
  }

  bytes(): Promise<Uint8Array> {
    return this.#direct()?.then((b) => new Uint8Array(b)) ?? this.#materialize().arrayBuffer().then((b) => new Uint8Array(b));
  }

  blob(): Promise<Blob> {
    return this.#materialize().blob();
  }

  formData(): Promise<FormData> {
    return this.#materialize().formData();
  }

  clone(): Request {
    return this.#materialize().clone() as unknown as Request;
  }

  [inspect.custom](depth: number, options: object): string {
    return `Request ${inspect({ method: this.#method, url: this.#url }, { ...options, depth })}`;
  }
}

// the rest of the Fetch standard's Request fields, from undici's
for (const name of ['cache', 'credentials', 'destination', 'duplex', 'integrity', 'keepalive', 'mode', 'redirect', 'referrer', 'referrerPolicy'] as const) {
  Object.defineProperty(Request.prototype, name, {
    get(this: Request) {
      return (Request.real(this) as Record<string, unknown>)[name];
    },
    configurable: true,
  });
}

const SIMPLE_HOST = /^[A-Za-z0-9._-]+(?::\d{1,5})?$/;
/** A path of characters a URL keeps as they are, with no dot segment: the URL is the text itself. */
const SIMPLE_PATH = /^\/[A-Za-z0-9\-._~!$&()*+,;=:@%/?]*$/;

/**
 * The absolute URL a Workers Request has, from the Host header and the request target; null when
 * they make none (answered 400).
 */
export function requestUrl(incoming: IncomingMessage): string | null {
  const target = incoming.url ?? '/';
  const host = incoming.headers.host ?? 'localhost';
  if (SIMPLE_HOST.test(host) && SIMPLE_PATH.test(target) && !target.includes('/.')) return `http://${host}${target}`;
  try {
    if (!target.startsWith('/')) return /^https?:\/\//i.test(target) ? new URL(target).href : null;
    const url = new URL(`http://${host}${target}`);
    // a Host header that carries a path or userinfo would change what the target means
    return url.hostname === host.replace(/:\d+$/, '').toLowerCase() ? url.href : null;
  } catch {
    return null;
  }
}
