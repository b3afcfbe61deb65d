/**
 * The Workers globals Request, Response and fetch, light until a function uses more of them.
 *
 * Node's own Request, Response, Headers and fetch are undici's, loaded on first use of any of
 * those globals: 4.4 MB of private memory in an idle process (its code, compiled, and its heap),
 * more than an idle plain node http server's whole difference to us may be (issue 12's density
 * target: 1 MiB). A function that only answers `new Response('text', { headers: {...} })` needs
 * none of it: the runtime writes a status, a plain header object and a string, bytes or a stream's
 * chunks to node's ServerResponse. So the globals here are classes of our own: a Response keeps what it was made
 * with while that is all it is asked for, and becomes undici's Response (materializes) the moment
 * anything else is asked of it (its headers object, its body stream, text(), clone()...), after
 * which it forwards every call to that one. A request's Headers is light the same way (headers.ts).
 *
 * `instanceof Request` / `instanceof Response` hold for ours and undici's alike (what fetch()
 * returns); `new Request(...)` and `new Headers(...)` make undici's. fetch() takes our light
 * requests too.
 */
import { inspect } from 'node:util';

type RealResponse = typeof globalThis.Response;
type RealRequest = typeof globalThis.Request;
type Body = ConstructorParameters<RealResponse>[0];

/**
 * Node's lazy global `name` (a getter that loads undici and then redefines the global to its
 * value): got once, on first call, and our own global put back.
 */
export function original<T>(name: 'Headers' | 'Request' | 'Response' | 'fetch'): () => T {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, name);
  let value = descriptor?.value as T | undefined;
  return () => {
    if (value !== undefined) return value;
    const ours = Object.getOwnPropertyDescriptor(globalThis, name);
    value = descriptor?.get?.call(globalThis) as T;
    if (ours) Object.defineProperty(globalThis, name, ours);
    return value;
  };
}

export const realResponse = original<RealResponse>('Response');
export const realRequest = original<RealRequest>('Request');
const realFetch = original<typeof fetch>('fetch');

/** A header name as the Fetch standard's token; a value without NUL, CR, LF or a non-byte. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\0\r\n]|[^\0-\xff]/;
const EDGE_SPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
/** Tab, LF, CR or space: what Headers trims from a value's ends. */
const isSpace = (code: number) => code === 9 || code === 10 || code === 13 || code === 32;
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
/** undici's default for a string body. */
const TEXT_TYPE = 'text/plain;charset=UTF-8';

/** A ReadableStream is taken as it is, by its getReader: no need to load web streams to tell one. */
export type LightBody = string | Uint8Array | ReadableStream<Uint8Array> | null;

/**
 * [name, value] pairs in lower case, trimmed as Headers would, from a plain object; null when
 * Headers would do more than that (another type, a bad name or value, a name given twice).
 */
function plainHeaders(init: unknown): Record<string, string> | null {
  if (init === undefined) return {};
  if (typeof init !== 'object' || init === null) return null;
  const proto = Object.getPrototypeOf(init) as unknown;
  if (proto !== Object.prototype && proto !== null) return null;
  const out: Record<string, string> = {};
  for (const name of Object.keys(init)) {
    const value = (init as Record<string, unknown>)[name];
    if (typeof value !== 'string' || !HEADER_NAME.test(name) || BAD_VALUE.test(value)) return null;
    const lower = name.toLowerCase();
    if (lower in out) return null;
    // most values have no space at either end: no regex run for them
    out[lower] = value !== '' && (isSpace(value.charCodeAt(0)) || isSpace(value.charCodeAt(value.length - 1))) ? value.replace(EDGE_SPACE, '') : value;
  }
  return out;
}

/** The parts a light Response was made with: what the runtime writes without undici. */
export interface LightParts {
  status: number;
  body: LightBody;
  /** Lower-case names; content-type included when the body is a string and none was given. */
  headers: Record<string, string>;
}

export class Response {
  #parts: LightParts | null = null;
  #real: InstanceType<RealResponse> | null = null;

  static [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    if (#parts in value) return true;
    // a class extending ours, or undici's (fetch's answers, Response.error()...)
    return Function.prototype[Symbol.hasInstance].call(this, value) || (this === Response && value instanceof realResponse());
  }

  constructor(body?: unknown, init?: unknown) {
    const parts = Response.#light(body, init);
    if (parts && new.target === Response) {
      this.#parts = parts;
      return;
    }
    // what the light form does not cover gets undici's own checks and behaviour, now
    const real = new (realResponse())(body as Body, init as ResponseInit);
    if (new.target === Response) return real as unknown as Response;
    // a subclass: keep its prototype, forward to undici's
    this.#real = real;
  }

  static #light(body: unknown, init: unknown): LightParts | null {
    const stream = typeof (body as { getReader?: unknown } | null)?.getReader === 'function';
    if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array) && !stream) return null;
    if (init !== undefined && (typeof init !== 'object' || init === null)) return null;
    const { status = 200, statusText, headers } = (init ?? {}) as { status?: unknown; statusText?: unknown; headers?: unknown };
    if (!Number.isInteger(status) || (status as number) < 200 || (status as number) > 599 || statusText !== undefined) return null;
    if (body != null && NULL_BODY_STATUS.has(status as number)) return null;
    const plain = plainHeaders(headers);
    if (!plain) return null;
    if (typeof body === 'string' && !('content-type' in plain)) plain['content-type'] = TEXT_TYPE;
    return { status: status as number, body: (body ?? null) as LightBody, headers: plain };
  }

  /** undici's Response for this one, made on first need; from then on this one forwards to it. */
  #materialize(): InstanceType<RealResponse> {
    if (this.#real) return this.#real;
    const p = this.#parts as LightParts;
    this.#real = new (realResponse())(p.body as Body, { status: p.status, headers: p.headers });
    this.#parts = null;
    return this.#real;
  }

  /** The parts to write while this one is still light; null once it is undici's (or not ours). */
  static lightParts(response: object): LightParts | null {
    return #parts in response ? response.#parts : null;
  }

  /** undici's Response behind `response` (itself when it is one). */
  static real(response: object): InstanceType<RealResponse> {
    return #parts in response ? response.#materialize() : (response as InstanceType<RealResponse>);
  }

  static json(data: unknown, init?: ResponseInit): Response {
    const body = JSON.stringify(data);
    const headers = plainHeaders(init?.headers);
    if (body === undefined || !headers || (init && Object.keys(init).some((k) => k !== 'status' && k !== 'headers'))) {
      return realResponse().json(data, init) as unknown as Response;
    }
    if (!('content-type' in headers)) headers['content-type'] = 'application/json';
    return new Response(body, { status: init?.status, headers });
  }

  static error(): Response {
    return realResponse().error() as unknown as Response;
  }

  static redirect(url: string | URL, status?: number): Response {
    return realResponse().redirect(url, status as 301) as unknown as Response;
  }

  get status(): number {
    return this.#parts?.status ?? this.#materialize().status;
  }

  get ok(): boolean {
    const s = this.status;
    return s >= 200 && s <= 299;
  }

  get statusText(): string {
    return this.#parts ? '' : this.#materialize().statusText;
  }

  get type(): InstanceType<RealResponse>['type'] {
    return this.#parts ? 'default' : this.#materialize().type;
  }

  get url(): string {
    return this.#parts ? '' : this.#materialize().url;
  }

  get redirected(): boolean {
    return this.#parts ? false : this.#materialize().redirected;
  }

  get bodyUsed(): boolean {
    return this.#parts ? false : this.#materialize().bodyUsed;
  }

  get headers(): Headers {
    return this.#materialize().headers;
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.#materialize().body;
  }

  text(): Promise<string> {
    return this.#materialize().text();
  }

  json(): Promise<unknown> {
    return this.#materialize().json();
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#materialize().arrayBuffer();
  }

  bytes(): Promise<Uint8Array> {
    return this.#materialize()
      .arrayBuffer()
      .then((b) => new Uint8Array(b));
  }

  blob(): Promise<Blob> {
    return this.#materialize().blob();
  }

  formData(): Promise<FormData> {
    return this.#materialize().formData();
  }

  clone(): Response {
    return this.#materialize().clone() as unknown as Response;
  }

  [inspect.custom](depth: number, options: object): string {
    return `Response ${inspect(this.#parts ?? this.#materialize(), { ...options, depth })}`;
  }
}

export type LightResponse = Response;

let installed = false;

/**
 * Puts our Request and Response and a fetch that takes our requests in as the globals. Before any
 * module of the function's is imported: a module may keep the globals it found. Idempotent.
 */
export function installWorkersGlobals(ours: { Request: unknown; Headers: unknown }, toReal: (value: unknown) => unknown): void {
  if (installed) return;
  installed = true;
  const define = (name: string, value: unknown) => Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  define('Response', Response);
  define('Request', ours.Request);
  define('Headers', ours.Headers);
  define('fetch', function fetch(input: unknown, init?: RequestInit) {
    return realFetch()(toReal(input) as string, init);
  });
}
