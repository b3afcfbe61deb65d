/**
 * The one place that turns an error into an HTTP answer (STYLE rule 7), for both planes. A
 * WarrenError's fault picks the class (user: 4xx, platform: 5xx) and STATUS the exact status; any
 * other error is the platform's 500 and its message stays out of the answer (it may hold paths).
 *
 * Every answer says who failed. On the data plane that is the function or the platform (a
 * timeout, a crash, an OOM, an unknown function, a full queue are the function's side); on the
 * control API it is the caller (user) or the platform.
 */
import type { ServerResponse } from 'node:http';
import { isWarrenError, type ErrorCode } from '../lib/errors.js';
import { RESPONSE_ID_HEADER } from '../runtime/protocol.js';
import { lingerOnClose } from './linger.js';

export type Plane = 'data' | 'control';
export type Side = 'function' | 'user' | 'platform';

export interface HttpError {
  status: number;
  code: string;
  message: string;
  fault: Side;
  /** For a 429: when to try again, seconds. */
  retryAfterS?: number;
}

/** The statuses that are not the default of their fault (user 400, platform 500). Keys quoted:
 * lib/error-codes.test.ts finds the codes in use by their quotes. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  'WARREN_API_BODY_TOO_LARGE': 413,
  'WARREN_API_NOT_FOUND': 404,
  'WARREN_API_UNAUTHORIZED': 401,
  'WARREN_DEPLOY_ENV_TOO_LARGE': 413,
  'WARREN_DEPLOY_LOAD': 422,
  'WARREN_DEPLOY_NO_SPACE': 507,
  'WARREN_FN_BODY_TOO_LARGE': 413,
  'WARREN_FN_CRASHED': 502,
  'WARREN_FN_NOT_FOUND': 404,
  'WARREN_FN_QUEUE_FULL': 429,
  'WARREN_FN_QUEUE_TIMEOUT': 504,
  'WARREN_FN_SECRET_NOT_FOUND': 404,
  'WARREN_FN_START': 503,
  'WARREN_FN_TIMEOUT': 504,
  'WARREN_FN_VERSION_NOT_FOUND': 404,
  'WARREN_HOST_CLOSED': 503,
};

/** The header that says who failed, on every error answer: function or platform on the data
 * plane, user or platform on the control API. */
export const FAULT_HEADER = 'x-warren-fault';
/** The request id every data-plane answer carries (runtime/protocol.ts: a runtime sets it too,
 * on a connection handed over). */
export { RESPONSE_ID_HEADER };

export function toHttpError(err: unknown, plane: Plane): HttpError {
  if (!isWarrenError(err)) {
    return { status: 500, code: 'WARREN_ROUTER_INTERNAL', message: 'internal error', fault: 'platform' };
  }
  const user = err.fault === 'user';
  const answer: HttpError = {
    status: STATUS[err.code] ?? (user ? 400 : 500),
    code: err.code,
    message: err.message,
    fault: !user ? 'platform' : plane === 'data' ? 'function' : 'user',
  };
  const retryAfterS = (err as { retryAfterS?: unknown }).retryAfterS;
  if (typeof retryAfterS === 'number' && Number.isFinite(retryAfterS)) answer.retryAfterS = Math.max(1, Math.ceil(retryAfterS));
  return answer;
}

/** The JSON body of an error answer. */
export function errorBody(e: HttpError, requestId?: string): string {
  return JSON.stringify({ error: e.message, code: e.code, fault: e.fault, ...(requestId ? { requestId } : {}) });
}

/** The headers of an error answer, besides its content type and length. */
export function errorHeaders(e: HttpError): Record<string, string> {
  const headers: Record<string, string> = { [FAULT_HEADER]: e.fault };
  if (e.retryAfterS !== undefined) headers['retry-after'] = String(e.retryAfterS);
  return headers;
}

/**
 * Answers a data-plane request with `err`, or, when the function's own answer has begun, cuts the
 * client's connection: a half-sent answer must not look complete.
 */
export function answerError(res: ServerResponse, err: unknown, requestId: string, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const e = toHttpError(err, 'data');
  const body = errorBody(e, requestId);
  const headers: Record<string, string | number> = {
    ...errorHeaders(e),
    [RESPONSE_ID_HEADER]: requestId,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  };
  // An unread request body (a 413, an answer before the upload ended) would have to be read to
  // find the next request on this connection: end the connection instead.
  if (close) {
    headers.connection = 'close';
    // once the client could read this answer (linger.ts)
    lingerOnClose(res.socket);
  }
  res.writeHead(e.status, headers);
  res.end(body);
}
