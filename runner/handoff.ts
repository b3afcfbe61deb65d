/**
 * The host's end of an instance's handoff channel (runtime/handoff.ts draws the wire): a socket
 * in the instance's io dir that its runtime connects to when asked over the control socket, on
 * which client connections go over as descriptors ('h'), a drain is asked ('d'), the runtime's
 * event loop is checked while connections are open ('p', answered 'a'), and the runtime tells
 * when each connection it took has closed ('c <n> <requests> <ms>').
 *
 * The router's clock cannot see requests on a handed-over connection: the runtime answers 504
 * past the function's timeout itself, which a request blocking its event loop (a `for (;;)`)
 * would prevent. So while connections are open the host asks every timeout whether the loop
 * turns; no answer by the next ask and the instance is stuck (`stuck`: destroyed, as the router
 * destroys an instance whose request timed out), found within twice the timeout.
 *
 * The listener takes one connection and is gone: it is the runtime's (anything else in the sandbox
 * is as trusted as the runtime, and one connection is all the sandbox ever gets).
 */
import fs from 'node:fs';
import net, { type Socket } from 'node:net';
import path from 'node:path';
import { WarrenError } from '../lib/errors.js';
import { HANDOFF_NAME, type HandoffRequest, type RuntimeConnection } from '../runtime/index.js';
import { sendFd } from './send-fd.js';

/** Called once a handed-over connection closed, with what it served after the handoff. */
export type Closed = (requests: number, ms: number) => void;

/** A report line is a few numbers: a longer one is the sandbox's doing, and ends the channel. */
const MAX_LINE = 128;

export class HandoffChannel {
  readonly #pipe: Socket;
  readonly #fd: number;
  #sent = 0;
  readonly #waiting = new Map<number, Closed>();
  #ended = false;
  /** A 'p' went out and no 'a' came yet. */
  #asked = false;
  readonly #clock: NodeJS.Timeout;

  private constructor(pipe: Socket, timeoutMs: number, stuck: () => void) {
    this.#pipe = pipe;
    this.#clock = setInterval(() => {
      if (this.#waiting.size === 0) return;
      if (this.#asked) {
        // first: the instance is forgotten and dead before its connections' slots come back
        stuck();
        this.destroy();
        return;
      }
      this.#asked = true;
      pipe.write('p');
    }, Math.max(100, timeoutMs)).unref();
    this.#fd = (pipe as unknown as { _handle: { fd: number } })._handle.fd;
    let buffered = '';
    pipe.setEncoding('latin1');
    pipe.on('data', (text: string) => {
      buffered += text;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        this.#report(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
      if (buffered.length > MAX_LINE) this.destroy();
    });
    pipe.on('error', () => this.destroy());
    pipe.on('close', () => this.destroy());
  }

  /** Listens in `ioDir`, asks the runtime to connect, and resolves with the channel once it did. */
  static async open(ioDir: string, conn: RuntimeConnection, config: HandoffRequest, stuck: () => void): Promise<HandoffChannel> {
    const file = path.join(ioDir, HANDOFF_NAME);
    const server = net.createServer({ pauseOnConnect: true });
    try {
      fs.rmSync(file, { force: true });
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(file, resolve));
      // the runtime's uid owns the io dir; the socket is made by root. lchown, never chown: the
      // sandbox can swap the name for a symlink between listen() and here, and root must not
      // then hand it the file the link names (a host file)
      const dir = fs.statSync(ioDir);
      fs.lchownSync(file, dir.uid, dir.gid);
      const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
      await conn.handoff(config);
      const pipe = await Promise.race([accepted, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no connection came')), 5000).unref())]);
      pipe.resume();
      return new HandoffChannel(pipe, config.timeoutMs, stuck);
    } catch (cause) {
      throw new WarrenError('WARREN_HOST_HANDOFF', `handoff socket '${file}' was not connected to`, { cause });
    } finally {
      server.close();
      fs.rmSync(file, { force: true });
    }
  }

  /**
   * Hands `socket` (a client's TCP connection) over; `closed` is called once the runtime reports
   * it closed, or the channel ended. False when it could not go: it is then still the caller's.
   * On true the caller must close its own copy without ending the connection (destroy(), never
   * end(): a FIN would end it for the runtime too).
   */
  send(socket: Socket, closed: Closed): boolean {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (this.#ended || typeof fd !== 'number' || fd < 0) return false;
    if (!sendFd(this.#fd, fd, 0x68 /* 'h' */)) return false;
    this.#waiting.set(++this.#sent, closed);
    return true;
  }

  /** Idle handed-over connections close now, busy ones after their answer. */
  drain(): void {
    if (!this.#ended) this.#pipe.write('d');
  }

  /** Ends the channel: what is still open is reported closed (the instance is going). Idempotent. */
  destroy(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#clock);
    this.#pipe.destroy();
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const closed of waiting) closed(0, 0);
  }

  #report(line: string): void {
    if (line === 'a') {
      this.#asked = false;
      return;
    }
    const m = /^c (\d+) (\d+) (\d+)$/.exec(line);
    const closed = m ? this.#waiting.get(Number(m[1])) : undefined;
    if (!m || !closed) {
      this.destroy();
      return;
    }
    this.#waiting.delete(Number(m[1]));
    closed(Number(m[2]), Number(m[3]));
  }
}
