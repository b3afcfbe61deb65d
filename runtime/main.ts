/**
 * warren's runtime: the node process inside a sandbox that hosts one Workers-style ES module
 * (`export default { fetch(request, env, ctx) }`) and serves it as HTTP/1.1 on a unix socket in
 * the sandbox's io dir (protocol.ts). Bundled on its own by esbuild into one file that the base
 * image carries; it imports nothing from the host side but protocol.ts.
 *
 *   node /warren/runtime.mjs [--listen SOCKET] [--module FILE]
 *
 * Without --module it is a generic warm runtime: it answers the health check and 503 otherwise.
 * Order at start: load the module first (a bad module exits 65 before anything listens), then
 * listen on a temporary name and rename it, so the socket's name appears only when it accepts.
 * SIGTERM drains: no new connections, in-flight requests and waitUntil promises finish, exit 0.
 */
import { rename, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { executionContext, sendResponse, toRequest, type FetchHandler } from './fetch-bridge.js';
import { EXIT_BAD_MODULE, EXIT_BAD_USAGE, HEALTH_PATH, IO_DIR, SOCKET_NAME, type HealthAnswer } from './protocol.js';

interface Args {
  listen: string;
  module: string | null;
}

function die(code: number, message: string): never {
  process.stderr.write(`warren runtime: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { listen: path.join(IO_DIR, SOCKET_NAME), module: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if ((flag === '--listen' || flag === '--module') && value !== undefined) {
      if (flag === '--listen') args.listen = value;
      else args.module = value;
      i++;
    } else {
      die(EXIT_BAD_USAGE, `unknown argument '${flag}' (usage: runtime [--listen SOCKET] [--module FILE])`);
    }
  }
  return args;
}

async function loadModule(file: string): Promise<FetchHandler> {
  let mod: { default?: { fetch?: unknown } };
  try {
    mod = (await import(pathToFileURL(path.resolve(file)).href)) as typeof mod;
  } catch (err) {
    die(EXIT_BAD_MODULE, `cannot load module '${file}': ${err instanceof Error ? err.message : String(err)}`);
  }
  const worker = mod.default;
  if (!worker || typeof worker.fetch !== 'function') die(EXIT_BAD_MODULE, `module '${file}' has no default export with a fetch() method`);
  const fetch = worker.fetch as FetchHandler;
  return (request, env, ctx) => fetch.call(worker, request, env, ctx);
}

function errorText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const handler = args.module ? await loadModule(args.module) : null;
  const pending = new Set<Promise<unknown>>();
  const env: Record<string, unknown> = {};
  const health = JSON.stringify({ ok: true, module: args.module } satisfies HealthAnswer);

  const server = http.createServer((req, res) => {
    if (req.url === HEALTH_PATH) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(health);
      return;
    }
    if (!handler) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('no function is loaded in this runtime\n');
      return;
    }
    const aborted = new AbortController();
    // the client went away before the whole response: the function's request.signal says so
    res.on('close', () => {
      if (!res.writableFinished) aborted.abort();
    });
    void (async () => {
      try {
        const response = await handler(toRequest(req, aborted.signal), env, executionContext(pending));
        if (!(response instanceof Response)) throw new TypeError(`fetch() returned ${typeof response}, not a Response`);
        await sendResponse(res, response);
      } catch (err) {
        console.error('warren runtime: the function threw:', errorText(err));
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('the function threw an exception\n');
        else res.destroy();
      }
    })();
  });

  const tmp = `${args.listen}.tmp`;
  await rm(tmp, { force: true });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(tmp, resolve));
  await rename(tmp, args.listen);

  process.once('SIGTERM', () => {
    server.close(() => {
      void Promise.allSettled([...pending]).then(() => process.exit(0));
    });
    server.closeIdleConnections();
  });
}

main().catch((err: unknown) => die(1, errorText(err)));
