/**
 * The router: warren's HTTP front. Two listeners, kept apart so that no data-plane request can
 * reach the control API:
 *   data plane (default :8080)               data-plane.ts: /<fn>/... and <fn>.<domain>, node:http
 *   control API (default 127.0.0.1:8788)     control-api.ts: Hono, bearer token
 *
 * close() drains (both stop accepting, in-flight exchanges finish, idle connections close) and is
 * idempotent; destroy() cuts every connection now.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { errnoOf, WarrenError } from '../lib/errors.js';
import type { Control } from './control.js';
import { continueOnRead } from './continue.js';
import { controlApi } from './control-api.js';
import { createDataPlane, type DataLimits } from './data-plane.js';
import type { Invoker } from './invoker.js';

export type { DataLimits } from './data-plane.js';
export { DEFAULT_DATA_LIMITS } from './data-plane.js';
export { MAX_DEPLOY_BYTES, MAX_SECRET_BYTES } from './control-api.js';
export { parseDeploySpec } from './deploy-spec.js';
export { FAULT_HEADER, RESPONSE_ID_HEADER } from './errors.js';
export { START_HEADER } from './proxy.js';
export { loadOrCreateToken, tokenMatches } from './token.js';
export * from './control.js';
export * from './invoker.js';

export interface Listen {
  host: string;
  port: number;
}

export const DEFAULT_DATA_LISTEN: Listen = { host: '0.0.0.0', port: 8080 };
export const DEFAULT_CONTROL_LISTEN: Listen = { host: '127.0.0.1', port: 8788 };

export interface RouterOptions {
  invoker: Invoker;
  control: Control;
  /** The control API's bearer token (loadOrCreateToken). */
  token: string;
  dataListen?: Listen;
  controlListen?: Listen;
  /** Route `Host: <fn>.<domain>` too. */
  domain?: string;
  /** Hand host-routed connections to their instance (data-plane.ts). */
  handoff?: boolean;
  limits?: Partial<DataLimits>;
  /** Errors no one expected (bugs): answered 500 and reported here; default console.error. */
  onUnexpected?: (err: unknown) => void;
}

export interface Router {
  dataUrl: string;
  controlUrl: string;
  close(): Promise<void>;
  destroy(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startRouter(opts: RouterOptions): Promise<Router> {
  const data = createDataPlane({ invoker: opts.invoker, domain: opts.domain, handoff: opts.handoff, limits: opts.limits, onUnexpected: opts.onUnexpected });
  const dataUrl = await listen(data, opts.dataListen ?? DEFAULT_DATA_LISTEN);
  const closing = new AbortController();
  const app = controlApi({
    control: opts.control,
    token: opts.token,
    functionUrl: (name) => `${dataUrl}/${name}/`,
    onUnexpected: opts.onUnexpected,
    closing: closing.signal,
  });
  const ctl = createAdaptorServer({ fetch: app.fetch }) as http.Server;
  continueOnRead(ctl);
  let controlUrl: string;
  try {
    controlUrl = await listen(ctl, opts.controlListen ?? DEFAULT_CONTROL_LISTEN);
  } catch (err) {
    data.close();
    throw err;
  }

  let drained: Promise<void> | undefined;
  const close = () => {
    closing.abort();
    return (drained ??= Promise.all([drain(data), drain(ctl)]).then(() => undefined));
  };
  const destroy = () => {
    for (const s of [data, ctl]) {
      s.close();
      s.closeAllConnections();
    }
  };
  return { dataUrl, controlUrl, close, destroy, [Symbol.asyncDispose]: close };
}

function listen(server: http.Server, where: Listen): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) =>
      reject(errnoOf(err) === 'EADDRINUSE' ? new WarrenError('WARREN_NET_PORT_IN_USE', `cannot listen on ${where.host}:${where.port}: in use`, { cause: err }) : err);
    server.once('error', onError);
    server.listen(where.port, where.host, () => {
      server.off('error', onError);
      const a = server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve(`http://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${a.port}`);
    });
  });
}

/** Stop accepting; close keep-alive connections as they go idle; resolve once none is left. */
function drain(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    // server.close() closes the idle connections once; ones that finish an exchange later go
    // idle too, and are closed on this tick
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    server.close(() => {
      clearInterval(idle);
      resolve();
    });
  });
}
