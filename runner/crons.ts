/**
 * Cron triggers: each cron of each function's live version is one croner job, which fires the
 * module's scheduled() through the pool (Pool.scheduled) like a request, so limits, the queue and
 * crash handling apply to it. Expressions are read as Workers read them, in UTC: five fields
 * (minute hour day-of-month month day-of-week), or six with seconds first, croner's extension.
 *
 * A deploy, a rollback or a removal hands the function's live crons to set(): a cron it keeps
 * keeps its job (and the run in flight), one it drops stops, a new one starts. A firing while the
 * cron's run before is still going is skipped, with a log line (croner's `protect`), so a slow
 * handler never piles up runs. close() stops every job; runs in flight end with the pool.
 *
 * The checks and the plan are pure (crons.test.ts tests them as tables); the class holds timers.
 */
import { randomUUID } from 'node:crypto';
import { Cron, type CronOptions } from 'croner';
import { isWarrenError, WarrenError } from '../lib/errors.js';
import type { Logs } from './pool-parts.js';
import type { ScheduledOutcome, ScheduledResult, ScheduledRun } from './scheduled-run.js';

/** Crons a version may have (Workers allow 3 to 5 per worker). */
export const MAX_CRONS = 10;
const MAX_CRON_LENGTH = 128;
/** Workers run crons in UTC; croner reads 5 fields as minute-level, 6 with seconds first. */
const CRON_OPTIONS: CronOptions = { mode: '5-or-6-parts', timezone: 'UTC' };

/** Why `cron` cannot be a trigger, or null when it can. */
export function cronProblem(cron: string): string | null {
  if (cron.length > MAX_CRON_LENGTH) return `is longer than ${MAX_CRON_LENGTH} characters`;
  let job: Cron;
  try {
    job = new Cron(cron, { ...CRON_OPTIONS, paused: true });
  } catch (err) {
    return `is not a cron expression: ${(err as Error).message.replace(/^CronPattern: /, '')}`;
  }
  try {
    // croner also takes an ISO 8601 time as a one-off: not a schedule
    if (job.getPattern() === undefined) return 'is a date, not a cron expression (minute hour day month weekday)';
    if (job.nextRun() === null) return 'never fires';
    return null;
  } finally {
    job.stop();
  }
}

/** A deploy's crons, checked: each one croner reads as a schedule, no repeats, at most MAX_CRONS.
 * Throws WARREN_DEPLOY_INVALID naming the first that is wrong. */
export function checkCrons(crons: readonly string[]): string[] {
  if (crons.length > MAX_CRONS) invalid(`a function has at most ${MAX_CRONS} crons, not ${crons.length}`);
  const seen = new Set<string>();
  return crons.map((given) => {
    const cron = given.trim();
    const why = cronProblem(cron);
    if (why) invalid(`cron '${cron}' ${why}`);
    const key = cron.split(/\s+/).join(' ');
    if (seen.has(key)) invalid(`cron '${cron}' is given twice`);
    seen.add(key);
    return cron;
  });
}

/** What changes when a function's crons go from `now` to `next`: a cron in both keeps its job. */
export function planCrons(now: Iterable<string>, next: readonly string[]): { stop: string[]; start: string[] } {
  const have = new Set(now);
  const want = new Set(next);
  return { stop: [...have].filter((c) => !want.has(c)), start: [...want].filter((c) => !have.has(c)) };
}

/** How a firing went, for the metrics: the run's outcome, or it never ran. */
export type CronOutcome = ScheduledOutcome | 'refused' | 'skipped';

export interface CronsOptions {
  /** Runs one firing (Pool.scheduled); rejects when no instance could take it. */
  run(fn: string, run: ScheduledRun): Promise<ScheduledResult>;
  logs: Pick<Logs, 'report'>;
  /** Each firing's outcome (metrics.ts). */
  counted(fn: string, outcome: CronOutcome): void;
}

interface Job {
  readonly cron: Cron;
  /** The id of its run in flight, for the line that says a firing was skipped. */
  running: string | null;
}

interface Scheduled {
  version: number;
  readonly jobs: Map<string, Job>;
}

export class Crons {
  readonly #opts: CronsOptions;
  readonly #fns = new Map<string, Scheduled>();
  #closed = false;

  constructor(opts: CronsOptions) {
    this.#opts = opts;
  }

  /** `fn`'s live version is now `version`, with these crons ([] or a removal: none). */
  set(fn: string, version: number, crons: readonly string[]): void {
    if (this.#closed) return;
    const s = this.#fns.get(fn) ?? { version, jobs: new Map<string, Job>() };
    s.version = version;
    const { stop, start } = planCrons(s.jobs.keys(), crons);
    for (const cron of stop) {
      s.jobs.get(cron)?.cron.stop();
      s.jobs.delete(cron);
    }
    for (const cron of start) s.jobs.set(cron, this.#job(fn, cron));
    if (s.jobs.size === 0) this.#fns.delete(fn);
    else this.#fns.set(fn, s);
  }

  /** The crons scheduled for `fn` now. */
  crons(fn: string): string[] {
    return [...(this.#fns.get(fn)?.jobs.keys() ?? [])];
  }

  /** Stops every job; idempotent. */
  close(): void {
    this.#closed = true;
    for (const s of this.#fns.values()) for (const j of s.jobs.values()) j.cron.stop();
    this.#fns.clear();
  }

  #job(fn: string, cron: string): Job {
    const job: Job = {
      running: null,
      cron: new Cron(
        cron,
        {
          ...CRON_OPTIONS,
          unref: true,
          protect: () => this.#skipped(fn, cron, job.running),
          catch: (err) => process.stderr.write(`warren: cron '${cron}' of '${fn}': ${err instanceof Error ? err.message : String(err)}\n`),
        },
        (self) => this.#fire(fn, cron, job, self.currentRun()?.getTime() ?? Date.now()),
      ),
    };
    return job;
  }

  async #fire(fn: string, cron: string, job: Job, scheduledTime: number): Promise<void> {
    const run: ScheduledRun = { id: `cron-${randomUUID()}`, cron, scheduledTime };
    job.running = run.id;
    try {
      const result = await this.#opts.run(fn, run);
      this.#opts.counted(fn, result.outcome);
    } catch (err) {
      this.#opts.counted(fn, 'refused');
      // a removal or a shutdown meanwhile is no news for a log that is gone
      if (this.#closed || !this.#fns.has(fn) || isWarrenError(err, 'WARREN_HOST_CLOSED')) return;
      const why = err instanceof Error ? err.message : String(err);
      this.#report(fn, `scheduled run of cron '${cron}' did not run: ${why}`, run.id);
    } finally {
      job.running = null;
    }
  }

  #skipped(fn: string, cron: string, running: string | null): void {
    this.#opts.counted(fn, 'skipped');
    this.#report(fn, `scheduled run of cron '${cron}' skipped: its run before${running ? ` (${running})` : ''} is still going`, null);
  }

  #report(fn: string, text: string, id: string | null): void {
    const version = this.#fns.get(fn)?.version;
    if (version !== undefined) this.#opts.logs.report({ fn, version, instance: '-' }, text, id ?? undefined);
  }
}

function invalid(message: string): never {
  throw new WarrenError('WARREN_DEPLOY_INVALID', message);
}
