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
import type { Client } from 'undici';
import { WarrenError, errnoOf } from '../lib/errors.js';
import { HEALTH_PATH, SOCKET_NAME, type HealthAnswer } from './protocol.js';

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

function socketClient(socket: RuntimeSocket): Client {
  undici ??= createRequire(import.meta.url)('undici') as typeof import('undici');
  // the origin names nothing: every request goes to the socket; the Host header reads "warren"
  return new undici.Client('http://warren', { socketPath: socket.path, pipelining: 1 });
}

/**
 * A runtime as the host talks to it: `http`, a keep-alive HTTP/1.1 client on its socket, and its
 * health. Holds the socket's fd for as long as the client may connect; close() or destroy() ends
 * both, in that order.
 */
export class RuntimeConnection implements AsyncDisposable {
  readonly http: Client;
  readonly #socket: RuntimeSocket;
  #closing: Promise<void> | undefined;

  private constructor(socket: RuntimeSocket) {
    this.#socket = socket;
    this.http = socketClient(socket);
  }

  /** Waits for the runtime in `ioDir` to listen, then connects to it. */
  static async open(ioDir: string, signal: AbortSignal): Promise<RuntimeConnection> {
    return new RuntimeConnection(await waitForSocket(ioDir, signal));
  }

  /** Asks the runtime's health path; resolves with its answer, rejects on anything but a 200. */
  async health(): Promise<HealthAnswer> {
    const res = await this.http.request({ method: 'GET', path: HEALTH_PATH });
    const body = await res.body.text();
    if (res.statusCode !== 200) throw new WarrenError('WARREN_RUNTIME_UNHEALTHY', `runtime health answered ${res.statusCode}: ${body.slice(0, 200)}`);
    return JSON.parse(body) as HealthAnswer;
  }

  /** Lets requests in flight finish. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.http.close().finally(() => this.#socket.close());
    return this.#closing;
  }

  /** Fails requests in flight now. */
  async destroy(err?: Error): Promise<void> {
    // also after close(): what it still waits for fails now
    await this.http.destroy(err ?? null);
    this.#socket.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
