/** How the `warren` command shows an error it ends with. */
import { messageOf } from '../lib/cleanup.js';
import { isWarrenError } from '../lib/errors.js';

/**
 * A user's fault says all there is to say (the image is unknown); a platform fault's message comes
 * with the causes it wraps (an errno, the kernel's word), which the message alone would hide;
 * anything else is a bug of warren's: its stack.
 */
export function errorText(err: unknown): string {
  if (isWarrenError(err)) return err.fault === 'user' ? err.message : messageOf(err);
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
