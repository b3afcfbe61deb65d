/**
 * warren's runtime: the node process inside a sandbox that hosts one Workers-style ES module
 * (`export default { fetch(request, env, ctx), scheduled(event, env, ctx) }`, either or both) and
 * serves it as HTTP/1.1 on a unix socket in the sandbox's io dir, with a control socket beside it
 * where the host asks its health, loads the module and runs its cron firings (protocol.ts).
 * Bundled on its own by esbuild into one CommonJS file that the base image carries; it imports
 * nothing from the host side but protocol.ts.
 *
 *   node --experimental-vm-modules /warren/runtime.cjs [--listen SOCKET] [--control SOCKET] [--module FILE] [--cold]
 *
 * Without --module it is a generic warm runtime: 503 on its function socket until the host loads a
 * module over the control socket. With --cold (COLD_FLAG) it was started for a request that waits
 * (a cold start): no warm-up of its own, and its function socket holds every request until the
 * first load settled. Order at start: load --module first (a bad module exits 65
 * before anything listens); listen on the function socket under a temporary name and rename it;
 * then the control socket, the same way: its name appears last, once both accept. As soon as it
 * listens (not with --cold), a warm-up on private servers: one request of its own through the
 * Workers path and one load of a module of its own by the control server's load request (warmUp),
 * so the function's first load and request do not pay node's lazy compile. A host that comes back
 * after its death (serve --live-restore) opens a new control connection. SIGTERM drains: no new
 * connections, in-flight requests and waitUntil promises finish, exit 0.
 *
 * Its stdout and stderr carry one LogRecord per line (log.ts): every console.* call, tagged with
 * the request id, and the runtime's own reports about the function (stream 'warren').
 */
import { renameSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { controlServer, type ControlState } from './control.js';
import { Handoff } from './handoff.js';
import { importModule, ModuleError, type Loaded } from './load.js';
import { errorText, installConsole, report } from './log.js';
import { COLD_FLAG, CONTROL_LOAD_PATH, CONTROL_NAME, EXIT_BAD_MODULE, EXIT_BAD_USAGE, IO_DIR, SOCKET_NAME } from './protocol.js';
import { workersListener, type FetchHandler, type Serving } from './serve.js';

interface Args {
  listen: string;
  /** Default: CONTROL_NAME beside the function's socket. */
  control: string | null;
  module: string | null;
  /** COLD_FLAG: started for a waiting request, which a load follows at once. */
  cold: boolean;
}

const USAGE = `usage: runtime [--listen SOCKET] [--control SOCKET] [--module FILE] [${COLD_FLAG}]`;

function die(code: number, message: string): never {
  report(message);
  process.exit(code);
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { listen: path.join(IO_DIR, SOCKET_NAME), control: null, module: null, cold: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === COLD_FLAG) {
      args.cold = true;
      continue;
    }
    const value = argv[i + 1];
    if (flag !== '--listen' && flag !== '--control' && flag !== '--module') die(EXIT_BAD_USAGE, `unknown argument '${flag}' (${USAGE})`);
    if (value === undefined) die(EXIT_BAD_USAGE, `'${flag}' needs a value (${USAGE})`);
    args[flag === '--listen' ? 'listen' : flag === '--control' ? 'control' : 'module'] = value;
    i++;
  }
  return args;
}

/** Listens on `file`.tmp and renames it to `file`: the name appears only once it accepts. The
 * file calls are synchronous: each asynchronous one is a trip through libuv's thread pool, and
 * the first (fs/promises rm, which also loads its rimraf) took 43-50 ms of a boot in a sandbox
 * on the busy VM, against a fraction of a ms for these (nothing else of the boot is waiting). */
async function listenAs(server: net.Server, file: string): Promise<void> {
  const tmp = `${file}.tmp`;
  try {
    unlinkSync(tmp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(tmp, resolve));
  renameSync(tmp, file);
}

/** A Workers server: each request goes to what `serving()` gives, or is a 503 while it gives null;
 * while `held()` gives a promise (a load under way), a request waits for it first. The warm-up's
 * private server is made here too, so that it runs the very same code. */
function workersServer(serving: () => Serving | null, pending: Set<Promise<unknown>>, held: () => Promise<void> | null = () => null, handoff: () => Handoff | null = () => null): http.Server {
  const listener = workersListener(serving, pending);
  return http.createServer((req, res) => {
    if (handoff()?.request(req, res)) return;
    const wait = held();
    if (wait) void wait.then(() => listener(req, res));
    else listener(req, res);
  });
}

/** The warm-up's own function: it reads the body and streams one back, as a real one would. */
const warmFunction: Serving = {
  handler: (async (request) => new Response(`warm ${await request.text()}`, { headers: { 'content-type': 'text/plain' } })) as FetchHandler,
  env: {},
};

/** Sends `request` (bytes of HTTP/1.1 with `Connection: close`) to the abstract unix socket
 * `name` from a bare socket (the warm-up does not load node's HTTP client, which nothing else here
 * uses); the whole answer. */
function ask(name: string, request: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const c = net.connect(name);
    let got = '';
    c.setEncoding('latin1');
    c.on('data', (d: string) => (got += d));
    c.on('error', reject);
    c.on('end', () => resolve(got));
    c.write(request);
  });
}

/** `server` listening on a fresh abstract unix socket (no name in any dir, nothing left if we are
 * killed), for `use`; closed after. */
async function privately<T>(server: net.Server, use: (name: string) => Promise<T>): Promise<T> {
  const name = `\0warren-warm-${process.pid}-${Date.now()}-${++privateServers}`;
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(name, resolve));
  try {
    return await use(name);
  } finally {
    server.close();
  }
}
let privateServers = 0;

/**
 * One request of our own through node:http, the request listener and a handler reading the body
 * and answering, so that node compiles that path now, not on the function's first request
 * (undici, node's fetch, stays unloaded: web.ts says why). On a private server, so no request of
 * the function's can ever reach the warm-up's handler.
 */
async function warmUp(pending: Set<Promise<unknown>>): Promise<void> {
  const answer = await privately(workersServer(() => warmFunction, pending), (name) =>
    ask(name, 'POST /warm HTTP/1.1\r\nHost: warren\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nup'),
  );
  if (!answer.startsWith('HTTP/1.1 200 ')) throw new Error(`the warm-up request got '${answer.slice(0, 40)}'`);
  // and a load of a module of our own by the very path a function's takes: a control server's
  // load request (its body read, parsed, the module evaluated, the answer written). node compiles
  // a function of its own (its streams' included) on its first call: a function's load cost 3.1
  // ms of CPU from its head to its answer after a warm-up that called load() itself, 2.5 after
  // this one (its body's read 1.05 -> 0.81 ms; medians of 6, on the host, README "the load's own
  // CPU"). node's first dynamic import, which this once was, cost 5-10 ms
  const body = JSON.stringify({ source: WARM_MODULE, name: 'warm.mjs', env: {} });
  const loaded = await privately(controlServer(warmControl(pending)), (name) =>
    ask(name, `POST ${CONTROL_LOAD_PATH} HTTP/1.1\r\nHost: warren\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`),
  );
  if (!loaded.startsWith('HTTP/1.1 200 ')) throw new Error(`the warm-up load got '${loaded.slice(0, 80)}'`);
}

/** The warm-up's private control server's state: it loads the warm module and keeps nothing. */
function warmControl(pending: Set<Promise<unknown>>): ControlState {
  return {
    loaded: () => null,
    serve: () => {},
    fail: () => {},
    warm: () => Promise.resolve(),
    pending,
    hold: () => {},
    handoff: () => Promise.resolve(),
  };
}

/** How long the function's socket keeps an idle connection while no module is loaded, and after. */
const GENERIC_KEEP_ALIVE_MS = 24 * 3600 * 1000;
const FUNCTION_KEEP_ALIVE_MS = 5000;

const WARM_MODULE = 'export default { fetch: () => new Response("warm") };\n';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  installConsole();
  // a promise the function dropped: Workers log it and serve on; node's default would end us
  process.on('unhandledRejection', (err) => report(`an unhandled promise rejection: ${errorText(err)}`));
  // a throw outside any request's promise (a timer's callback): node's way, the process ends, but
  // said as a record, with the id of the request that started the timer when there was one
  process.on('uncaughtException', (err) => die(1, `an uncaught exception ends the runtime: ${errorText(err)}`));
  let loaded: Loaded | null = null;
  let loading: Promise<void> | null = null;
  const pending = new Set<Promise<unknown>>();
  // made before a module is imported: the listener puts in the Request and Response globals (web.ts)
  let handoff: Handoff | null = null;
  const server = workersServer(() => loaded, pending, () => loading, () => handoff);
  // a generic runtime waits for its load for minutes: the host's connection to the function's
  // socket, opened at boot, must still be open then (node's default closes it after 5 s idle, and
  // tells the host so in its answers' Keep-Alive), or the function's first request pays for a new
  // one; once a module serves, node's default again
  if (!args.module) server.keepAliveTimeout = GENERIC_KEEP_ALIVE_MS;
  if (args.module) {
    try {
      loaded = { ...(await importModule(args.module)), env: {}, module: args.module };
    } catch (err) {
      if (err instanceof ModuleError) die(EXIT_BAD_MODULE, err.message);
      throw err;
    }
  }
  const control = controlServer({
    // a cold start's request may reach the function socket before its load: it waits for it
    held: args.cold,
    loaded: () => loaded,
    serve: (l) => {
      loaded = l;
      server.keepAliveTimeout = FUNCTION_KEEP_ALIVE_MS;
    },
    fail: (message) => die(EXIT_BAD_MODULE, message),
    warm: () => warm(),
    pending,
    handoff: async (config) => {
      // a new one only once the host's end of the last one closed: it went away and came back
      // (serve --live-restore adopted this runtime); the old one's connections stay its own
      if (handoff && !handoff.ended) return;
      const h = new Handoff(server, config);
      // beside the function's socket: the io dir (the default --listen) in a sandbox
      await h.connect(path.dirname(args.listen));
      handoff = h;
    },
    hold: (settled) => {
      loading = settled;
      void settled.then(() => (loading = null));
    },
  });
  // once; a failed warm-up is reported and the runtime serves all the same (colder)
  const warm = () => (warming ??= warmUp(pending).catch((err: unknown) => report(`the warm-up failed: ${errorText(err)}`)));
  let warming: Promise<void> | undefined;
  await listenAs(server, args.listen);
  await listenAs(control, args.control ?? path.join(path.dirname(args.listen), CONTROL_NAME));
  // now, not at the host's first control request: the host's wake-up on the name's appearance
  // and its request's way here are then no longer ahead of the warm-up, which a pool waits for
  // (the host opens its function connection meanwhile); a load that comes during the warm-up
  // waits on the event loop, no longer than the warm-up would have made its first request wait.
  // Not in a cold start: its load and request come now, and they are what the warm-up would
  // rehearse; the warm-up's own request (a client, a body read) and module cost more than they
  // spare them: from the control socket's name to a first answer 24.1 -> 12.3 ms, CPU 130 ->
  // 115 ms (medians of 20 interleaved starts on the host)
  if (!args.cold) void warm();

  process.once('SIGTERM', () => {
    control.close();
    control.closeAllConnections();
    // connections handed over are not the listener's: they drain now, their requests in flight
    // finish too
    const handed = handoff?.closed();
    server.close(() => {
      void Promise.allSettled([...pending, handed]).then(() => process.exit(0));
    });
    server.closeIdleConnections();
  });
}

main().catch((err: unknown) => die(1, errorText(err)));
