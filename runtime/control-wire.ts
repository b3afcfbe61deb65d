/**
 * The control socket's HTTP/1.1, read and written by hand: only the host talks to it (undici, a
 * request at a time per connection, bodies with a Content-Length), so it needs a request line, a
 * few headers and a body, not node:http's server. That server's machinery (a parser object,
 * IncomingMessage and ServerResponse streams, their timers and events) was most of a load's time
 * in the runtime: from the load's head to its answer written, 1.9 ms of a prewarm start here, of
 * which the module's own evaluation took 0.6 (the README has the figures).
 *
 *   request  ──> METHOD SP PATH SP HTTP/1.1 CRLF, headers, CRLF, Content-Length bytes of body
 *   answer   <── HTTP/1.1 STATUS, content-type, content-length, the JSON body: one write
 *
 * What it refuses, answering 400 and closing: a head over MAX_HEAD_BYTES, a malformed request
 * line, a Transfer-Encoding (the host never sends one), a Content-Length that is not a number.
 * A body over the handler's `maxBody` is answered 413 without being kept, and the connection
 * closed after it. `Connection: close` closes the connection after the answer.
 */
import net from 'node:net';
import { headFields } from './control-head.js';

/** A control request's head and whole body. */
export interface WireRequest {
  readonly method: string;
  readonly path: string;
  readonly body: Buffer;
}

/** Writes the answer: a status and a JSON-serializable body. */
export type Reply = (status: number, body: unknown, then?: () => void) => void;

export interface WireHandler {
  /** The most body a request to `path` may have, in bytes. */
  maxBody(method: string, path: string): number;
  /** A whole request; `reply` once, when its answer is known. */
  request(req: WireRequest, reply: Reply): void;
  /** A request whose body is over maxBody: `reply` once (the connection then closes). */
  tooLarge(method: string, path: string, reply: Reply): void;
}

/** The largest request head: a request line and a few short headers. */
const MAX_HEAD_BYTES = 16 * 1024;

const REASONS: Record<number, string> = { 200: 'OK', 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 422: 'Unprocessable Entity', 500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway' };

const CRLFCRLF = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

/** A control socket's server; its connections are its own to end (closeAllConnections). */
export class WireServer extends net.Server {
  readonly #sockets = new Set<net.Socket>();

  constructor(handler: WireHandler) {
    super();
    this.on('connection', (socket: net.Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      new WireConnection(socket, handler);
    });
  }

  /** Ends every connection now (a SIGTERM's drain: the host's requests in flight fail). */
  closeAllConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }
}

interface Reading {
  method: string;
  path: string;
  length: number;
  close: boolean;
  over: boolean;
}

class WireConnection {
  /** Bytes read and not yet consumed, as they came: joined once a head or a whole body is in (a
   * load of many MiB comes in 64 KiB reads: joining at each would copy it hundreds of times). */
  #parts: Buffer[] = [];
  #bytes = 0;
  /** The request whose body is being read, or null while reading a head. */
  #current: Reading | null = null;
  /** A request is being handled: the next one is read once it was answered. */
  #busy = false;
  /** Refused or answered with Connection: close: nothing more is read. */
  #closing = false;

  constructor(
    readonly socket: net.Socket,
    readonly handler: WireHandler,
  ) {
    socket.on('data', (chunk: Buffer) => {
      // answered with the connection's end (a refusal, an oversized body): the rest is dropped,
      // not kept
      if (this.#closing) return;
      this.#parts.push(chunk);
      this.#bytes += chunk.length;
      this.#advance();
    });
    // the host went away: nothing to answer
    socket.on('error', () => socket.destroy());
  }

  #advance(): void {
    while (!this.#busy && !this.socket.destroyed) {
      if (!this.#current && !this.#readHead()) return;
      const cur = this.#current as Reading;
      if (cur.over) {
        // its body is not kept: answered at once, and the connection ends after the answer
        this.#current = null;
        this.#busy = true;
        this.#drop();
        this.handler.tooLarge(cur.method, cur.path, this.#replier(true));
        return;
      }
      if (this.#bytes < cur.length) return;
      const body = this.#take(cur.length);
      this.#current = null;
      this.#busy = true;
      this.handler.request({ method: cur.method, path: cur.path, body }, this.#replier(cur.close));
    }
  }

  /** Parses a head at the buffer's start into #current; false when it is not all here yet. */
  #readHead(): boolean {
    if (this.#bytes === 0) return false;
    const buf = this.#joined();
    const end = buf.indexOf(CRLFCRLF);
    if (end < 0) {
      if (this.#bytes > MAX_HEAD_BYTES) this.#refuse('the request head is too large');
      return false;
    }
    if (end > MAX_HEAD_BYTES) {
      this.#refuse('the request head is too large');
      return false;
    }
    const lines = buf.toString('latin1', 0, end).split('\r\n');
    this.#take(end + 4);
    const line = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(lines[0] ?? '');
    if (!line) {
      this.#refuse('a malformed request line');
      return false;
    }
    const fields = headFields(lines);
    if (typeof fields === 'string') {
      this.#refuse(fields);
      return false;
    }
    const length = fields.length ?? 0;
    const close = fields.close;
    const [, method, path] = line as unknown as [string, string, string];
    const over = length > this.handler.maxBody(method, path);
    this.#current = { method, path, length, close: close || over, over };
    return true;
  }

  #refuse(why: string): void {
    this.#busy = true;
    this.#drop();
    this.#replier(true)(400, { ok: false, error: `a bad control request: ${why}` });
  }

  #replier(close: boolean): Reply {
    let done = false;
    return (status, body, then) => {
      if (done) return;
      done = true;
      const text = JSON.stringify(body);
      const head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Status'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n${close ? 'connection: close\r\n' : ''}\r\n`;
      if (this.socket.destroyed) return then?.();
      this.socket.write(head + text, () => then?.());
      if (close) {
        this.socket.end();
        return;
      }
      this.#busy = false;
      // the next request, if one came meanwhile: on a later tick, not inside the handler's call
      if (this.#bytes > 0) process.nextTick(() => this.#advance());
    };
  }

  /** Everything read so far, as one buffer (and kept so). */
  #joined(): Buffer {
    if (this.#parts.length > 1) this.#parts = [Buffer.concat(this.#parts, this.#bytes)];
    return this.#parts[0] ?? EMPTY;
  }

  /** The first `n` bytes read, consumed. */
  #take(n: number): Buffer {
    const all = this.#joined();
    const rest = all.subarray(n);
    this.#parts = rest.length > 0 ? [rest] : [];
    this.#bytes = rest.length;
    return all.subarray(0, n);
  }

  /** Nothing more is read on this connection, and nothing read is kept. */
  #drop(): void {
    this.#closing = true;
    this.#parts = [];
    this.#bytes = 0;
  }
}
