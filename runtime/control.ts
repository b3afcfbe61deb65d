/**
 * The runtime's control channel (protocol.ts): health, load and cron firings, on a socket of its
 * own that only the host is given, so that no request to the function's socket can reach them.
 */
import http from 'node:http';
import { parseHandoffRequest } from './handoff.js';
import { BadLoadRequest, ModuleError, load, parseLoadRequest, type Loaded } from './load.js';
import {
  CONTROL_HANDOFF_PATH,
  CONTROL_HEALTH_PATH,
  CONTROL_LOAD_PATH,
  CONTROL_SCHEDULED_PATH,
  CONTROL_WARM_PATH,
  MAX_LOAD_BYTES,
  type ErrorAnswer,
  type HandoffRequest,
  type HealthAnswer,
  type ScheduledAnswer,
} from './protocol.js';
import { BadScheduledRequest, parseScheduledRequest, runScheduled } from './scheduled.js';

/** A scheduled request is a cron, a time and an id: a few hundred bytes. */
const MAX_SCHEDULED_BYTES = 4096;

export interface ControlState {
  /** Requests on the function socket wait for the first load from the start (a cold start's
   * runtime: its load and its request may come in either order), not only from the warm-up's
   * answer or the load's head on. */
  held?: boolean;
  /** The module being served, or null before a load. */
  loaded(): Loaded | null;
  /** Serve this module from now on. */
  serve(loaded: Loaded): void;
  /** A load failed: answered already, the runtime ends with this message. */
  fail(message: string): void;
  /** The warm-up, started now if it was not yet; resolves once it ran. */
  warm(): Promise<void>;
  /** The runtime's waitUntil work, which a drain waits for: scheduled runs join it. */
  pending: Set<Promise<unknown>>;
  /** A load is expected (the warm-up was answered) or came: requests on the function socket
   * wait until `settled` resolves (the module serves, or the load was answered with an error),
   * so the host may send a function's first request right behind its load instead of after the
   * load's answer. */
  hold(settled: Promise<void>): void;
  /** Take client connections the host hands over from now on (handoff.ts); resolves once the
   * host's socket accepted. */
  handoff(config: HandoffRequest): Promise<void>;
}

export function controlServer(state: ControlState): http.Server {
  let loading = false;
  // from the warm-up's answer on, the runtime is a pool's, waiting for its function: requests on
  // the function socket wait for the next load to settle. Not only from the load's head on: the
  // host writes the load first, then a request right behind it, but node may read the function
  // socket before the control socket (seen: a request parsed 0.5 ms before the load's head)
  let settle: (() => void) | undefined;
  const expectLoad = () => {
    if (!settle) state.hold(new Promise<void>((resolve) => (settle = resolve)));
  };
  const settled = () => {
    settle?.();
    settle = undefined;
  };
  if (state.held) expectLoad();
  const server = http.createServer((req, res) => {
    const answer = (status: number, body: HealthAnswer | ErrorAnswer | ScheduledAnswer, then?: () => void) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body), then);
    };
    if (req.method === 'GET' && req.url === CONTROL_HEALTH_PATH) {
      answer(200, { ok: true, module: state.loaded()?.module ?? null });
      return;
    }
    if (req.method === 'GET' && req.url === CONTROL_WARM_PATH) {
      void state.warm().then(() => {
        if (!state.loaded()) expectLoad();
        answer(200, { ok: true, module: state.loaded()?.module ?? null });
      });
      return;
    }
    if (req.method === 'POST' && req.url === CONTROL_SCHEDULED_PATH) {
      void scheduled(req, state).then(
        ([status, body]) => answer(status, body),
        (err: unknown) => answer(500, { ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
      return;
    }
    if (req.method === 'POST' && req.url === CONTROL_HANDOFF_PATH) {
      void handoff(req, state).then(
        ([status, body]) => answer(status, body),
        (err: unknown) => answer(502, { ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
      return;
    }
    if (req.method !== 'POST' || req.url !== CONTROL_LOAD_PATH) {
      answer(404, { ok: false, error: `no control request ${req.method} ${req.url}` });
      return;
    }
    if (state.loaded() || loading) {
      req.resume();
      answer(409, { ok: false, error: `a module is loaded already: ${state.loaded()?.module ?? '(loading)'}` });
      return;
    }
    loading = true;
    expectLoad();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_LOAD_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_LOAD_BYTES) {
        loading = false;
        answer(413, { ok: false, error: `the load request exceeds ${MAX_LOAD_BYTES} bytes` });
        settled();
        return;
      }
      void (async () => {
        try {
          const loaded = await load(parseLoadRequest(Buffer.concat(chunks).toString('utf8')));
          state.serve(loaded);
          answer(200, { ok: true, module: loaded.module });
        } catch (err) {
          loading = false;
          if (err instanceof BadLoadRequest) answer(400, { ok: false, error: err.message });
          else if (err instanceof ModuleError) answer(422, { ok: false, error: err.message }, () => state.fail(err.message));
          else answer(500, { ok: false, error: err instanceof Error ? err.message : String(err) });
        }
        // after the load's answer: a held request is served by the module, or answered 503 by
        // a runtime that has none (after a 422 it is about to exit)
        settled();
      })();
    });
  });
  // only the host connects, and a generic runtime may wait minutes for its load: a connection
  // closed for idling (node's default: 5 s) would have to be made again on the load's way, and
  // a load on a new connection cannot have a request sent right behind it (client.ts load())
  server.keepAliveTimeout = 24 * 3600 * 1000;
  return server;
}

/** A cron firing: the answer's status and body once the run settled (protocol.ts). */
async function scheduled(req: http.IncomingMessage, state: ControlState): Promise<[number, ScheduledAnswer | ErrorAnswer]> {
  const text = await bodyText(req, MAX_SCHEDULED_BYTES);
  if (text === null) return [413, { ok: false, error: `the scheduled request exceeds ${MAX_SCHEDULED_BYTES} bytes` }];
  let run;
  try {
    run = parseScheduledRequest(text);
  } catch (err) {
    if (err instanceof BadScheduledRequest) return [400, { ok: false, error: err.message }];
    throw err;
  }
  const loaded = state.loaded();
  if (!loaded) return [409, { ok: false, error: 'no module is loaded in this runtime' }];
  if (!loaded.scheduled) return [501, { ok: false, error: `module '${loaded.module}' has no scheduled() handler in its default export` }];
  return [200, await runScheduled(loaded.scheduled, loaded.env, run, state.pending)];
}

/** A handoff request is two numbers. */
const MAX_HANDOFF_BYTES = 1024;

/** Connects to the host's handoff socket: the answer's status and body once connected. */
async function handoff(req: http.IncomingMessage, state: ControlState): Promise<[number, HealthAnswer | ErrorAnswer]> {
  const text = await bodyText(req, MAX_HANDOFF_BYTES);
  if (text === null) return [413, { ok: false, error: `the handoff request exceeds ${MAX_HANDOFF_BYTES} bytes` }];
  const config = parseHandoffRequest(text);
  if (typeof config === 'string') return [400, { ok: false, error: config }];
  await state.handoff(config);
  return [200, { ok: true, module: state.loaded()?.module ?? null }];
}

/** A request's body as text, read to its end; null when it is longer than `max` bytes. */
async function bodyText(req: http.IncomingMessage, max: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= max) chunks.push(chunk);
  }
  return size > max ? null : Buffer.concat(chunks).toString('utf8');
}
