/**
 * The runtime's log: every console.* call becomes one LogRecord line (protocol.ts) on stdout or
 * stderr, tagged with the id of the request whose handling wrote it. The id travels in an
 * AsyncLocalStorage entered around each request (serve.ts), so it follows the handler's awaits,
 * timers and waitUntil work, and many requests in flight at once each keep their own.
 *
 * console's methods are replaced on the global console object itself (not by a new global): a
 * module that imports 'node:console' gets that same object, so it is tagged too. A Console of our
 * own does the formatting (util.format, groups, table, trace), then hands us the text of one call.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Console } from 'node:console';
import { capLogText, MAX_REQUEST_ID_LENGTH, type LogRecord } from './protocol.js';

const requests = new AsyncLocalStorage<string | null>();

/** Runs `fn` with `rid` as the request id of everything it starts. */
export function withRequestId<A extends unknown[], R>(rid: string | null, fn: (...args: A) => R, ...args: A): R {
  return requests.run(rid, fn, ...args);
}

/** The request id a header value gives: its first value, cut to MAX_REQUEST_ID_LENGTH. */
export function requestIdOf(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return null;
  return value.length > MAX_REQUEST_ID_LENGTH ? value.slice(0, MAX_REQUEST_ID_LENGTH) : value;
}

function write(fd: 'stdout' | 'stderr', s: LogRecord['s'], text: string): void {
  const record: LogRecord = { t: Date.now(), rid: requests.getStore() ?? null, s, m: capLogText(text) };
  // the pipe blocks (installConsole): a host that stops reading stalls the function, never our memory
  process[fd].write(`${JSON.stringify(record)}\n`);
}

/** A report of the runtime's own about the function (stream 'warren'), tagged like console's. */
export function report(text: string): void {
  write('stderr', 'warren', text);
}

/** A console stream that takes one call's formatted text (console adds the final newline). */
function sink(fd: 'stdout' | 'stderr'): NodeJS.WritableStream {
  return {
    write(chunk: string | Uint8Array) {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      write(fd, fd, text.endsWith('\n') ? text.slice(0, -1) : text);
      return true;
    },
  } as NodeJS.WritableStream;
}

let installed = false;

/** Makes console.* write LogRecords. Idempotent. */
export function installConsole(): void {
  if (installed) return;
  installed = true;
  for (const fd of [process.stdout, process.stderr]) {
    // a pipe the host no longer reads (EPIPE) loses the log, never the runtime
    fd.on('error', () => {});
    // node writes a pipe without blocking: what the pipe does not take at once waits in our
    // memory, so a function logging faster than the host reads grew until its OOM kill took every
    // request of the instance. Blocking writes make it wait for the host instead.
    (fd as unknown as { _handle?: { setBlocking?: (on: boolean) => number } })._handle?.setBlocking?.(true);
  }
  // ignoreErrors: false makes console call write() once per call, with nothing else around it
  const ours = new Console({ stdout: sink('stdout'), stderr: sink('stderr'), ignoreErrors: false, colorMode: false });
  const target = console as unknown as Record<string, unknown>;
  for (const [name, value] of Object.entries(ours)) {
    // Console's own methods are bound to it; its fields (_stdout...) stay the global's
    if (typeof value === 'function' && typeof target[name] === 'function') target[name] = value;
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
