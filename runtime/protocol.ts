/**
 * What the host and the runtime agree on. The runtime imports nothing else from the host side, and
 * the host imports nothing else from the runtime: this file is the whole contract between them.
 *
 *   host                                     runtime (in the sandbox)
 *   bind-mounts its io dir at IO_DIR   --->  listens on SOCKET_NAME.tmp, renames it to SOCKET_NAME;
 *                                            then the same for CONTROL_NAME (a name appears only
 *                                            once it accepts). Then it warms its HTTP path with
 *                                            one request of its own on a private server (node
 *                                            compiles that path and loads Request/Response then,
 *                                            not on the function's first request)
 *   sees CONTROL_NAME appear: both     <---  (rename: a name appears only once it accepts)
 *   accept; opens each by fd, never by path (client.ts)
 *
 *   on CONTROL_NAME (HTTP/1.1, JSON bodies; the function's socket never reaches it):
 *   GET  CONTROL_HEALTH_PATH           --->  200 HealthAnswer
 *   GET  CONTROL_WARM_PATH             --->  200 HealthAnswer once the warm-up has run (it
 *                                            starts as the control socket's name appears): a pool
 *                                            counts a runtime ready only then, so that no
 *                                            function's first request pays node's lazy compile
 *   POST CONTROL_LOAD_PATH LoadRequest --->  200 HealthAnswer: the module serves from now on
 *                                            400 ErrorAnswer: the request itself is malformed
 *                                            409 ErrorAnswer: a module is loaded already (one per
 *                                                runtime: it never serves a second function)
 *                                            413 ErrorAnswer: the body exceeds MAX_LOAD_BYTES
 *                                            422 ErrorAnswer: the module failed to import or has
 *                                                neither a fetch nor a scheduled handler (or no
 *                                                scheduled one, with needsScheduled); the runtime
 *                                                then exits EXIT_BAD_MODULE, since the failed
 *                                                module's top-level code may have changed the process
 *   POST CONTROL_SCHEDULED_PATH        --->  200 ScheduledAnswer once the module's scheduled(event,
 *        ScheduledRequest                        env, ctx) and its ctx.waitUntil promises settled;
 *                                                its outcome says whether one threw (the stack went
 *                                                to the log). Its console output is tagged with the
 *                                                request's `rid`, as a request's is with its id
 *                                            400 ErrorAnswer: the request itself is malformed
 *                                            409 ErrorAnswer: no module is loaded
 *                                            501 ErrorAnswer: the module has no scheduled handler
 *
 *   POST CONTROL_HANDOFF_PATH          --->  200 HealthAnswer once connected to HANDOFF_NAME, which
 *        HandoffRequest                          the host listens on in the io dir: from then on the
 *                                                host may hand client connections over (serve
 *                                                --handoff; the wire is drawn in handoff.ts)
 *                                            400 ErrorAnswer: the request itself is malformed
 *                                            413 ErrorAnswer: the body exceeds 1 KiB
 *                                            502 ErrorAnswer: HANDOFF_NAME did not accept
 *
 *   on SOCKET_NAME: every request, whatever its path, goes to the module's
 *   fetch(request, env, ctx); 503 while no module is loaded, until the warm-up was answered
 *   (started with COLD_FLAG: from the start on, and no warm-up runs unless GET
 *   CONTROL_WARM_PATH asks for it): from then on (and while a load is under way) a request waits
 *   for the next load's answer:
 *   the module serves it, or after a failed load it is a 503 (and the runtime exits). So the
 *   host may send a function's first request right behind its load, once the load has left
 *   (node may read the function's socket before the control socket). 501 when the module has no
 *   fetch handler (only a scheduled one). A throw, a rejected promise or a value that is not a
 *   Response is a 500 for that request only (its stack goes to the log).
 *
 *   on the runtime's stdout and stderr (the host reads both pipes):
 *   one LogRecord per line, JSON     --->  each console.* call (console.log/info/debug on stdout,
 *                                            warn/error/trace on stderr) and each of the runtime's
 *                                            own reports (stream 'warren', on stderr), tagged
 *                                            with the REQUEST_ID_HEADER of the request whose
 *                                            handling wrote it. A line that is not a record (a raw
 *                                            process.stdout.write, node's own crash report) is
 *                                            the function's text on that stream, untagged.
 *
 * `--module FILE` at start loads FILE (with an empty env) before anything listens; a bad one exits
 * EXIT_BAD_MODULE and no name ever appears.
 */

/**
 * The runtime's argument for a cold start (the host starts it for a request that waits, and
 * loads its function at once): it does not warm itself up (the load and the request are what the
 * warm-up would rehearse, and cost less than it), and its function socket holds every request
 * from the start until the first load settled, as it does from the warm-up's answer on otherwise.
 */
export const COLD_FLAG = '--cold';

/** Where the sandbox sees its io dir (a per-sandbox host dir, bind-mounted read-write). */
export const IO_DIR = '/warren/io';
/** The function's HTTP/1.1 socket's name in the io dir. */
export const SOCKET_NAME = 'http.sock';
/** The control socket's name in the io dir: only the host talks to it. */
export const CONTROL_NAME = 'control.sock';
export const CONTROL_HEALTH_PATH = '/health';
export const CONTROL_LOAD_PATH = '/load';
export const CONTROL_WARM_PATH = '/warm';
export const CONTROL_SCHEDULED_PATH = '/scheduled';
export const CONTROL_HANDOFF_PATH = '/handoff';
/** The host's socket in the io dir that hands client connections over (handoff.ts). */
export const HANDOFF_NAME = 'handoff.sock';
/** The largest load request the runtime reads (a module's source travels in it). */
export const MAX_LOAD_BYTES = 32 * 1024 * 1024;
/**
 * The request id the router gives each invocation, on the request the function's socket receives
 * (a client's own value is replaced): console output written while handling it is tagged with it.
 */
export const REQUEST_ID_HEADER = 'x-warren-request-id';
/** The longest request id the runtime keeps (a longer header value is cut). */
export const MAX_REQUEST_ID_LENGTH = 128;

/** One line of the runtime's stdout or stderr: a console.* call or a report of the runtime's own. */
export interface LogRecord {
  /** When it was written, epoch ms. */
  t: number;
  /** REQUEST_ID_HEADER of the request whose handling wrote it (also in its timers and waitUntil
   * work), or null outside any request. */
  rid: string | null;
  /** 'warren': the runtime's own report about the function (a throw's stack, a bad return). */
  s: 'stdout' | 'stderr' | 'warren';
  /** The text as console would print it (util.format), without the final newline; at most
   * MAX_LOG_TEXT_BYTES of UTF-8, a longer one cut and ended with LOG_TRUNCATED. */
  m: string;
}

/** A record's text is cut to this many bytes (of UTF-8). */
export const MAX_LOG_TEXT_BYTES = 16 * 1024;
/** Ends a text that was cut, followed by how many bytes went. */
export const LOG_TRUNCATED = '… [truncated';
/**
 * `text` cut to MAX_LOG_TEXT_BYTES of UTF-8, ending with LOG_TRUNCATED and how many bytes went
 * (those cut here, plus `dropped` that went before it reached us). Both sides cut the same way:
 * the runtime its records, the host a line that is not one (and a record's text it does not trust
 * to be short).
 */
export function capLogText(text: string, dropped = 0): string {
  // a UTF-16 unit is at most 3 bytes of UTF-8: shorter strings need no measuring
  if (dropped === 0 && text.length * 3 <= MAX_LOG_TEXT_BYTES) return text;
  const bytes = Buffer.byteLength(text);
  if (dropped === 0 && bytes <= MAX_LOG_TEXT_BYTES) return text;
  // room for the marker; a code point the cut splits decodes as U+FFFD
  const kept = bytes + 64 <= MAX_LOG_TEXT_BYTES ? text : Buffer.from(text).subarray(0, MAX_LOG_TEXT_BYTES - 64).toString('utf8');
  return `${kept}${LOG_TRUNCATED} ${bytes - Buffer.byteLength(kept) + dropped} bytes]`;
}

const LOG_STREAMS: ReadonlySet<string> = new Set<LogRecord['s']>(['stdout', 'stderr', 'warren']);

/** A line of the runtime's stdout or stderr as a LogRecord, or null when it is not one. */
export function parseLogRecord(line: string): LogRecord | null {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch {
    return null;
  }
  const { t, rid, s, m } = (r ?? {}) as Record<string, unknown>;
  if (typeof t !== 'number' || !Number.isFinite(t) || typeof m !== 'string' || typeof s !== 'string' || !LOG_STREAMS.has(s)) return null;
  if (rid !== null && typeof rid !== 'string') return null;
  return { t, rid, s: s as LogRecord['s'], m };
}

/** The longest line the host reads from a runtime's pipe: a record's JSON escaping can make its
 * text up to 6 times longer; past this a line is cut, never buffered whole. */
export const MAX_LOG_LINE_BYTES = 6 * MAX_LOG_TEXT_BYTES + 1024;

/** Where the base image holds the runtime's bundle. */
export const RUNTIME_IN_IMAGE = '/warren/runtime.cjs';

/** The runtime's exit codes, so the host can tell a bad module from a crash. */
export const EXIT_BAD_USAGE = 64;
export const EXIT_BAD_MODULE = 65;

export interface HealthAnswer {
  ok: true;
  /** Where the loaded module was imported from, or null before a load. */
  module: string | null;
}

export interface ErrorAnswer {
  ok: false;
  error: string;
}

/**
 * A module to load, with its env. Exactly one of `source` (the module's text, which the runtime
 * imports from memory, named `name` in stack traces and in HealthAnswer.module; default
 * 'worker.mjs') and `path` (a file readable inside the sandbox).
 */
export interface LoadRequest {
  source?: string;
  /** A plain file name (letters, digits, '.', '_', '-'): what the source is shown as. */
  name?: string;
  path?: string;
  /** The function's `env`: a JSON object, given as is to every fetch(request, env, ctx). */
  env?: Record<string, unknown>;
  /** The function has cron triggers: a module without a scheduled handler is refused (422). */
  needsScheduled?: boolean;
}

/** One cron firing for the module's scheduled(event, env, ctx) (POST CONTROL_SCHEDULED_PATH). */
export interface ScheduledRequest {
  /** The cron expression that fired: the event's `cron`. */
  cron: string;
  /** When the firing was due, epoch ms: the event's `scheduledTime`. */
  scheduledTime: number;
  /** The run's id (at most MAX_REQUEST_ID_LENGTH): console output during the run is tagged with it. */
  rid: string;
}

export interface ScheduledAnswer {
  ok: true;
  /** 'exception': the handler threw or rejected, or a waitUntil promise of its rejected. */
  outcome: 'ok' | 'exception';
  /** The first exception's message, for 'exception'. */
  error?: string;
  /** The handler called event.noRetry() (warren never retries a run: told for the log). */
  noRetry: boolean;
}

/**
 * What the host does for a request and the runtime must do itself on a connection handed over
 * (POST CONTROL_HANDOFF_PATH): the function's clock, and how long an idle connection is kept.
 */
export interface HandoffRequest {
  /** The function's per-request timeout, ms: past it the request is answered 504 (or its
   * connection cut, once its head went out). */
  timeoutMs: number;
  /** An idle handed-over connection closes after this, ms (the router's keep-alive timeout). */
  keepAliveMs: number;
  /** The function's host name (`<fn>.<domain>`, lower case): a request on a handed-over connection
   * naming another Host is answered 421 and its connection closed (the client may retry on a new
   * one, which the router routes). */
  host: string;
}

/** The id a response carries of the request it answers (the router sets it; on a handed-over
 * connection the runtime does). */
export const RESPONSE_ID_HEADER = 'x-request-id';
