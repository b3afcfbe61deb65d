/**
 * What a bench scenario is, and the registry of them. A scenario turns the options into subjects,
 * one per row of the table: what warren does, and baselines doing the same thing with other
 * tools. The runner (runner.ts) treats all subjects alike: warm-up, then rounds in which every
 * subject runs one batch, so that drift on the machine (thermal, other load) hits all rows alike.
 *
 *   scenario.setup(ctx) -> [subject warren, subject unshare (baseline), subject crun (baseline)]
 *   runner: warm-up batch each; round 1: warren, unshare, crun; round 2: unshare, crun, warren; ...
 *   subject.close() for each, always, also after Ctrl-C
 *
 * cold (cold.ts) has cycles like spawn; warm (warm.ts) puts load on servers for a time instead,
 * with a run() of its own that keeps the interleaving; density (density.ts) starts instances and
 * measures their memory once they idle. A new scenario adds an entry to SCENARIOS and reuses the rest.
 */
import type { Dirs } from '../lib/dirs.js';
import type { HostOptions, SandboxHost } from '../sandbox/index.js';
import { coldScenario } from './cold.js';
import { densityScenario } from './density.js';
import type { BenchOptions } from './options.js';
import type { ResultRow } from './report.js';
import type { ProgressSink, RunOutcome } from './runner.js';
import { spawnScenario } from './spawn.js';
import { warmScenario } from './warm.js';

/** What one batch of cycles measured. A failed cycle is counted and its reason kept. */
export interface Batch {
  /** Request to ready (Scenario.latency says what ready means), one per completed cycle, in milliseconds. */
  latenciesMs: number[];
  /** One message per failed cycle. */
  failures: string[];
  /** From the first cycle started to the last one ended. */
  wallMs: number;
  /** Figures a subject measures besides latency (e.g. the spawner's own setup time), per cycle. */
  extra?: Record<string, number[]>;
}

export interface Subject {
  /** The row's name in the table and the JSON (`warren`, `unshare`, `crun`). */
  readonly name: string;
  readonly baseline: boolean;
  /** Rows of a group are compared only with baselines of the same group (warm: its connections). */
  readonly group?: string;
  /** One line on what the row runs, for the report. */
  readonly description: string;
  /**
   * Runs `count` create-and-destroy cycles, at most `concurrency` at once, calling tick() after
   * each. When `signal` aborts it starts no more cycles and resolves once the running ones ended.
   */
  batch(count: number, concurrency: number, tick: () => void, signal: AbortSignal): Promise<Batch>;
  /** Releases everything the subject holds. Idempotent; called even when setup of others failed. */
  close(): Promise<void>;
}

/** How the bench gets sandbox hosts and image layers: wired by the CLI (cli/wiring.ts), so that
 * the warren row runs what `warren run` runs and the bench repeats none of its wiring. */
export interface HostFactory {
  openHost(opts: HostOptions): Promise<SandboxHost>;
  imageLayers(stateDir: string, image?: string): Promise<string[]>;
}

export interface ScenarioContext {
  readonly options: BenchOptions;
  readonly dirs: Dirs;
  readonly hosts: HostFactory;
  /** A private dir for this run (bundles, state), removed when the bench ends. */
  readonly workDir: string;
  /** Lines for the report: what was skipped or adapted, and why. */
  readonly notes: string[];
}

export interface Scenario {
  readonly name: string;
  readonly summary: string;
  /** What latency means in this run, for the report: "request to command running". */
  latency(options: BenchOptions): string;
  /** Throws a WarrenError when the options ask for something this scenario cannot do yet. */
  check(options: BenchOptions): void;
  /** What a row's `per_s` counts, for the table's legend. */
  readonly rate?: string;
  /** The subjects, warren's first. On a throw, subjects already opened must have been closed. */
  setup(ctx: ScenarioContext): Promise<Subject[]>;
  /** Lines for the notes on the targets set for this scenario: met or not, with the figures. */
  targets?(results: readonly ResultRow[]): string[];
  /** Runs the subjects; runner.ts runRounds when not given. */
  run?(subjects: readonly Subject[], options: BenchOptions, progress: ProgressSink, signal: AbortSignal): Promise<RunOutcome>;
}

export const SCENARIOS: ReadonlyMap<string, Scenario> = new Map([spawnScenario, coldScenario, warmScenario, densityScenario].map((s) => [s.name, s]));
