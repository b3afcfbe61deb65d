/**
 * What the host and the runtime agree on. The runtime imports nothing else from the host side, and
 * the host imports nothing else from the runtime: this file is the whole contract between them.
 *
 *   host                                     runtime (in the sandbox)
 *   bind-mounts its io dir at IO_DIR   --->  listens on SOCKET_NAME.tmp, then renames it to
 *                                            SOCKET_NAME: the name appears only once it accepts
 *   sees SOCKET_NAME appear            <---  (rename)
 *   GET HEALTH_PATH                    --->  200 {"ok":true,"module":...}
 *   any other request                  --->  the module's fetch(request, env, ctx), or 503 when
 *                                            it runs with no module
 */

/** Where the sandbox sees its io dir (a per-sandbox host dir, bind-mounted read-write). */
export const IO_DIR = '/warren/io';
/** The HTTP/1.1 socket's name in the io dir. */
export const SOCKET_NAME = 'http.sock';
/** Answered by the runtime itself, never passed to the module. */
export const HEALTH_PATH = '/__warren/health';
/** Where the base image holds the runtime's bundle. */
export const RUNTIME_IN_IMAGE = '/warren/runtime.mjs';

/** The runtime's exit codes, so the host can tell a bad module from a crash. */
export const EXIT_BAD_USAGE = 64;
export const EXIT_BAD_MODULE = 65;

export interface HealthAnswer {
  ok: true;
  /** The module's path, or null when it runs with none. */
  module: string | null;
}
