/**
 * Functions' logs on the host. Each sandbox's stdout and stderr pipes are read line by line: a line
 * that is a runtime LogRecord (runtime/protocol.ts) keeps its request id and stream, any other is
 * the function's text on that pipe. Lines are kept per function on disk, in `<dir>/<fn>.ndjson`
 * (one LogLine of router/control.ts per line), rotated to `.1` at a byte cap: at most two files,
 * so logs survive a restart and a function that writes without end cannot fill the host.
 *
 * What memory holds is bounded too: a line is cut at MAX_LOG_LINE_BYTES while it is read; lines
 * wait for the disk only until the next turn of the event loop; a function may log at most
 * `bytesPerSecond`, past which its lines are dropped and counted (one line then says how many);
 * and a follower that reads slower than lines come is dropped from, with a line saying so.
 *
 * The store writes only what a function (or the host, about it) wrote: nothing of the function's
 * configuration, so no secret, ever goes through it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { WarrenError } from '../lib/errors.js';
import type { LogLine } from '../router/control.js';
import { splitLines } from '../lib/bounded-lines.js';
import { capLogText, MAX_LOG_LINE_BYTES, MAX_REQUEST_ID_LENGTH, parseLogRecord } from '../runtime/protocol.js';

export interface LogMeta {
  fn: string;
  version: number;
  instance: string;
}

export interface LogStoreOptions {
  /** Where the functions' files live; made (mode 0700) if missing. */
  dir: string;
  /** A function's file is rotated to `.1` before it would pass this: at most twice this on disk. */
  fileBytes?: number;
  /** What a function may log per second (as stored); past it its lines are dropped and counted. */
  bytesPerSecond?: number;
  /** How far a follower may fall behind, in lines, before lines are dropped for it. */
  followLines?: number;
  /** The same in bytes of text: lines can be long. */
  followBytes?: number;
  /** The clock, ms (tests). */
  now?: () => number;
}

const DEFAULTS = { fileBytes: 4 * 1024 * 1024, bytesPerSecond: 1024 * 1024, followLines: 1000, followBytes: 1024 * 1024 };
/** A record's time is believed within this of the host's clock (the sandbox's clock is the host's,
 * but the record is the function's to forge). */
const CLOCK_SLACK_MS = 24 * 3600 * 1000;
/** A plain file name: the function's name becomes one. */
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Lines for one reader that follows: bounded; once full, lines are dropped until it catches up. */
class Follower {
  readonly #queue: LogLine[] = [];
  #dropped = 0;
  #last: LogLine | undefined;
  #wake: (() => void) | undefined;
  #ended = false;

  #bytes = 0;

  constructor(
    readonly limit: number,
    readonly limitBytes: number,
  ) {}

  push(line: LogLine): void {
    // once dropping, keep dropping until the queue is drained: the marker then stands where the gap is
    if (this.#dropped > 0 || this.#queue.length >= this.limit || this.#bytes + line.text.length > this.limitBytes) {
      this.#dropped++;
      this.#last = line;
    } else {
      this.#queue.push(line);
      this.#bytes += line.text.length;
    }
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  /** The next line, or null once ended or `signal` aborts. */
  async next(signal: AbortSignal): Promise<LogLine | null> {
    for (;;) {
      const line = this.#queue.shift();
      if (line) {
        this.#bytes -= line.text.length;
        return line;
      }
      if (this.#dropped > 0 && this.#last) {
        const text = `${this.#dropped} lines dropped: this reader fell more than ${this.limit} lines or ${this.limitBytes} bytes behind`;
        this.#dropped = 0;
        return { ...this.#last, requestId: null, stream: 'warren', text };
      }
      if (this.#ended || signal.aborted) return null;
      let onAbort: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = onAbort = () => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
      });
      // a follower waits many times on one signal: a listener left behind each time would pile up
      signal.removeEventListener('abort', onAbort as () => void);
      this.#wake = undefined;
    }
  }
}

/** One function's log: its file, what waits to be written, its rate window, its followers. */
interface FnLog {
  file: string;
  fd: number | null;
  size: number;
  /** Lines not yet on disk: no more than one turn of the event loop's worth (within the rate). */
  pending: LogLine[];
  followers: Set<Follower>;
  windowStart: number;
  windowBytes: number;
  dropped: number;
  droppedBytes: number;
  droppedMeta: LogMeta | undefined;
  dropTimer: NodeJS.Timeout | undefined;
  dead: boolean;
}

export class LogStore implements AsyncDisposable {
  readonly #dir: string;
  readonly #fileBytes: number;
  readonly #rate: number;
  readonly #followLines: number;
  readonly #followBytes: number;
  readonly #now: () => number;
  readonly #fns = new Map<string, FnLog>();
  readonly #dirty = new Set<FnLog>();
  #flushing: NodeJS.Immediate | undefined;
  #closed = false;

  constructor(opts: LogStoreOptions) {
    this.#dir = opts.dir;
    this.#fileBytes = opts.fileBytes ?? DEFAULTS.fileBytes;
    this.#rate = opts.bytesPerSecond ?? DEFAULTS.bytesPerSecond;
    this.#followLines = opts.followLines ?? DEFAULTS.followLines;
    this.#followBytes = opts.followBytes ?? DEFAULTS.followBytes;
    this.#now = opts.now ?? Date.now;
    try {
      fs.mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new WarrenError('WARREN_LOGS_DIR', `cannot make the log dir '${this.#dir}'`, { cause: err });
    }
  }

  /** Reads a sandbox's stdout or stderr pipe until it ends, keeping its lines as `meta`'s. */
  attach(stream: Readable, which: 'stdout' | 'stderr', meta: LogMeta): void {
    const log = this.#log(meta.fn);
    stream.on('error', () => {
      // the sandbox's end closes its pipes: what came before is kept, nothing to report
    });
    splitLines(stream, MAX_LOG_LINE_BYTES, (buf, over) => {
      if (log.dead || this.#closed) return;
      this.#fromFunction(log, meta, toLogLine(buf, over, which, meta, this.#now()));
    });
  }

  /** The host's own line about a function ("timed out after 30000 ms", "out of memory"). */
  report(meta: LogMeta, text: string, requestId: string | null = null): void {
    if (this.#closed) return;
    const line: LogLine = { time: new Date(this.#now()).toISOString(), ...meta, requestId, stream: 'warren', text: capLogText(text) };
    this.#add(this.#log(meta.fn), line);
  }

  /**
   * What is kept of `fn`'s log (from disk: it survives a restart), oldest first; with `follow`,
   * then each new line until `signal` aborts (or the function is removed, or the store closes).
   */
  async *read(fn: string, opts: { follow: boolean; signal: AbortSignal }): AsyncGenerator<LogLine> {
    const file = this.#file(fn);
    const log = this.#fns.get(fn) ?? (opts.follow && !this.#closed ? this.#log(fn) : undefined);
    if (log) this.#flush(log);
    // the files as they are now, opened before any await: a rotation meanwhile renames a file we
    // hold, and every line after this point reaches the follower instead
    const files = [`${file}.1`, file].map(openForReading).filter((f) => f !== null);
    const follower = opts.follow && log && !log.dead ? new Follower(this.#followLines, this.#followBytes) : undefined;
    if (follower) log?.followers.add(follower);
    try {
      while (files.length > 0) {
        const f = files.shift() as { fd: number; size: number };
        // linesOf's stream owns the fd from here on, and closes it
        for await (const line of linesOf(f.fd, f.size)) {
          if (opts.signal.aborted) return;
          yield line;
        }
      }
      if (!follower) return;
      for (;;) {
        const line = await follower.next(opts.signal);
        if (!line) return;
        yield line;
      }
    } finally {
      for (const f of files) fs.closeSync(f.fd); // never handed to linesOf
      if (follower) log?.followers.delete(follower);
    }
  }

  /** Forgets `fn`'s log (the function was deleted): its files go, its followers end. */
  remove(fn: string): void {
    const file = this.#file(fn);
    const log = this.#fns.get(fn);
    if (log) {
      this.#end(log);
      this.#fns.delete(fn);
    }
    for (const f of [file, `${file}.1`]) fs.rmSync(f, { force: true });
  }

  /** Writes what waits, ends every follower. Idempotent. */
  close(): void {
    if (this.#closed) return;
    for (const log of this.#fns.values()) {
      this.#endDrops(log);
      this.#flush(log);
      this.#end(log);
    }
    this.#fns.clear();
    if (this.#flushing) clearImmediate(this.#flushing);
    this.#closed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  #file(fn: string): string {
    if (!FILE_NAME.test(fn)) throw new WarrenError('WARREN_LOGS_NAME', `function name '${fn.slice(0, 80)}' cannot name a log file`);
    return path.join(this.#dir, `${fn}.ndjson`);
  }

  #log(fn: string): FnLog {
    let log = this.#fns.get(fn);
    if (!log) {
      log = {
        file: this.#file(fn), fd: null, size: 0, pending: [], followers: new Set(),
        windowStart: 0, windowBytes: 0, dropped: 0, droppedBytes: 0, droppedMeta: undefined, dropTimer: undefined,
        dead: false,
      };
      this.#fns.set(fn, log);
    }
    return log;
  }

  /** A function's line, within its rate: past it, dropped and counted until the second ends. */
  #fromFunction(log: FnLog, meta: LogMeta, line: LogLine): void {
    const now = this.#now();
    if (now - log.windowStart >= 1000) {
      this.#endDrops(log);
      log.windowStart = now;
      log.windowBytes = 0;
    }
    const bytes = Buffer.byteLength(line.text) + 200;
    if (log.windowBytes + bytes > this.#rate) {
      log.dropped++;
      log.droppedBytes += Buffer.byteLength(line.text);
      log.droppedMeta = meta;
      // said when the second ends, also when the function has gone quiet by then
      log.dropTimer ??= setTimeout(() => this.#endDrops(log), Math.max(1, 1000 - (now - log.windowStart))).unref();
      return;
    }
    log.windowBytes += bytes;
    this.#add(log, line);
  }

  #endDrops(log: FnLog): void {
    clearTimeout(log.dropTimer);
    log.dropTimer = undefined;
    if (log.dropped === 0 || !log.droppedMeta || log.dead) return;
    const text = `${log.dropped} lines (${log.droppedBytes} bytes) dropped: the function logged more than ${this.#rate} bytes in a second`;
    log.dropped = 0;
    log.droppedBytes = 0;
    this.#add(log, { time: new Date(this.#now()).toISOString(), ...log.droppedMeta, requestId: null, stream: 'warren', text });
  }

  #add(log: FnLog, line: LogLine): void {
    if (log.dead) return;
    log.pending.push(line);
    for (const f of log.followers) f.push(line);
    this.#dirty.add(log);
    this.#flushing ??= setImmediate(() => {
      this.#flushing = undefined;
      for (const l of this.#dirty) this.#flush(l);
    });
  }

  /** Writes what waits for `log`, rotating its file first when it would pass the cap. */
  #flush(log: FnLog): void {
    this.#dirty.delete(log);
    if (log.pending.length === 0 || log.dead) return;
    const lines = log.pending;
    log.pending = [];
    try {
      if (log.fd === null) {
        log.fd = fs.openSync(log.file, 'a', 0o600);
        log.size = fs.fstatSync(log.fd).size;
      }
      // in pieces that each fit what is left of the file: a batch bigger than the cap rotates as
      // often as it needs to, and what is on disk is always its newest lines
      let piece = '';
      let pieceBytes = 0;
      for (const l of lines) {
        const json = `${JSON.stringify(l)}\n`;
        const bytes = Buffer.byteLength(json);
        if (log.size + pieceBytes + bytes > this.#fileBytes && log.size + pieceBytes > 0) {
          if (pieceBytes > 0) this.#write(log, piece, pieceBytes);
          piece = '';
          pieceBytes = 0;
          this.#rotate(log);
        }
        piece += json;
        pieceBytes += bytes;
      }
      if (pieceBytes > 0) this.#write(log, piece, pieceBytes);
    } catch {
      // a full or failing disk loses these lines (followers had them), never the host's process
    }
  }

  #write(log: FnLog, text: string, bytes: number): void {
    fs.writeSync(log.fd as number, text);
    log.size += bytes;
  }

  #rotate(log: FnLog): void {
    if (log.fd !== null) fs.closeSync(log.fd);
    log.fd = null;
    fs.renameSync(log.file, `${log.file}.1`);
    log.fd = fs.openSync(log.file, 'a', 0o600);
    log.size = 0;
  }

  #end(log: FnLog): void {
    log.dead = true;
    clearTimeout(log.dropTimer);
    for (const f of log.followers) f.end();
    log.followers.clear();
    if (log.fd !== null) fs.closeSync(log.fd);
    log.fd = null;
    this.#dirty.delete(log);
  }
}

/** A line of a sandbox's pipe as a LogLine: a runtime record's fields, or the text as it came. */
function toLogLine(buf: Buffer, over: number, which: 'stdout' | 'stderr', meta: LogMeta, now: number): LogLine {
  const text = buf.toString('utf8');
  if (over === 0 && text.startsWith('{')) {
    const record = parseLogRecord(text);
    if (record) {
      const time = Math.abs(record.t - now) <= CLOCK_SLACK_MS ? record.t : now;
      // the record is the function's to forge: its text and id are cut like any other line
      const rid = record.rid?.slice(0, MAX_REQUEST_ID_LENGTH) ?? null;
      return { time: new Date(time).toISOString(), ...meta, requestId: rid, stream: record.s, text: capLogText(record.m) };
    }
  }
  return { time: new Date(now).toISOString(), ...meta, requestId: null, stream: which, text: capLogText(text, over) };
}

function openForReading(file: string): { fd: number; size: number } | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null; // not there (yet, or any more): nothing kept
  }
  return { fd, size: fs.fstatSync(fd).size };
}

/** The LogLines in the first `size` bytes of `fd`; a line that does not parse (a write cut short
 * by a crash) is skipped. */
async function* linesOf(fd: number, size: number): AsyncGenerator<LogLine> {
  // loaded here, not at the top: only a log read needs it, and serve's start paid 4 ms for it
  const { createInterface } = await import('node:readline');
  const input = fs.createReadStream('', { fd, start: 0, end: Math.max(size - 1, 0) });
  if (size === 0) return void input.destroy();
  try {
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      const line = parseStored(text);
      if (line) yield line;
    }
  } finally {
    input.destroy();
  }
}

function parseStored(text: string): LogLine | null {
  try {
    const line = JSON.parse(text) as LogLine;
    return typeof line?.text === 'string' && typeof line.time === 'string' ? line : null;
  } catch {
    return null;
  }
}
