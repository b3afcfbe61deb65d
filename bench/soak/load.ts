/**
 * Steady, bounded load on the mix (functions.ts): a fixed number of workers, each asking its
 * function again once its last answer is in (after a pause), to 127.0.0.1 only. Each answer gets
 * a class: its function's own (ok, or the failure a hostile function is built for), or one a fault
 * necessarily causes, or `unexpected: ...`. What a fault necessarily causes (faults.ts opens it):
 *
 *   in flight at a kill   a 502/503 whose JSON says why (error, code), or for the kill of serve a
 *                         closed connection: there is no one left to answer
 *   while serve is down   a refused connection
 *   during recovery       a 502/503 that says why, asked after the kill and before service was
 *                         back (recovery is measured and has its own target)
 *
 * A request that gets no answer within HANG_MS is a hang: always unexpected.
 */
import { performance } from 'node:perf_hooks';
import { Agent, errors, request } from 'undici';
import type { SoakFunction } from './functions.js';

export const HANG_MS = 30_000;
const SAMPLES_KEPT = 40;

/** Every fault the soak injects (faults.ts), in the order a run injects them by default. */
export const FAULT_KINDS = ['runtime-kill', 'spawner-kill', 'serve-kill', 'disk-full', 'bridge-removed', 'table-removed'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

interface Flight {
  fn: SoakFunction;
  start: number;
  /** The kills that happened while it was in flight. */
  kills: FaultKind[];
}

/** A window from a fault to the moment service is back; `until` unset while it lasts. */
export interface Window {
  kind: FaultKind;
  /** A kill: what was in flight and what is asked until `until` may fail (saying why). */
  kill: boolean;
  from: number;
  until?: number;
  /** Classes of the answers to the requests in flight at the fault. */
  inFlight: Record<string, number>;
}

export interface Sample {
  atS: number;
  fn: string;
  cls: string;
  detail: string;
}

export class Load {
  readonly #base: string;
  readonly #agent = new Agent({ connections: 32, keepAliveTimeout: 2000, keepAliveMaxTimeout: 2000 });
  readonly #flights = new Set<Flight>();
  readonly #t0 = performance.now();
  /** fn -> class -> count */
  readonly counts = new Map<string, Map<string, number>>();
  readonly unexpected: Sample[] = [];
  unexpectedTotal = 0;
  readonly windows: Window[] = [];
  #flightWindows = new WeakMap<Flight, Window[]>();
  /** Told of each unexpected answer kept as a sample. */
  onUnexpected?: (s: Sample) => void;
  #stopping = false;
  #workers: Promise<void>[] = [];

  constructor(base: string) {
    this.#base = base;
  }

  start(fns: readonly SoakFunction[]): void {
    for (const fn of fns) for (let i = 0; i < fn.workers; i++) this.#workers.push(this.#worker(fn));
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#workers);
    await this.#agent.close();
  }

  /** A fault happens now: what is in flight is judged by it, and a recovery window opens. */
  fault(kind: FaultKind, opts: { kill: boolean }): Window {
    const w: Window = { kind, kill: opts.kill, from: performance.now(), inFlight: {} };
    this.windows.push(w);
    if (!opts.kill) {
      w.until = w.from;
      return w;
    }
    for (const f of this.#flights) {
      f.kills.push(kind);
      this.#flightWindows.set(f, [...(this.#flightWindows.get(f) ?? []), w]);
    }
    return w;
  }

  get inFlight(): number {
    return this.#flights.size;
  }

  total(cls?: string): number {
    let n = 0;
    for (const m of this.counts.values()) for (const [c, k] of m) if (cls === undefined || c === cls) n += k;
    return n;
  }

  async #worker(fn: SoakFunction): Promise<void> {
    while (!this.#stopping) {
      const flight: Flight = { fn, start: performance.now(), kills: [] };
      this.#flights.add(flight);
      const cls = await this.#ask(flight);
      this.#flights.delete(flight);
      this.#count(fn.name, cls.cls);
      for (const w of this.#flightWindows.get(flight) ?? []) w.inFlight[cls.cls] = (w.inFlight[cls.cls] ?? 0) + 1;
      if (cls.cls.startsWith('unexpected')) {
        this.unexpectedTotal++;
        if (this.unexpected.length < SAMPLES_KEPT) {
          const sample = { atS: Math.round((performance.now() - this.#t0) / 100) / 10, fn: fn.name, cls: cls.cls, detail: cls.detail };
          this.unexpected.push(sample);
          this.onUnexpected?.(sample);
        }
      }
      const pause = cls.cls === 'serve down' ? Math.max(fn.pauseMs, 50) : fn.pauseMs;
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
    }
  }

  #count(fn: string, cls: string): void {
    let m = this.counts.get(fn);
    if (!m) this.counts.set(fn, (m = new Map()));
    m.set(cls, (m.get(cls) ?? 0) + 1);
  }

  async #ask(flight: Flight): Promise<{ cls: string; detail: string }> {
    let status: number;
    let body: string;
    try {
      const res = await request(`${this.#base}/${flight.fn.name}/`, { dispatcher: this.#agent, headersTimeout: HANG_MS, bodyTimeout: HANG_MS });
      status = res.statusCode;
      body = await res.body.text();
    } catch (err) {
      return this.#failed(flight, err);
    }
    const own = flight.fn.judge(status, body);
    if (own) return { cls: own, detail: '' };
    const detail = `${status} ${body.slice(0, 300)}`;
    const said = saysWhy(status, body);
    if (said && flight.kills.length > 0) return { cls: `in flight at ${flight.kills[0]}`, detail };
    if (said && this.#recovering(flight.start)) return { cls: `during recovery from ${this.#recovering(flight.start)}`, detail };
    return { cls: `unexpected ${status}`, detail };
  }

  #failed(flight: Flight, err: unknown): { cls: string; detail: string } {
    const code = (err as { code?: string }).code ?? '';
    const detail = `${code} ${(err as Error).message ?? String(err)}`;
    if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) return { cls: 'unexpected hang', detail };
    const closed = err instanceof errors.SocketError || code === 'ECONNRESET' || code === 'EPIPE';
    if (closed && flight.kills.includes('serve-kill')) return { cls: 'closed by serve-kill (in flight)', detail };
    // an answer already begun (streaming) when its instance died is cut, never passed off as whole
    if (closed && flight.kills.length > 0) return { cls: `cut mid-answer by ${flight.kills[0]}`, detail };
    const down = this.windows.find((w) => w.kind === 'serve-kill' && w.until === undefined);
    if (down && (closed || code === 'ECONNREFUSED')) return { cls: 'serve down', detail };
    return { cls: `unexpected ${code || 'error'}`, detail };
  }

  /** The kind of a fault whose recovery window holds `t`. */
  #recovering(t: number): FaultKind | undefined {
    return this.windows.find((w) => w.kill && w.from <= t && (w.until === undefined || t <= w.until))?.kind;
  }

  /** Seconds since the load began. */
  now(): number {
    return (performance.now() - this.#t0) / 1000;
  }
}

/** A 502 or 503 whose JSON body names the error and its code: a client can tell why. */
export function saysWhy(status: number, body: string): boolean {
  if (status !== 502 && status !== 503) return false;
  try {
    const j = JSON.parse(body) as { error?: unknown; code?: unknown };
    return typeof j.error === 'string' && j.error !== '' && typeof j.code === 'string';
  } catch {
    return false;
  }
}
