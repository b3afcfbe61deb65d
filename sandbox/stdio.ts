/**
 * A sandbox's stdio, seen from the host. A sandbox never holds a host file descriptor: each of its
 * fd 0-2 is /dev/null or an end of a pipe that this process made, and the host relays the pipe's
 * other end, as Docker's shim does: to or from its own stdio ('inherit'), a file ({path}), or the
 * caller ('pipe': Sandbox.stdin/stdout/stderr). The child opens its end through this process's
 * /proc entry (child.c), so it gets an open file description of its own: the O_NONBLOCK that
 * libuv sets on the host's end never reaches the sandbox.
 *
 * Bounds: the host never buffers a sandbox's output without limit. It is back-pressure, and
 * nothing is dropped: a stream that nobody reads holds at most its highWaterMark and one read
 * (libuv's 64 KiB), then Node stops reading the fd, the kernel's pipe buffer (64 KiB) fills, and
 * the sandbox blocks in write(2) until the host reads again. Relays pipe() with the same
 * back-pressure from their sink.
 *
 * Node has no pipe(2): pipe2 comes from libc (lib/libc.ts), loaded by the first sandbox that asks
 * for a pipe (10-25 ms, once per process); a sandbox whose stdio is all 'null' costs nothing here.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { getSystemErrorName } from 'node:util';
import { WarrenError } from '../lib/errors.js';
import { libc } from '../lib/libc.js';

/**
 * What a sandbox's fd 0, 1 or 2 is: /dev/null; a pipe whose host end the caller reads or writes
 * (Sandbox.stdin/stdout/stderr); a pipe that the host relays to or from its own fd of the same
 * number; a pipe that the host relays to (appends) or from a file, opened by the host.
 */
export type StdioSpec = 'null' | 'pipe' | 'inherit' | { path: string };

/** What the spawner hands the child for one of its fds: /dev/null, or the runner's fd `runnerFd`,
 * an end of a pipe (protocol.ts: `pipe:N`). */
export type ChildStdio = 'null' | { runnerFd: number };

const NAMES = ['stdin', 'stdout', 'stderr'] as const;
/** O_CLOEXEC as Linux defines it on x86_64 and arm64: no other child of this process (nft, the
 * spawner's successor) may inherit a sandbox's pipe, or the sandbox would never see EOF. */
const O_CLOEXEC = 0o2000000;
/** How long a relay may take, once every process of the sandbox is dead, to deliver what the
 * pipe still holds; past it, the relay is cut (a writer kept alive outside the sandbox). */
const RELAY_DRAIN_MS = 2000;

/** A new pipe, close-on-exec: [read end, write end]. */
function makePipe(what: string): [number, number] {
  const fds = [-1, -1];
  if (libc().pipe2(fds, O_CLOEXEC) < 0) {
    const errno = libc().errno();
    throw new WarrenError('WARREN_SANDBOX_PIPE', `make a pipe for the sandbox's ${what}: ${errno ? getSystemErrorName(-errno) : 'unknown error'}`);
  }
  return [fds[0] as number, fds[1] as number];
}

function openFile(file: string, fd: number): number {
  try {
    return fs.openSync(file, fd === 0 ? 'r' : 'a');
  } catch (cause) {
    throw new WarrenError('WARREN_SANDBOX_STDIO', `open '${file}' for the sandbox's ${NAMES[fd]}`, { cause });
  }
}

/** The host's ends of a sandbox's stdio, and the relays between them and their sinks. */
export class SandboxStdio {
  /** The caller's ends, for 'pipe'. */
  #streams: [Writable | null, Readable | null, Readable | null] = [null, null, null];
  /** For the spawn request. */
  readonly child: readonly [ChildStdio, ChildStdio, ChildStdio];
  /** The runner's copies of the ends the child opens: closed once it has them, so that EOF comes
   * when the sandbox's last writer (or reader) is gone. */
  #childEnds: number[] = [];
  #hostEnds: net.Socket[] = [];
  /** Settle when a relay has delivered everything (its source ended and its sink has it). */
  #relays: Promise<void>[] = [];
  #stdinSource: Readable | undefined;

  /** This process's read ends of stdout and stderr, by fd (live restore: the spawner holds a
   * copy of each, so that the sandbox's output outlives this process). */
  readonly readEnds: { stdout?: number; stderr?: number } = {};

  /** Makes the pipes and starts the relays. `undefined`: all 'null'. Throws a WarrenError (and
   * holds nothing) when a file cannot be opened or a pipe made. */
  static open(specs?: readonly [StdioSpec, StdioSpec, StdioSpec]): SandboxStdio {
    return new SandboxStdio(specs ?? ['null', 'null', 'null']);
  }

  /**
   * Live restore: an adopted sandbox's stdout and stderr, from the read ends its spawner held
   * (`ends`: fds this process opened), relayed as `specs` said at create. Its stdin is gone (it
   * read EOF when its owner died). A file that cannot be opened again is given up, not thrown.
   */
  static adopt(specs: readonly [StdioSpec, StdioSpec, StdioSpec], ends: { stdout?: number; stderr?: number }): SandboxStdio {
    return new SandboxStdio(specs, ends);
  }

  private constructor(specs: readonly [StdioSpec, StdioSpec, StdioSpec], adopted?: { stdout?: number; stderr?: number }) {
    if (adopted) {
      this.child = ['null', 'null', 'null'];
      for (const fd of [1, 2] as const) {
        const host = fd === 1 ? adopted.stdout : adopted.stderr;
        const spec = specs[fd];
        if (host === undefined) continue;
        let file: number | undefined;
        try {
          file = typeof spec === 'object' ? openFile(spec.path, fd) : undefined;
        } catch {
          fs.closeSync(host);
          continue;
        }
        const end = new net.Socket({ fd: host, readable: true, writable: false });
        this.#hostEnds.push(end);
        end.on('error', () => {});
        this.#connect(spec === 'null' ? 'pipe' : spec, fd, end, file);
      }
      return;
    }
    const files: Array<number | undefined> = [];
    const pipes: Array<[number, number] | undefined> = [];
    try {
      // files first: a path that cannot be opened is the caller's error, found before any pipe
      // exists; every fd is made before any stream owns one, so that a failure closes each once
      specs.forEach((s, fd) => (files[fd] = typeof s === 'object' ? openFile(s.path, fd) : undefined));
      specs.forEach((s, fd) => (pipes[fd] = s === 'null' ? undefined : makePipe(NAMES[fd] as string)));
    } catch (err) {
      for (const f of [...files, ...pipes.flat()]) if (f !== undefined) fs.closeSync(f);
      throw err;
    }
    this.child = specs.map((s, fd) => {
      const pipe = pipes[fd];
      if (s === 'null' || !pipe) return 'null';
      const [host, theirs] = fd === 0 ? [pipe[1], pipe[0]] : pipe;
      this.#childEnds.push(theirs);
      if (fd === 1) this.readEnds.stdout = host;
      if (fd === 2) this.readEnds.stderr = host;
      const end = new net.Socket({ fd: host, readable: fd !== 0, writable: fd === 0 });
      this.#hostEnds.push(end);
      // a pipe's error (EPIPE when the sandbox closed its stdin) is the sandbox's doing: it must
      // never end the host process; a write's callback still sees it
      end.on('error', () => {});
      this.#connect(s, fd, end, files[fd]);
      return { runnerFd: theirs };
    }) as [ChildStdio, ChildStdio, ChildStdio];
  }

  get stdin(): Writable | null {
    return this.#streams[0];
  }

  get stdout(): Readable | null {
    return this.#streams[1];
  }

  get stderr(): Readable | null {
    return this.#streams[2];
  }

  #connect(s: Exclude<StdioSpec, 'null'>, fd: number, end: net.Socket, file: number | undefined): void {
    if (s === 'pipe') {
      this.#streams[fd] = end;
    } else if (fd === 0) {
      const source = file !== undefined ? fs.createReadStream('', { fd: file }) : process.stdin;
      this.#stdinSource = source;
      source.pipe(end);
    } else if (file !== undefined) {
      const sink = fs.createWriteStream('', { fd: file });
      end.pipe(sink);
      this.#relays.push(new Promise((resolve) => sink.on('close', resolve).on('error', () => resolve())));
    } else {
      // the host's own stdout and stderr: written synchronously for files, pipes and terminals on
      // Linux, so the source's end means that the sink has it all
      const sink = fd === 1 ? process.stdout : process.stderr;
      // its reader went away (`warren run ... | head -1`): so does the sandbox's, whose next write
      // fails with EPIPE as it would have on the host's pipe itself; never an error of the host's
      const cut = () => end.destroy();
      sink.on('error', cut);
      end.pipe(sink, { end: false });
      this.#relays.push(new Promise((resolve) => end.on('close', () => resolve(void sink.off('error', cut)))));
    }
  }

  /** Whether the child gets a pipe end of the runner's, to close once it has it. */
  get hasPipes(): boolean {
    return this.#childEnds.length > 0;
  }

  /** The child has opened its ends (or never will): close the runner's copies. Idempotent. */
  childHasEnds(): void {
    for (const fd of this.#childEnds.splice(0)) fs.closeSync(fd);
  }

  /**
   * The sandbox has ended (every process of it is dead): nobody reads its stdin any more, and
   * each relay delivers what the pipe still holds, within RELAY_DRAIN_MS. The caller's 'pipe'
   * outputs are left to the caller, who gets their EOF. Never rejects.
   */
  async finish(): Promise<void> {
    this.childHasEnds();
    this.#closeStdin();
    if (this.#relays.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, RELAY_DRAIN_MS)));
      await Promise.race([Promise.all(this.#relays), late]);
      clearTimeout(timer);
    }
    for (const end of this.#hostEnds) if (end !== this.#streams[1] && end !== this.#streams[2]) end.destroy();
  }

  /** Closes every end now, the caller's streams too. Idempotent. */
  destroy(): void {
    this.childHasEnds();
    this.#closeStdin();
    for (const end of this.#hostEnds) end.destroy();
  }

  #closeStdin(): void {
    const source = this.#stdinSource;
    if (!source) return;
    this.#stdinSource = undefined;
    source.unpipe();
    // the host's own stdin stays open for the rest of the process; paused, it no longer keeps the
    // process alive
    if (source === process.stdin) process.stdin.pause();
    else source.destroy();
  }
}
