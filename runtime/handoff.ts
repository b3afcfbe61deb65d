/**
 * Client connections the host hands over (`warren serve --handoff`): after the router proxied a
 * connection's first request, it passes the client's TCP socket itself to the runtime, which
 * serves the connection's later requests on the function's own server, with no hop through the
 * router (the router's parse, its second connection and its copies are most of a warm request's
 * CPU). What the router did per request the runtime does on these connections:
 *
 *   request ids     made here (a client's own REQUEST_ID_HEADER is replaced), sent back as
 *                   RESPONSE_ID_HEADER
 *   the clock       the function's timeout: past it a 504 with `connection: close`, or the
 *                   connection cut once the answer's head went out
 *   idle            closed after the router's keep-alive timeout
 *   drain           told by the host: idle ones close now, busy ones after their answer
 *   counting        each connection's end is reported to the host with its requests and their
 *                   time (the host holds an instance slot per connection until then)
 *
 * The wire, on the host's socket HANDOFF_NAME in the io dir (the runtime connects, as node's own
 * IPC channel does, so that the kernel passes descriptors to it):
 *
 *   host                                     runtime
 *   POST CONTROL_HANDOFF_PATH         --->   connects an IPC pipe to HANDOFF_NAME, then answers
 *   'h' + a TCP socket (SCM_RIGHTS)   --->   the n-th one (from 1) joins the function's server
 *   'd'                               --->   drain
 *   'p'                               --->   (while connections are open) is the event loop alive?
 *                                     <---   'a\n': it is (no answer within the function's
 *                                            timeout: a request blocks it, and the host
 *                                            destroys the instance, as the router would)
 *                                     <---   'c <n> <requests> <ms>\n' once the n-th closed
 *
 * Node has no public API to receive a descriptor in a process it did not start: the pipe is
 * node's own pipe_wrap in IPC mode (what child_process's channel is made of), whose reads take
 * the descriptors that came with the bytes.
 */
import type http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { HANDOFF_NAME, IO_DIR, REQUEST_ID_HEADER, RESPONSE_ID_HEADER, type HandoffRequest } from './protocol.js';

interface PipeHandle {
  readStart(): number;
  connect(req: unknown, address: string): number;
  writeLatin1String(req: unknown, s: string): number;
  onread: (buf: ArrayBuffer | undefined) => void;
  pendingHandle: unknown;
  close(cb?: () => void): void;
}

interface Bindings {
  Pipe: new (type: number) => PipeHandle;
  PipeConnectWrap: new () => { oncomplete: (status: number) => void };
  constants: { IPC: number };
}

interface StreamBindings {
  WriteWrap: new () => { handle: unknown; oncomplete: () => void; async: boolean };
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
}

const streamBindings = () => (process as unknown as { binding(name: string): StreamBindings }).binding('stream_wrap');

/** A connection the host handed over: its number and what it served. */
interface Handed {
  /** The channel it came on: a host that went away and came back (serve --live-restore) opens
   * a new one, and the connections of the old one are still served by it. */
  owner: Handoff;
  n: number;
  requests: number;
  ms: number;
  /** A request of it is being answered. */
  busy: boolean;
}

const HANDED = Symbol('warren.handed');
type HandedSocket = net.Socket & { [HANDED]?: Handed };

export class Handoff {
  readonly #server: http.Server;
  readonly #config: HandoffRequest;
  #pipe: PipeHandle | null = null;
  #received = 0;
  #draining = false;
  #ended = false;
  readonly #open = new Set<HandedSocket>();
  #idPrefix = '';
  #idCount = 2 ** 48;
  #randomUUID: () => string = () => {
    throw new Error('the handoff is not connected');
  };

  constructor(server: http.Server, config: HandoffRequest) {
    this.#server = server;
    this.#config = config;
  }

  /** Connects to the host's HANDOFF_NAME; resolves once connected. */
  async connect(ioDir: string = IO_DIR): Promise<void> {
    // node:crypto is imported here, not at the top: it is 5 ms of a runtime's boot, and only the
    // runtimes that take connections over (serve --handoff) use it; not by import(), which would
    // start node's ES module loader in a runtime that has none (source-module.ts)
    this.#randomUUID = process.getBuiltinModule('node:crypto').randomUUID;
    const { Pipe, PipeConnectWrap, constants } = (process as unknown as { binding(name: string): Bindings }).binding('pipe_wrap');
    const pipe = new Pipe(constants.IPC);
    return new Promise<void>((resolve, reject) => {
      const req = new PipeConnectWrap();
      req.oncomplete = (status) => {
        if (status < 0) {
          pipe.close();
          reject(new Error(`connect '${HANDOFF_NAME}': error ${status}`));
          return;
        }
        pipe.onread = (buf) => this.#onRead(pipe, buf);
        pipe.readStart();
        this.#pipe = pipe;
        resolve();
      };
      const err = pipe.connect(req, path.join(ioDir, HANDOFF_NAME));
      if (err < 0) {
        pipe.close();
        reject(new Error(`connect '${HANDOFF_NAME}': error ${err}`));
      }
    });
  }

  /**
   * Called for every request on the function's server: on a handed-over connection, gives it an
   * id and the function's clock (the router's own connections had both from the router). True
   * when it answered the request itself (another host's: 421), which must then go no further.
   */
  request(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const h = (req.socket as HandedSocket)[HANDED];
    if (h === undefined) return false;
    if (h.owner !== this) return h.owner.request(req, res);
    if (!this.#sameHost(req.headers.host)) {
      // another function's request on this function's connection (a proxy in front that pools
      // connections across hosts): refused, and the connection closed, so a retry goes to the router
      res.shouldKeepAlive = false;
      res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8' }).end(`this connection serves ${this.#config.host} only\n`);
      return true;
    }
    // the idle clock of take(): a long answer must not be cut by it
    req.socket.setTimeout(0);
    const id = this.#nextId();
    req.headers[REQUEST_ID_HEADER] = id;
    // the function's Headers read rawHeaders (headers.ts): a client's own id must go from there too
    replaceRaw(req.rawHeaders, REQUEST_ID_HEADER, id);
    res.setHeader(RESPONSE_ID_HEADER, id);
    if (this.#draining) res.shouldKeepAlive = false;
    h.busy = true;
    const began = performance.now();
    const timer = setTimeout(() => {
      if (res.headersSent) {
        req.socket.destroy();
        return;
      }
      res.shouldKeepAlive = false;
      res.writeHead(504, { 'content-type': 'text/plain; charset=utf-8' }).end(`the function did not answer within ${this.#config.timeoutMs} ms\n`);
    }, this.#config.timeoutMs);
    res.once('close', () => {
      clearTimeout(timer);
      h.busy = false;
      h.requests++;
      h.ms += performance.now() - began;
      if (this.#draining && !req.socket.destroyed) req.socket.end();
    });
    return false;
  }

  /** A read of the pipe: bytes ('h', 'd'), at most one descriptor (the kernel ends a read at a
   * message that carried one, so a 'd' may come before an 'h', never after it in one read). */
  #onRead(pipe: PipeHandle, buf: ArrayBuffer | undefined): void {
    const handle = pipe.pendingHandle;
    pipe.pendingHandle = null;
    const { streamBaseState, kReadBytesOrError, kArrayBufferOffset } = streamBindings();
    const nread = streamBaseState[kReadBytesOrError] as number;
    // nread < 0: the host's end (it went away or closed the instance): nothing more comes
    if (buf === undefined || nread < 0) {
      this.#drain();
      this.#ended = true;
      pipe.close();
      return;
    }
    const bytes = new Uint8Array(buf, streamBaseState[kArrayBufferOffset] as number, nread);
    if (bytes.includes(0x64 /* 'd' */)) this.#drain();
    if (bytes.includes(0x70 /* 'p' */)) this.#write('a\n');
    if (handle) this.#take(handle);
  }

  #take(handle: unknown): void {
    const socket = new net.Socket({ handle, readable: true, writable: true } as net.SocketConstructorOpts) as HandedSocket;
    const h: Handed = { owner: this, n: ++this.#received, requests: 0, ms: 0, busy: false };
    socket[HANDED] = h;
    // a socket made from a descriptor has node's defaults, not the ones the router set
    socket.setNoDelay(true);
    // idle until its next request: closed after the keep-alive (node's server destroys a socket
    // whose timeout fires with no one listening); disarmed when a request comes (request()), and
    // from then on node arms its own keep-alive after each answer
    socket.setTimeout(this.#config.keepAliveMs);
    this.#open.add(socket);
    socket.once('close', () => {
      this.#open.delete(socket);
      this.#write(`c ${h.n} ${h.requests} ${Math.round(h.ms)}\n`);
    });
    if (this.#draining) {
      socket.destroy();
      return;
    }
    this.#server.emit('connection', socket);
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    for (const s of this.#open) if (!s[HANDED]?.busy) s.destroy();
  }

  /** Drains (SIGTERM: the function's server closes) and resolves once every handed-over
   * connection closed: their requests in flight are answered first. */
  closed(): Promise<void> {
    this.#drain();
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      for (const s of this.#open) s.once('close', () => this.#open.size === 0 && resolve());
    });
  }

  /** The host's end closed: nothing more comes on this channel, and a host that comes back (serve
   * --live-restore adopts this runtime) needs a new one. */
  get ended(): boolean {
    return this.#ended;
  }

  #write(line: string): void {
    const pipe = this.#pipe;
    if (!pipe || this.#ended) return;
    const { WriteWrap } = streamBindings();
    const req = new WriteWrap();
    req.handle = pipe;
    req.async = false;
    req.oncomplete = () => {};
    pipe.writeLatin1String(req, line);
  }

  /** `host` names this function: case, a port and a final dot aside (as router/routing.ts reads it). */
  #sameHost(host: string | undefined): boolean {
    if (host === undefined) return false;
    let h = host.toLowerCase();
    const colon = h.lastIndexOf(':');
    if (colon !== -1 && !h.endsWith(']')) h = h.slice(0, colon);
    if (h.endsWith('.')) h = h.slice(0, -1);
    return h === this.#config.host;
  }

  /** Ids shaped as the router's (router/data-plane.ts): a random prefix, a count. */
  #nextId(): string {
    if (this.#idCount >= 2 ** 48) {
      this.#idPrefix = this.#randomUUID().slice(0, 24);
      this.#idCount = 0;
    }
    return this.#idPrefix + (this.#idCount++).toString(16).padStart(12, '0');
  }
}

/** A HandoffRequest from the control request's body, or a message saying what is wrong. */
export function parseHandoffRequest(text: string): HandoffRequest | string {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    return 'the handoff request is not JSON';
  }
  const { timeoutMs, keepAliveMs, host } = (r ?? {}) as Record<string, unknown>;
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 2 ** 31 - 1;
  if (!ok(timeoutMs) || !ok(keepAliveMs)) return 'the handoff request needs timeoutMs and keepAliveMs, positive ms';
  if (typeof host !== 'string' || host === '' || host !== host.toLowerCase()) return 'the handoff request needs host, a lower-case name';
  return { timeoutMs, keepAliveMs, host };
}

/** Sets `name` (lower case) to `value` in node's [name, value, ...] list: every other copy goes. */
function replaceRaw(raw: string[], name: string, value: string): void {
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    if (raw[i]!.toLowerCase() === name) raw.splice(i, 2);
  }
  raw.push(name, value);
}
