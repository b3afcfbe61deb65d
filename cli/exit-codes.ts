/**
 * Exit codes of the commands that talk to a server (deploy, dev, ls, rm, versions, rollback, logs,
 * invoke, secret), stable for scripts and documented in the README:
 *   0  done
 *   1  refused: the server or warren said no to what was asked (a bundle that does not build, a
 *      module that does not load, an unknown function, a bad config), with the reason on stderr
 *   2  usage: the command line itself is wrong
 *   3  warren failed: the server cannot be reached, or a platform fault (retrying may help)
 * `warren run` keeps docker run's convention instead (the command's own code, 125 for warren).
 */
import { isWarrenError } from '../lib/errors.js';

export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
export const EXIT_PLATFORM = 3;

/** A client command's exit code for what it threw. */
export function clientExitCode(err: unknown): number {
  if (!isWarrenError(err)) return EXIT_PLATFORM;
  if (err.code === 'WARREN_ARG_INVALID') return EXIT_USAGE;
  return err.fault === 'user' ? EXIT_REFUSED : EXIT_PLATFORM;
}
