/**
 * What this server has running, kept for the next one in case this one is killed: every couple
 * of seconds, the functions that have instances and how busy each was lately (its requests a
 * tick, plus half the tick before's score), in a small JSON file in the run dir. A server started
 * after a SIGKILL reads it and starts those functions before anything asks (policy.ts
 * prestartOrder); a clean stop removes it, since nothing runs at the end of one. The file is
 * replaced by a rename, so a kill in the middle of a write leaves the one before.
 */
import fs from 'node:fs';
import path from 'node:path';

export const LIVE_RECORD_FILE = 'serve-live.json';
const TICK_MS = 2000;

/** What the record is made of, read at each tick. */
export interface LiveSource {
  /** Functions with instances (ready or starting) now. */
  live(): Iterable<string>;
  /** Requests answered so far, by function (a count that only grows). */
  requests(): ReadonlyMap<string, number>;
}

interface Stored {
  /** The state dir of the server that wrote it: another server's record is not this one's. */
  state: string;
  functions: Array<{ fn: string; score: number }>;
}

export class LiveRecord {
  readonly #file: string;
  readonly #state: string;
  readonly #source: LiveSource;
  readonly #timer: NodeJS.Timeout;
  readonly #scores = new Map<string, number>();
  #counts: ReadonlyMap<string, number> = new Map();
  #written = '';

  constructor(runDir: string, stateDir: string, source: LiveSource, tickMs = TICK_MS) {
    this.#file = path.join(runDir, LIVE_RECORD_FILE);
    this.#state = stateDir;
    this.#source = source;
    this.#timer = setInterval(() => this.#tick(), tickMs).unref();
  }

  #tick(): void {
    const counts = this.#source.requests();
    for (const [fn, n] of counts) this.#scores.set(fn, (this.#scores.get(fn) ?? 0) / 2 + (n - (this.#counts.get(fn) ?? 0)));
    this.#counts = counts;
    const functions = [...new Set(this.#source.live())].map((fn) => ({ fn, score: Math.round(this.#scores.get(fn) ?? 0) }));
    const text = JSON.stringify({ state: this.#state, functions } satisfies Stored);
    if (text === this.#written) return;
    try {
      fs.writeFileSync(`${this.#file}.tmp`, text);
      fs.renameSync(`${this.#file}.tmp`, this.#file);
      this.#written = text;
    } catch {
      // a record not written costs a restart its head start, nothing more
    }
  }

  /** Stops writing and removes the record (a clean stop). Idempotent. */
  close(): void {
    clearInterval(this.#timer);
    for (const f of [this.#file, `${this.#file}.tmp`]) fs.rmSync(f, { force: true });
  }
}

/** The functions the last server in `runDir` had running when it died, with their scores; []
 * when there is no record, it is unreadable, or it is another state dir's. */
export function readLiveRecord(runDir: string, stateDir: string): Array<{ fn: string; score: number }> {
  try {
    const stored = JSON.parse(fs.readFileSync(path.join(runDir, LIVE_RECORD_FILE), 'utf8')) as Partial<Stored>;
    if (stored.state !== stateDir || !Array.isArray(stored.functions)) return [];
    return stored.functions.filter((f) => typeof f?.fn === 'string' && typeof f.score === 'number');
  } catch {
    return [];
  }
}
