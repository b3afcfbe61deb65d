/** `warren serve`'s options, parsed before anything starts (a bad one is exit 125 with its name). */
import { WarrenError } from '../lib/errors.js';
import { parseSize } from '../lib/size.js';
import { parseUidBase } from '../lib/uid-range.js';

export interface ServeArgs {
  /** The data plane: every function at /<name>/ (and <name>.<domain> with --domain). */
  listen: { host: string; port: number };
  /** The control API; loopback by default: it takes the token, but need not face the world. */
  control: { host: string; port: number };
  stateDir: string | undefined;
  runDir: string | undefined;
  domain: string | undefined;
  /** Generic warm runtimes kept when nothing asks for more (the floor), and at most (the cap). */
  pool: number;
  poolMax: number;
  /** How long a cold start keeps the pool raised. */
  poolTtlMs: number;
  /** An idle instance lives this long after its last request. */
  keepAliveMs: number;
  /** Memory limits of all function instances together. */
  memoryBudgetBytes: number;
  maxInstances: number;
  queue: number;
  /** Largest request body, bytes. */
  maxBodyBytes: number;
  /** Time for a client to send its request's headers, and its whole request (408 after). */
  headerTimeoutMs: number;
  requestTimeoutMs: number;
  /** Open client connections at most. */
  maxConnections: number;
  /** No demo `hello` function on first start. */
  noDemo: boolean;
  /** Hand host-routed client connections to their instance after the first answer. */
  handoff: boolean;
  /** The first host uid of the sandboxes' span (default: WARREN_UID_BASE, else 1000000000). */
  uidBase: number | undefined;
  /** Sandboxes outlive a killed server for this long (ms), for the next one to adopt; undefined:
   * off (they die with it). */
  liveRestoreGraceMs: number | undefined;
}

/** How long the sandboxes of a killed server wait for the next one by default (--live-restore). */
export const LIVE_RESTORE_GRACE_MS = 30_000;

export const SERVE_USAGE = `usage: warren serve [options]
  --port N               data-plane port (default 8080; --listen HOST:PORT for an address)
  --listen HOST:PORT     data-plane address (default 0.0.0.0:8080)
  --control HOST:PORT    control API address (default 127.0.0.1:8788)
  --state-dir DIR        registry, layers, token, logs (default /var/lib/warren, or WARREN_STATE_DIR)
  --run-dir DIR          per-sandbox run files (default /run/warren, or WARREN_RUN_DIR)
  --domain D             also route Host: <function>.D
  --pool N               generic warm runtimes kept ready (default 2)
  --pool-max N           at most, when cold starts raise it (default 8)
  --pool-ttl DURATION    how long a cold start keeps it raised (default 60s)
  --keep-alive DURATION  an idle instance lives this long (default 60s)
  --memory-budget SIZE   memory of all function instances together (default 2g)
  --max-instances N      instances of one function at most (default 8)
  --queue N              requests waiting per function at most; then 429 (default 64)
  --max-body SIZE        largest request body; larger is 413 (default 16m)
  --header-timeout DURATION  time a client has to send a request's headers (default 20s)
  --request-timeout DURATION time a client has to send a whole request (default 300s)
  --max-connections N    open client connections at most (default 4096)
  --uid-base N           first host uid of the sandboxes' uid span (default 1000000000, or
                         WARREN_UID_BASE); refused when the span overlaps the host's users,
                         groups or /etc/subuid ranges
  --no-demo              do not deploy the demo function 'hello' on first start
  --handoff              (needs --domain) after the first answer on a connection to
                         <function>.D, hand the connection itself to the instance, which serves
                         its later requests with no hop through the router: each such connection
                         holds one of the instance's concurrency slots until it closes (idle
                         after the keep-alive timeout); the instance keeps the function's
                         timeout, request ids and logs; a request there naming another host is
                         answered 421 and the connection closed
  --live-restore         sandboxes outlive a server that is killed (SIGKILL, a crash): the next
                         \`warren serve --live-restore\` on the same run dir adopts them, so every
                         function that had instances answers at once, warm; nobody within the
                         grace and they are killed. A stop (SIGTERM, SIGINT) still ends them all.
                         Under systemd the unit needs KillMode=process (README)
  --live-restore-grace DURATION  how long they wait for the next server (default 30s)
`;

const DEFAULTS: ServeArgs = {
  listen: { host: '0.0.0.0', port: 8080 },
  control: { host: '127.0.0.1', port: 8788 },
  stateDir: undefined,
  runDir: undefined,
  domain: undefined,
  pool: 2,
  poolMax: 8,
  poolTtlMs: 60_000,
  keepAliveMs: 60_000,
  memoryBudgetBytes: 2 * 1024 ** 3,
  maxInstances: 8,
  queue: 64,
  maxBodyBytes: 16 * 1024 ** 2,
  headerTimeoutMs: 20_000,
  requestTimeoutMs: 300_000,
  maxConnections: 4096,
  noDemo: false,
  handoff: false,
  uidBase: undefined,
  liveRestoreGraceMs: undefined,
};

export function parseServeArgs(argv: readonly string[]): ServeArgs {
  const out: ServeArgs = { ...DEFAULTS, listen: { ...DEFAULTS.listen }, control: { ...DEFAULTS.control } };
  let liveRestore = false;
  let grace: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    let flag = argv[i] as string;
    let value: string | undefined;
    const eq = flag.indexOf('=');
    if (flag.startsWith('--') && eq > 0) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    }
    if (flag === '--no-demo') {
      out.noDemo = true;
      continue;
    }
    if (flag === '--handoff') {
      out.handoff = true;
      continue;
    }
    if (flag === '--live-restore') {
      liveRestore = true;
      continue;
    }
    const take = (): string => {
      if (value !== undefined) return value;
      const next = argv[++i];
      if (next === undefined) bad(`'${flag}' needs a value`);
      return next;
    };
    switch (flag) {
      case '--port':
        out.listen.port = port(take(), flag);
        break;
      case '--listen':
        out.listen = address(take(), flag);
        break;
      case '--control':
        out.control = address(take(), flag);
        break;
      case '--state-dir':
        out.stateDir = take();
        break;
      case '--run-dir':
        out.runDir = take();
        break;
      case '--domain':
        out.domain = take().replace(/^\./, '');
        break;
      case '--pool':
        out.pool = count(take(), flag, 0);
        break;
      case '--pool-max':
        out.poolMax = count(take(), flag, 0);
        break;
      case '--pool-ttl':
        out.poolTtlMs = duration(take(), flag);
        break;
      case '--keep-alive':
        out.keepAliveMs = duration(take(), flag);
        break;
      case '--memory-budget':
        out.memoryBudgetBytes = parseSize(take(), flag);
        break;
      case '--max-instances':
        out.maxInstances = count(take(), flag, 1);
        break;
      case '--queue':
        out.queue = count(take(), flag, 0);
        break;
      case '--max-body':
        out.maxBodyBytes = parseSize(take(), flag);
        break;
      case '--header-timeout':
        out.headerTimeoutMs = duration(take(), flag);
        break;
      case '--request-timeout':
        out.requestTimeoutMs = duration(take(), flag);
        break;
      case '--max-connections':
        out.maxConnections = count(take(), flag, 1);
        break;
      case '--uid-base':
        out.uidBase = parseUidBase(take(), undefined, flag);
        break;
      case '--live-restore-grace':
        grace = duration(take(), flag);
        if (grace < 1000 || grace > 3_600_000) bad(`${flag} must be from 1s to 1h`);
        break;
      default:
        bad(`unknown option '${flag}'`);
    }
  }
  if (out.poolMax < out.pool) bad(`--pool-max ${out.poolMax} is below --pool ${out.pool}`);
  if (out.headerTimeoutMs > out.requestTimeoutMs) bad(`--header-timeout is longer than --request-timeout`);
  if (grace !== undefined && !liveRestore) bad('--live-restore-grace needs --live-restore');
  if (liveRestore) out.liveRestoreGraceMs = grace ?? LIVE_RESTORE_GRACE_MS;
  if (out.handoff && !out.domain) bad('--handoff needs --domain: only host-routed connections are handed over');
  return out;
}

function bad(message: string): never {
  throw new WarrenError('WARREN_ARG_INVALID', `serve: ${message}\n${SERVE_USAGE}`);
}

function count(text: string, flag: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > 100_000) bad(`${flag} '${text}' is not a whole number from ${min}`);
  return n;
}

function port(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) bad(`${flag} '${text}' is not a port`);
  return n;
}

function address(text: string, flag: string): { host: string; port: number } {
  const at = text.lastIndexOf(':');
  if (at < 0) return { host: DEFAULTS.listen.host, port: port(text, flag) };
  const host = text.slice(0, at).replace(/^\[(.*)\]$/, '$1') || '0.0.0.0';
  return { host, port: port(text.slice(at + 1), flag) };
}

/** "30s", "5m", "500ms", "1h", or a number of seconds. */
export function duration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!m) bad(`${flag} '${text}' is not a duration (500ms, 30s, 5m, 1h)`);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * scale);
}
