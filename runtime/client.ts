/**
 * The host's side of protocol.ts: learn that a runtime accepts (its socket's name appeared in the
 * io dir) and talk HTTP/1.1 to it over that socket with undici. Runs on the host, never inside.
 *
 * The io dir belongs to the sandbox: whatever has a socket's name there was put there by code we
 * do not trust, and host root connecting by path would follow a symlink to any listener on the
 * host. So a socket is opened once, by name, with O_PATH|O_NOFOLLOW (a symlink opens as itself and
 * is refused), fstat'd to be a socket, and from then on reached only through /proc/self/fd/<fd>:
 * a magic link that names that inode and nothing else, whatever the sandbox renames afterwards.
 * The io dir's own path is the host's (<run>/io/<id>): only its last component is the sandbox's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Pool } from 'undici';
import { WarrenError, errnoOf } from '../lib/errors.js';
import { ControlClient } from './control-client.js';
import {
  CONTROL_HEALTH_PATH,
  CONTROL_LOAD_PATH,
  CONTROL_HANDOFF_PATH,
  CONTROL_NAME,
  CONTROL_SCHEDULED_PATH,
  CONTROL_WARM_PATH,
  SOCKET_NAME,
  type HandoffRequest,
  type HealthAnswer,
  type LoadRequest,
  type ScheduledAnswer,
  type ScheduledRequest,
} from './protocol.js';

/** open(2)'s O_PATH on x86_64 and arm64 (Node's fs.constants does not carry it). */
const O_PATH = 0o10000000;

/** A socket in an io dir, held by an O_PATH fd: connect to `path`, close it when done. */
export class RuntimeSocket {
  /** `/proc/self/fd/<fd>`: names the socket inode that was checked, never a path in the io dir. */
  readonly path: string;
  /** Where it was found, for messages. */
  readonly name: string;
  #fd: number | undefined;

  private constructor(fd: number, name: string) {
    this.#fd = fd;
    this.name = name;
    this.path = `/proc/self/fd/${fd}`;
  }

  /** The socket named `file`, or null while there is nothing by that name. Anything but a socket
   * (a symlink, a fifo, a file) is refused: the host never follows what the sandbox put there. */
  static open(file: string): RuntimeSocket | null {
    let fd: number;
    try {
      fd = fs.openSync(file, O_PATH | fs.constants.O_NOFOLLOW);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return null;
      throw new WarrenError('WARREN_RUNTIME_SOCKET_OPEN', `cannot open runtime socket '${file}'`, { cause: err });
    }
    let stat: fs.Stats;
    try {
      stat = fs.fstatSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      throw new WarrenError('WARREN_RUNTIME_SOCKET_OPEN', `cannot stat runtime socket '${file}'`, { cause: err });
    }
    if (!stat.isSocket()) {
      fs.closeSync(fd);
      const what = stat.isSymbolicLink() ? 'a symlink' : 'not a socket';
      throw new WarrenError('WARREN_RUNTIME_NOT_SOCKET', `runtime socket '${file}' is ${what}: the host connects only to a socket in the io dir`);
    }
    return new RuntimeSocket(fd, file);
  }

  /** Idempotent. Only once nothing connects through `path` any more: the fd number is reused. */
  close(): void {
    if (this.#fd === undefined) return;
    fs.closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/**
 * Resolves with the socket `name` in `ioDir` once it appears: the runtime renames it there only
 * after listen(), so it accepts from then on. Rejects when `signal` aborts first (the sandbox
 * ended, or a deadline), or when what appears is not a socket. inotify, not polling: the wait
 * costs nothing while node boots.
 */
export function waitForSocket(ioDir: string, signal: AbortSignal, name: string = SOCKET_NAME): Promise<RuntimeSocket> {
  const file = path.join(ioDir, name);
  return new Promise((resolve, reject) => {
    let watcher: fs.FSWatcher | undefined;
    let done = false;
    const end = (err: unknown, socket?: RuntimeSocket) => {
      if (done) return socket?.close();
      done = true;
      watcher?.close();
      signal.removeEventListener('abort', onAbort);
      if (socket) resolve(socket);
      else reject(err);
    };
    const look = () => {
      try {
        const socket = RuntimeSocket.open(file);
        if (socket) end(undefined, socket);
      } catch (err) {
        end(err);
      }
    };
    const onAbort = () => end(new WarrenError('WARREN_RUNTIME_NOT_LISTENING', `no runtime socket '${name}' appeared in '${ioDir}'`, { cause: signal.reason }));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);
    try {
      watcher = fs.watch(ioDir, (_event, changed) => {
        if (changed === name) look();
      });
      watcher.on('error', end);
    } catch (err) {
      return end(err);
    }
    // after the watch is set: a rename before it would otherwise go unseen
    look();
  });
}

/** undici, loaded on first use: whoever only needs the protocol (the image builder, `warren run`)
 * does not pay for loading it (~12 ms of a `warren run` start here). */
let undici: typeof import('undici') | undefined;

/** Control connections at most: a health check or a load go one at a time, but each scheduled run
 * in flight holds one until its handler settles (a function has at most 10 crons, each with one
 * run at a time), and one must not wait behind another's. */
const CONTROL_CONNECTIONS = 16;

/** How long the function socket's connections may idle: a day (the runtime keeps them as long). */
const IDLE_MS = 24 * 3600 * 1000;

/** Connections to a function's socket at most: one per request in flight (HTTP/1.1 without
 * pipelining serves one at a time per connection), opened as they are needed and kept alive. */
const FUNCTION_CONNECTIONS = 1024;

function socketPool(socket: RuntimeSocket): Pool {
  undici ??= createRequire(import.meta.url)('undici') as typeof import('undici');
  // how long an idle connection stays open is the runtime's to say (its answers' Keep-Alive):
  // a generic runtime keeps the one opened at boot until its function's first request, however
  // long it waits (main.ts), so that request needs no new connection; undici's own cap (10 min)
  // would close it sooner
  return new undici.Pool('http://warren', { socketPath: socket.path, pipelining: 1, connections: FUNCTION_CONNECTIONS, keepAliveMaxTimeout: IDLE_MS });
}

/**
 * A runtime as the host talks to it: `http`, a keep-alive HTTP/1.1 client on the function's socket
 * (every path there is the function's), and health() and load() on its control socket. Holds both
 * sockets' fds for as long as the clients may connect; close() or destroy() ends the clients,
 * then the fds.
 */
export class RuntimeConnection implements AsyncDisposable {
  /** The function's socket: a pool of keep-alive connections, one per request in flight (a single
   * connection served an instance's concurrent requests one after another). */
  readonly http: Pool;
  readonly #control: ControlClient;
  readonly #sockets: RuntimeSocket[];
  /** Its runtime was started with COLD_FLAG: it holds requests until its first load settled. */
  readonly #holds: boolean;
  #closing: Promise<void> | undefined;

  private constructor(control: RuntimeSocket, fn: RuntimeSocket, holds: boolean) {
    this.#sockets = [control, fn];
    this.#holds = holds;
    this.#control = new ControlClient(control.path, CONTROL_CONNECTIONS);
    this.http = socketPool(fn);
  }

  /** Waits for the runtime in `ioDir` to accept (its control socket's name appears last), then
   * opens both sockets. `cold`: the runtime was started with COLD_FLAG. */
  static async open(ioDir: string, signal: AbortSignal, opts: { cold?: boolean } = {}): Promise<RuntimeConnection> {
    const control = await waitForSocket(ioDir, signal, CONTROL_NAME);
    let fn: RuntimeSocket | null;
    try {
      fn = RuntimeSocket.open(path.join(ioDir, SOCKET_NAME));
    } catch (err) {
      control.close();
      throw err;
    }
    if (!fn) {
      control.close();
      throw new WarrenError('WARREN_RUNTIME_NOT_LISTENING', `no runtime socket '${SOCKET_NAME}' in '${ioDir}' beside its control socket`);
    }
    return new RuntimeConnection(control, fn, opts.cold === true);
  }

  /** The runtime's health; rejects on anything but a 200. */
  async health(): Promise<HealthAnswer> {
    return this.#ask('GET', CONTROL_HEALTH_PATH);
  }

  /** Resolves once the runtime warmed its HTTP path (protocol.ts CONTROL_WARM_PATH); also a health check. */
  async warm(): Promise<HealthAnswer> {
    return this.#ask('GET', CONTROL_WARM_PATH);
  }

  /** Loads a module with its env (protocol.ts: LoadRequest); resolves once it serves. A module
   * that does not load rejects with WARREN_RUNTIME_LOAD_FAILED, and the runtime then exits.
   * `sent` is called once the request has gone into the control socket (its head at least: the
   * connection was idle, nothing was queued before it): a request written to the function's
   * socket after that reaches the runtime after the load's head, and waits there for the load
   * (protocol.ts), so a first request need not wait for the load's answer to be sent. */
  async load(req: LoadRequest, sent?: () => void): Promise<HealthAnswer> {
    // only on a connection the runtime reads already: a new one is accepted, then read, a turn
    // of its event loop later than a request on an open function connection, which would then
    // come first (and be answered 503). Made again (it broke), the load is answered first. A
    // cold runtime's first load goes out on a new connection: it holds requests from its start
    const open = this.#control.busy === 0 && (this.#holds || this.#control.idle > 0);
    const answer = await this.#ask('POST', CONTROL_LOAD_PATH, JSON.stringify(req), open ? sent : undefined);
    if (!open) sent?.();
    return answer;
  }

  /** Has the runtime connect to the host's handoff socket (protocol.ts CONTROL_HANDOFF_PATH), which
   * the caller listens on in the io dir; resolves once it did. */
  async handoff(req: HandoffRequest): Promise<HealthAnswer> {
    return this.#ask('POST', CONTROL_HANDOFF_PATH, JSON.stringify(req));
  }

  /**
   * Runs the module's scheduled() handler for one cron firing (protocol.ts CONTROL_SCHEDULED_PATH);
   * resolves once it and its waitUntil work settled, with its outcome. No clock of its own: the
   * caller's `signal` is the function's timeout. WARREN_RUNTIME_SCHEDULED when the runtime could
   * not run it (no scheduled handler, no module).
   */
  async scheduled(req: ScheduledRequest, signal?: AbortSignal): Promise<ScheduledAnswer> {
    const { status: statusCode, text } = await this.#control.request('POST', CONTROL_SCHEDULED_PATH, JSON.stringify(req), { signal });
    let answer: Partial<ScheduledAnswer> & { error?: unknown } = {};
    try {
      answer = (JSON.parse(text) ?? {}) as typeof answer;
    } catch {
      // named below, with the status
    }
    if (statusCode === 200 && answer.ok === true && (answer.outcome === 'ok' || answer.outcome === 'exception')) {
      const error = typeof answer.error === 'string' ? answer.error.slice(0, 4096) : 'the handler failed';
      return { ok: true, outcome: answer.outcome, ...(answer.outcome === 'exception' && { error }), noRetry: answer.noRetry === true };
    }
    const why = typeof answer.error === 'string' ? answer.error : text.slice(0, 200);
    throw new WarrenError('WARREN_RUNTIME_SCHEDULED', `runtime POST ${CONTROL_SCHEDULED_PATH} answered ${statusCode}: ${why}`);
  }

  async #ask(method: 'GET' | 'POST', what: string, body?: string, sent?: () => void): Promise<HealthAnswer> {
    const res = await this.#control.request(method, what, body, { sent });
    const text = res.text;
    let answer: { ok?: unknown; module?: unknown; error?: unknown } | null = null;
    try {
      answer = JSON.parse(text) as { ok?: unknown; module?: unknown; error?: unknown } | null;
    } catch {
      // named below, with the status
    }
    if (res.status === 200 && answer?.ok === true) return { ok: true, module: typeof answer.module === 'string' ? answer.module : null };
    const why = typeof answer?.error === 'string' ? answer.error : text.slice(0, 200);
    const code = what === CONTROL_LOAD_PATH ? 'WARREN_RUNTIME_LOAD_FAILED' : 'WARREN_RUNTIME_UNHEALTHY';
    throw new WarrenError(code, `runtime ${method} ${what} answered ${res.status}: ${why}`);
  }

  /** Lets requests in flight finish. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= Promise.allSettled([this.http.close(), this.#control.close()]).then(() => this.#closeSockets());
    return this.#closing;
  }

  /** Fails requests in flight now. */
  async destroy(err?: Error): Promise<void> {
    // also after close(): what it still waits for fails now
    this.#control.destroy(err);
    await this.http.destroy(err ?? null);
    this.#closeSockets();
  }

  #closeSockets(): void {
    for (const s of this.#sockets) s.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
