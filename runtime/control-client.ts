/**
 * The host's client of a runtime's control socket: the other side of control-wire.ts, HTTP/1.1
 * written and read by hand. A request goes out as one write of its head and body; an answer is a
 * status, a Content-Length and a JSON body of at most MAX_ANSWER_BYTES. undici's Pool did this
 * before: its dispatch, the load's way into the socket, was 0.4 ms of a prewarm start here.
 *
 * Connections are opened as requests need them, up to a cap, one request at a time on each, and
 * kept open until close() or destroy(): a generic runtime waits minutes for its load, and the load
 * must go out on a connection the runtime reads already (client.ts load()).
 */
import net from 'node:net';
import { WarrenError } from '../lib/errors.js';
import { headFields } from './control-head.js';

/** The most of a control answer the host reads: the runtime is the sandbox's, so is its answer. */
export const MAX_ANSWER_BYTES = 64 * 1024;

export interface ControlReply {
  readonly status: number;
  readonly text: string;
}

export interface ControlRequestOptions {
  /** Called once the request was written into the socket. */
  sent?: () => void;
  /** Aborts the request: its connection is destroyed, the promise rejects with the reason. */
  signal?: AbortSignal;
}

interface Waiting {
  readonly data: string;
  readonly opts: ControlRequestOptions;
  readonly resolve: (reply: ControlReply) => void;
  readonly reject: (err: unknown) => void;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

export class ControlClient {
  readonly #path: string;
  readonly #max: number;
  readonly #idle: WireConnection[] = [];
  readonly #all = new Set<WireConnection>();
  readonly #queue: Waiting[] = [];
  #opening = 0;
  #ended: Error | null = null;
  #drained: (() => void) | null = null;

  constructor(path: string, maxConnections: number) {
    this.#path = path;
    this.#max = maxConnections;
  }

  /** Requests in flight or waiting for a connection. */
  get busy(): number {
    return this.#queue.length + this.#all.size - this.#idle.length - this.#opening;
  }

  /** Connections open and idle. */
  get idle(): number {
    return this.#idle.length;
  }

  request(method: string, path: string, body: string | undefined, opts: ControlRequestOptions = {}): Promise<ControlReply> {
    if (this.#ended) return Promise.reject(this.#ended);
    const head = `${method} ${path} HTTP/1.1\r\nhost: warren\r\n${body === undefined ? '' : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`}\r\n`;
    return new Promise<ControlReply>((resolve, reject) => {
      const w: Waiting = { data: body === undefined ? head : head + body, opts, resolve, reject };
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      const conn = this.#idle.pop();
      if (conn) conn.send(w);
      else {
        this.#queue.push(w);
        this.#grow();
      }
    });
  }

  /** Lets requests in flight and waiting finish, then ends every connection. */
  async close(): Promise<void> {
    if (!this.#ended) this.#ended = new WarrenError('WARREN_RUNTIME_UNHEALTHY', 'the runtime control client is closed');
    if (this.busy > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    for (const c of this.#all) c.end();
  }

  /** Fails what is in flight or waiting now, with `err`, and ends every connection. */
  destroy(err?: Error): void {
    const why = err ?? new WarrenError('WARREN_RUNTIME_UNHEALTHY', 'the runtime control client was destroyed');
    this.#ended ??= why;
    for (const w of this.#queue.splice(0)) w.reject(why);
    for (const c of this.#all) c.destroy(why);
    this.#drained?.();
  }

  #grow(): void {
    while (this.#queue.length > this.#opening && this.#all.size < this.#max) {
      this.#opening++;
      const conn = new WireConnection(this.#path, {
        connected: () => {
          this.#opening--;
          this.#free(conn);
        },
        free: () => this.#free(conn),
        gone: (err) => {
          if (!conn.connected) this.#opening--;
          this.#all.delete(conn);
          const at = this.#idle.indexOf(conn);
          if (at >= 0) this.#idle.splice(at, 1);
          // a connection that never opened fails the request it was opened for: the socket is
          // not there (the runtime ended), and the next ones would fail the same way
          if (!conn.connected) this.#queue.shift()?.reject(err);
          this.#settle();
          if (this.#queue.length > 0 && !this.#ended) this.#grow();
        },
      });
      this.#all.add(conn);
    }
  }

  #free(conn: WireConnection): void {
    const next = this.#queue.shift();
    if (next) conn.send(next);
    else this.#idle.push(conn);
    this.#settle();
  }

  #settle(): void {
    if (this.busy === 0 && this.#drained) {
      this.#drained();
      this.#drained = null;
    }
  }
}

interface ConnectionEvents {
  connected(): void;
  /** Its answer came: it takes the next request. */
  free(): void;
  gone(err: Error): void;
}

class WireConnection {
  readonly #socket: net.Socket;
  readonly #events: ConnectionEvents;
  connected = false;
  #current: Waiting | null = null;
  #buf: Buffer = Buffer.alloc(0);
  /** The answer's head, once read: its status, the body's length, whether the runtime closes. */
  #head: { status: number; length: number; close: boolean } | null = null;
  #gone = false;
  #onAbort: (() => void) | null = null;

  constructor(path: string, events: ConnectionEvents) {
    this.#events = events;
    this.#socket = net.connect(path, () => {
      this.connected = true;
      events.connected();
    });
    this.#socket.on('data', (chunk: Buffer) => this.#read(chunk));
    this.#socket.on('error', (err) => this.destroy(new WarrenError('WARREN_RUNTIME_UNHEALTHY', `the runtime's control connection failed: ${err.message}`, { cause: err })));
    this.#socket.on('close', () => this.destroy(new WarrenError('WARREN_RUNTIME_UNHEALTHY', "the runtime closed its control connection before its answer")));
  }

  send(w: Waiting): void {
    const { signal, sent } = w.opts;
    // aborted while it waited for a connection: it never goes out, the connection takes the next
    if (signal?.aborted) {
      w.reject(signal.reason);
      return this.#events.free();
    }
    this.#current = w;
    if (signal) {
      this.#onAbort = () => this.destroy(signal.reason as Error);
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    this.#socket.write(w.data);
    sent?.();
  }

  end(): void {
    this.#gone = true;
    this.#socket.end();
  }

  destroy(err: Error): void {
    if (this.#gone && !this.#current) return;
    const w = this.#done();
    this.#gone = true;
    this.#socket.destroy();
    w?.reject(err);
    this.#events.gone(err);
  }

  #done(): Waiting | null {
    const w = this.#current;
    if (w?.opts.signal && this.#onAbort) w.opts.signal.removeEventListener('abort', this.#onAbort);
    this.#onAbort = null;
    this.#current = null;
    this.#head = null;
    return w;
  }

  #read(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    if (!this.#current) return this.#bad('bytes came with no request in flight');
    if (!this.#head) {
      const end = this.#buf.indexOf(CRLFCRLF);
      if (end < 0) {
        if (this.#buf.length > MAX_ANSWER_BYTES) this.#bad(`its head exceeds ${MAX_ANSWER_BYTES} bytes`);
        return;
      }
      const head = parseHead(this.#buf.toString('latin1', 0, end));
      if (typeof head === 'string') return this.#bad(head);
      this.#head = head;
      this.#buf = this.#buf.subarray(end + 4);
    }
    const { status, length, close } = this.#head;
    if (this.#buf.length < length) return;
    if (this.#buf.length > length) return this.#bad('it is longer than its Content-Length');
    const text = this.#buf.toString('utf8');
    this.#buf = Buffer.alloc(0);
    const w = this.#done();
    if (close) this.end();
    w?.resolve({ status, text });
    if (close) this.#events.gone(new WarrenError('WARREN_RUNTIME_UNHEALTHY', 'the runtime closed its control connection'));
    else this.#events.free();
  }

  #bad(why: string): void {
    this.destroy(new WarrenError('WARREN_RUNTIME_BAD_ANSWER', `a runtime control answer is malformed: ${why}`));
  }
}

/** A control answer's head: its status, body length and whether the connection closes after it;
 * a string saying what is wrong otherwise. */
function parseHead(text: string): { status: number; length: number; close: boolean } | string {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (!status) return 'no status line';
  const fields = headFields(lines);
  if (typeof fields === 'string') return fields;
  const { length, close } = fields;
  if (length === null) return 'no Content-Length';
  if (length > MAX_ANSWER_BYTES) return `its body exceeds ${MAX_ANSWER_BYTES} bytes`;
  return { status: Number(status[1]), length, close };
}
