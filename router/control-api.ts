/**
 * The control API: a Hono app (served on its own listener by index.ts; the data plane never
 * serves it). Every route but /healthz needs the bearer token. Each route parses and checks its
 * request into one call of the Control service and answers JSON; errors.ts turns what it throws
 * into the answer.
 *
 *   PUT    /v1/functions/{name}                 deploy {module, vars, limits, egress, crons} -> 201
 *   GET    /v1/functions                        {functions: (FunctionInfo & {url})[]}
 *   GET    /v1/functions/{name}                 FunctionInfo & {url}: its data-plane URL
 *   DELETE /v1/functions/{name}                 204
 *   GET    /v1/functions/{name}/versions        {versions: VersionInfo[]}
 *   POST   /v1/functions/{name}/rollback        {"version": N} or no body -> {name, version, url}
 *   PUT    /v1/functions/{name}/secrets/{KEY}   the raw value -> 204
 *   DELETE /v1/functions/{name}/secrets/{KEY}   204
 *   GET    /v1/functions/{name}/secrets         {secrets: [names]}
 *   GET    /v1/functions/{name}/logs[?follow=1] NDJSON, one LogLine a line
 *   GET    /v1/sandboxes                        {sandboxes: SandboxInfo[]}
 *   GET    /metrics                             Prometheus text
 *   GET    /healthz                             {ok: true}, no token needed
 */
import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { stream } from 'hono/streaming';
import { isWarrenError, WarrenError } from '../lib/errors.js';
import { MAX_LOAD_BYTES } from '../runtime/protocol.js';
import { ENV_KEY, FUNCTION_NAME, type Control, type FunctionInfo, type VersionInfo } from './control.js';
import { parseDeploySpec } from './deploy-spec.js';
import { errorBody, errorHeaders, toHttpError } from './errors.js';
import { lingerOnClose } from './linger.js';
import { tokenMatches } from './token.js';

/** A deploy's whole JSON body: the module travels to the runtime in one load request of at most
 * MAX_LOAD_BYTES (32 MiB), so a bigger deploy could never load. */
export const MAX_DEPLOY_BYTES = MAX_LOAD_BYTES;
/** A secret's raw value. */
export const MAX_SECRET_BYTES = 64 * 1024;
/** A rollback's body ({"version": N}). */
const MAX_SMALL_BODY_BYTES = 4096;

export interface ControlApiOptions {
  control: Control;
  token: string;
  /** A function's data-plane URL, for the deploy's and rollback's answers. */
  functionUrl: (name: string) => string;
  onUnexpected?: (err: unknown) => void;
  /** Aborted when the server begins to close: a log follow ends then, instead of holding the
   * drain open until its bound (it would never end by itself). */
  closing?: AbortSignal;
}

export function controlApi(opts: ControlApiOptions): Hono {
  const { control, token, functionUrl } = opts;
  const onUnexpected = opts.onUnexpected ?? ((err) => console.error('warren control api:', err));
  const app = new Hono();
  const limit = (maxSize: number) =>
    bodyLimit({
      maxSize,
      onError: () => {
        throw new WarrenError('WARREN_API_BODY_TOO_LARGE', `request body exceeds ${maxSize} bytes`);
      },
    });
  const released = (name: string, v: VersionInfo) => ({ name, version: v.version, url: functionUrl(name) });
  // the URL is the router's to know (its listener, its domain), not the function service's
  const withUrl = (f: FunctionInfo) => ({ ...f, url: functionUrl(f.name) });

  app.onError((err, c) => {
    if (!isWarrenError(err)) onUnexpected(err);
    const e = toHttpError(err, 'control');
    const headers: Record<string, string> = { ...errorHeaders(e), 'content-type': 'application/json' };
    if (e.status === 401) headers['www-authenticate'] = 'Bearer realm="warren"';
    // the rest of a body past its limit is never read: ending the connection keeps it from being
    // taken as the next request's bytes (the data plane does the same, errors.ts answerError)
    if (e.status === 413) {
      headers.connection = 'close';
      // and the connection ends only once the client could read this (linger.ts)
      lingerOnClose((c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket);
    }
    return c.body(errorBody(e), e.status as 400, headers);
  });
  app.notFound((c) => {
    throw new WarrenError('WARREN_API_NOT_FOUND', `no such route: ${c.req.method} ${c.req.path}`);
  });

  app.use('*', async (c, next) => {
    if (c.req.path === '/healthz') return next();
    const auth = c.req.header('authorization') ?? '';
    const given = /^Bearer +(.+)$/i.exec(auth)?.[1]?.trim();
    if (given === undefined || !tokenMatches(token, given)) {
      throw new WarrenError('WARREN_API_UNAUTHORIZED', given === undefined ? 'the control API needs a bearer token' : 'wrong bearer token');
    }
    return next();
  });

  app.get('/healthz', (c) => c.json({ ok: true }));

  app.put('/v1/functions/:name', limit(MAX_DEPLOY_BYTES), async (c) => {
    const name = fnName(c);
    const spec = parseDeploySpec(await jsonBody(c));
    const v = await control.deploy(name, spec);
    return c.json(released(name, v), 201);
  });
  app.get('/v1/functions', async (c) => c.json({ functions: (await control.list()).map(withUrl) }));
  app.get('/v1/functions/:name', async (c) => c.json(withUrl(await control.get(fnName(c)))));
  app.delete('/v1/functions/:name', async (c) => {
    await control.remove(fnName(c));
    return c.body(null, 204);
  });
  app.get('/v1/functions/:name/versions', async (c) => c.json({ versions: await control.versions(fnName(c)) }));
  app.post('/v1/functions/:name/rollback', limit(MAX_SMALL_BODY_BYTES), async (c) => {
    const name = fnName(c);
    const v = await control.rollback(name, rollbackVersion(await jsonBody(c)));
    return c.json(released(name, v));
  });

  app.put('/v1/functions/:name/secrets/:key', limit(MAX_SECRET_BYTES), async (c) => {
    await control.putSecret(fnName(c), envKey(c), await utf8Body(c));
    return c.body(null, 204);
  });
  app.delete('/v1/functions/:name/secrets/:key', async (c) => {
    await control.deleteSecret(fnName(c), envKey(c));
    return c.body(null, 204);
  });
  app.get('/v1/functions/:name/secrets', async (c) => c.json({ secrets: await control.secretNames(fnName(c)) }));

  app.get('/v1/functions/:name/logs', async (c) => {
    const name = fnName(c);
    const follow = ['1', 'true', 'yes'].includes(c.req.query('follow') ?? '');
    // checked before the answer starts, so an unknown function is a 404, not an empty stream
    await control.get(name);
    c.header('content-type', 'application/x-ndjson');
    c.header('cache-control', 'no-store');
    return stream(c, async (s) => {
      const stop = new AbortController();
      s.onAbort(() => stop.abort());
      c.req.raw.signal.addEventListener('abort', () => stop.abort(), { once: true });
      if (opts.closing?.aborted) stop.abort();
      opts.closing?.addEventListener('abort', () => stop.abort(), { once: true, signal: stop.signal });
      for await (const line of control.logs(name, { follow, signal: stop.signal })) {
        if (stop.signal.aborted) break;
        await s.write(JSON.stringify(line) + '\n');
      }
    }, async (err) => {
      // the answer has begun: nothing to tell the client but the end of it
      if (!isWarrenError(err)) onUnexpected(err);
    });
  });

  app.get('/v1/sandboxes', (c) => c.json({ sandboxes: control.sandboxes() }));
  app.get('/metrics', async (c) => {
    const m = await control.metrics();
    return c.body(m.text, 200, { 'content-type': m.contentType });
  });
  return app;
}

function fnName(c: Context): string {
  const name = c.req.param('name') ?? '';
  if (!FUNCTION_NAME.test(name)) {
    throw new WarrenError('WARREN_API_INVALID', `invalid function name '${name}': lower-case letters, digits and '-', 1 to 63 characters`);
  }
  return name;
}

function envKey(c: Context): string {
  const key = c.req.param('key') ?? '';
  if (!ENV_KEY.test(key)) throw new WarrenError('WARREN_API_INVALID', `invalid secret name '${key}': letters, digits and '_', not starting with a digit`);
  return key;
}

/** The body as text, refused when it is not UTF-8: a decoder that replaced the bad bytes with
 * U+FFFD would deploy (or keep as a secret) something other than what was sent, silently. */
async function utf8Body(c: Context): Promise<string> {
  const bytes = await c.req.arrayBuffer();
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new WarrenError('WARREN_API_INVALID', 'request body is not UTF-8', { cause: err });
  }
}

/** The body as JSON; undefined when there is none. */
async function jsonBody(c: Context): Promise<unknown> {
  const text = await utf8Body(c);
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new WarrenError('WARREN_API_INVALID', `request body is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

function rollbackVersion(body: unknown): number | undefined {
  if (body === undefined) return undefined;
  const version = (body as { version?: unknown } | null)?.version;
  if (typeof body !== 'object' || body === null || Array.isArray(body) || Object.keys(body).some((k) => k !== 'version')) {
    throw new WarrenError('WARREN_API_INVALID', 'rollback body must be {"version": N} or empty');
  }
  if (version === undefined) return undefined;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version <= 0) {
    throw new WarrenError('WARREN_API_INVALID', `"version" must be a whole number above 0, not ${typeof version === 'number' ? String(version) : JSON.stringify(version)}`);
  }
  return version;
}
