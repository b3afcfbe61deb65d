/**
 * What the host and the runtime agree on. The runtime imports nothing else from the host side, and
 * the host imports nothing else from the runtime: this file is the whole contract between them.
 *
 *   host                                     runtime (in the sandbox)
 *   bind-mounts its io dir at IO_DIR   --->  listens on SOCKET_NAME.tmp, renames it to SOCKET_NAME;
 *                                            then the same for CONTROL_NAME (a name appears only
 *                                            once it accepts). After its first control answer it
 *                                            warms its HTTP path with one request of its own on a
 *                                            private server (node compiles that path and loads
 *                                            Request/Response then, not on the function's first
 *                                            request)
 *   sees CONTROL_NAME appear: both     <---  (rename: a name appears only once it accepts)
 *   accept; opens each by fd, never by path (client.ts)
 *
 *   on CONTROL_NAME (HTTP/1.1, JSON bodies; the function's socket never reaches it):
 *   GET  CONTROL_HEALTH_PATH           --->  200 HealthAnswer
 *   POST CONTROL_LOAD_PATH LoadRequest --->  200 HealthAnswer: the module serves from now on
 *                                            400 ErrorAnswer: the request itself is malformed
 *                                            409 ErrorAnswer: a module is loaded already (one per
 *                                                runtime: it never serves a second function)
 *                                            413 ErrorAnswer: the body exceeds MAX_LOAD_BYTES
 *                                            422 ErrorAnswer: the module failed to import or has no
 *                                                fetch handler; the runtime then exits
 *                                                EXIT_BAD_MODULE, since the failed module's top-level
 *                                                code may have changed the process
 *
 *   on SOCKET_NAME: every request, whatever its path, goes to the module's
 *   fetch(request, env, ctx); 503 while no module is loaded.
 *
 * `--module FILE` at start loads FILE (with an empty env) before anything listens; a bad one exits
 * EXIT_BAD_MODULE and no name ever appears.
 */

/** Where the sandbox sees its io dir (a per-sandbox host dir, bind-mounted read-write). */
export const IO_DIR = '/warren/io';
/** The function's HTTP/1.1 socket's name in the io dir. */
export const SOCKET_NAME = 'http.sock';
/** The control socket's name in the io dir: only the host talks to it. */
export const CONTROL_NAME = 'control.sock';
export const CONTROL_HEALTH_PATH = '/health';
export const CONTROL_LOAD_PATH = '/load';
/** The largest load request the runtime reads (a module's source travels in it). */
export const MAX_LOAD_BYTES = 32 * 1024 * 1024;
/**
 * The request id the router gives each invocation, on the request the function's socket receives
 * (a client's own value is replaced): console output written while handling it is tagged with it.
 */
export const REQUEST_ID_HEADER = 'x-warren-request-id';
/** Where the base image holds the runtime's bundle. */
export const RUNTIME_IN_IMAGE = '/warren/runtime.mjs';

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
 * writes into its own tmp dir as `name`, default 'worker.mjs') and `path` (a file readable inside
 * the sandbox).
 */
export interface LoadRequest {
  source?: string;
  /** A plain file name (letters, digits, '.', '_', '-'): what the source is saved and shown as. */
  name?: string;
  path?: string;
  /** The function's `env`: a JSON object, given as is to every fetch(request, env, ctx). */
  env?: Record<string, unknown>;
}
