/**
 * The runtime's control channel (protocol.ts): health, load and cron firings, on a socket of its
 * own that only the host is given, so that no request to the function's socket can reach them.
 */
import { WireServer, type Reply } from './control-wire.js';
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

/** The most body a control request may have, by path, and what a 413 calls it: a scheduled
 * request is a cron, a time and an id (a few hundred bytes); a handoff request two numbers;
 * health and warm have none. */
const BODY_LIMITS: Record<string, [number, string]> = {
  [CONTROL_LOAD_PATH]: [MAX_LOAD_BYTES, 'load'],
  [CONTROL_SCHEDULED_PATH]: [4096, 'scheduled'],
};
const OTHER_LIMIT: [number, string] = [1024, 'control'];
const limitOf = (path: string): [number, string] => BODY_LIMITS[path] ?? OTHER_LIMIT;

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

export function controlServer(state: ControlState): WireServer {
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
  const health = (): HealthAnswer => ({ ok: true, module: state.loaded()?.module ?? null });
  const isLoad = (method: string, path: string) => method === 'POST' && path === CONTROL_LOAD_PATH;
  // a runtime loads one module in its life
  const loadRefused = (reply: Reply): boolean => {
    if (!state.loaded() && !loading) return false;
    reply(409, { ok: false, error: `a module is loaded already: ${state.loaded()?.module ?? '(loading)'}` });
    return true;
  };
  // only the host connects, and a generic runtime may wait minutes for its load: its connection
  // stays open as long as the host keeps it (a load on a new connection could not have a request
  // sent right behind it: client.ts load())
  return new WireServer({
    maxBody: (_method, path) => limitOf(path)[0],
    tooLarge: (method, path, reply) => {
      if (isLoad(method, path) && loadRefused(reply)) return;
      const [max, what] = limitOf(path);
      reply(413, { ok: false, error: `the ${what} request exceeds ${max} bytes` });
    },
    request: ({ method, path, body }, reply) => {
      if (method === 'GET' && path === CONTROL_HEALTH_PATH) return reply(200, health());
      if (method === 'GET' && path === CONTROL_WARM_PATH) {
        void state.warm().then(() => {
          if (!state.loaded()) expectLoad();
          reply(200, health());
        });
        return;
      }
      if (method === 'POST' && path === CONTROL_SCHEDULED_PATH) {
        void scheduled(body.toString('utf8'), state).then(
          ([status, answer]) => reply(status, answer),
          (err: unknown) => reply(500, { ok: false, error: err instanceof Error ? err.message : String(err) }),
        );
        return;
      }
      if (method === 'POST' && path === CONTROL_HANDOFF_PATH) {
        void handoff(body.toString('utf8'), state).then(
          ([status, answer]) => reply(status, answer),
          (err: unknown) => reply(502, { ok: false, error: err instanceof Error ? err.message : String(err) }),
        );
        return;
      }
      if (!isLoad(method, path)) return reply(404, { ok: false, error: `no control request ${method} ${path}` });
      if (loadRefused(reply)) return;
      loading = true;
      expectLoad();
      void (async () => {
        try {
          const loaded = await load(parseLoadRequest(body.toString('utf8')));
          state.serve(loaded);
          reply(200, { ok: true, module: loaded.module });
        } catch (err) {
          loading = false;
          if (err instanceof BadLoadRequest) reply(400, { ok: false, error: err.message });
          else if (err instanceof ModuleError) reply(422, { ok: false, error: err.message }, () => state.fail(err.message));
          else reply(500, { ok: false, error: err instanceof Error ? err.message : String(err) });
        }
        // after the load's answer: a held request is served by the module, or answered 503 by
        // a runtime that has none (after a 422 it is about to exit)
        settled();
      })();
    },
  });
}

/** A cron firing: the answer's status and body once the run settled (protocol.ts). */
async function scheduled(text: string, state: ControlState): Promise<[number, ScheduledAnswer | ErrorAnswer]> {
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

/** Connects to the host's handoff socket: the answer's status and body once connected. */
async function handoff(text: string, state: ControlState): Promise<[number, HealthAnswer | ErrorAnswer]> {
  const config = parseHandoffRequest(text);
  if (typeof config === 'string') return [400, { ok: false, error: config }];
  await state.handoff(config);
  return [200, { ok: true, module: state.loaded()?.module ?? null }];
}
