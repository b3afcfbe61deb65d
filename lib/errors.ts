/**
 * Every error warren raises on purpose is a WarrenError with a stable `code`
 * (`WARREN_<AREA>_<WHAT>`, registered with its fault in error-codes.ts), a lower-case message
 * naming the object, and the error it wraps as `cause`. Callers branch on `code` or `fault`,
 * never on message text.
 */
import { ERROR_CODES, type ErrorCode, type Fault } from './error-codes.js';

export type { ErrorCode, Fault } from './error-codes.js';

export class WarrenError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WarrenError';
    this.code = code;
  }

  /** Whose fault: the platform's (retry may help; 5xx) or the user's (it will fail again; 4xx). */
  get fault(): Fault {
    return ERROR_CODES[this.code];
  }
}

export function isWarrenError(err: unknown, code?: ErrorCode): err is WarrenError {
  return err instanceof WarrenError && (code === undefined || err.code === code);
}

/** The errno name of a Node system error (`ENOENT`), or undefined. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
