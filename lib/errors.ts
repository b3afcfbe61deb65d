/**
 * Every error warren raises on purpose is a WarrenError with a stable `code`
 * (`WARREN_<AREA>_<WHAT>`), a lower-case message naming the object, and the
 * error it wraps as `cause`. Callers branch on `code`, never on message text.
 */
export class WarrenError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WarrenError';
    this.code = code;
  }
}

export function isWarrenError(err: unknown, code?: string): err is WarrenError {
  return err instanceof WarrenError && (code === undefined || err.code === code);
}

/** The errno name of a Node system error (`ENOENT`), or undefined. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
