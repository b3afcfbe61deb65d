/**
 * One bench run from options to report: check what is asked, set the scenario's subjects up, run
 * the rounds, and close every subject whatever happened (Ctrl-C included), so that nothing the
 * bench created outlives it. What a run killed with SIGKILL left (its work dirs, crun's cgroup
 * parent) is swept by the next run, recognised by the dead pid in its name.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Dirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { crunWorkDir, sweepCgroups } from './baselines/crun.js';
import { machineInfo } from './machine.js';
import type { BenchOptions } from './options.js';
import { buildReport, type ReportWithSamples } from './report.js';
import { runRounds, type ProgressSink } from './runner.js';
import { alive } from './serve-process.js';
import { SCENARIOS, type HostFactory, type Subject } from './scenario.js';

export interface BenchRun {
  dirs: Dirs;
  hosts: HostFactory;
  progress: ProgressSink;
  signal: AbortSignal;
  cgroupRoot?: string;
}

export interface BenchResult extends ReportWithSamples {
  aborted: boolean;
}

export function scenarioOf(options: BenchOptions) {
  const scenario = SCENARIOS.get(options.scenario);
  if (!scenario) throw new WarrenError('WARREN_ARG_INVALID', `unknown scenario '${options.scenario}'`);
  return scenario;
}

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Removes what earlier runs, since dead, left; names carry their pid. */
export function sweepStale(dirs: Pick<Dirs, 'state' | 'run' | 'cgroupParent'>, cgroupRoot = '/sys/fs/cgroup'): void {
  const dead = (name: string, prefix: string) => {
    const m = name.startsWith(prefix) ? /^(\d+)$/.exec(name.slice(prefix.length)) : null;
    return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]));
  };
  const benchState = path.join(dirs.state, 'bench');
  for (const e of list(benchState)) if (dead(e, '')) fs.rmSync(path.join(benchState, e), { recursive: true, force: true });
  for (const e of list(dirs.run)) if (dead(e, 'bench-crun-')) fs.rmSync(path.join(dirs.run, e), { recursive: true, force: true });
  // the run dirs of the servers the cold and warm scenarios start (serve-process.ts)
  for (const e of list(dirs.run)) if (/^bench-serve-[a-z]+-\d+$/.test(e) && dead(e, e.slice(0, e.lastIndexOf('-') + 1))) fs.rmSync(path.join(dirs.run, e), { recursive: true, force: true });
  const crunWork = path.dirname(crunWorkDir(dirs.cgroupParent, 0));
  for (const e of list(crunWork)) if (dead(e, `${dirs.cgroupParent}-bench-crun-`)) fs.rmSync(path.join(crunWork, e), { recursive: true, force: true });
  // the baselines' cgroups: `<parent>-bench-<row>-<pid>` (crun's, and baselines/cgroup.ts's)
  const cgPrefix = `${dirs.cgroupParent}-bench-`;
  const deadCgroup = (e: string) => e.startsWith(cgPrefix) && dead(e, e.slice(0, e.lastIndexOf('-') + 1)) && /^[a-z]+-\d+$/.test(e.slice(cgPrefix.length));
  const tops = new Set([cgroupRoot, ...list(cgroupRoot).map((d) => path.join(cgroupRoot, d))].flatMap((h) => list(h).filter(deadCgroup)));
  for (const top of tops) sweepCgroups(cgroupRoot, top);
}

export async function runBench(options: BenchOptions, run: BenchRun): Promise<BenchResult> {
  const scenario = scenarioOf(options);
  scenario.check(options);
  sweepStale(run.dirs, run.cgroupRoot);
  // on the state dir, not a tmpfs: bundles there hold a binary that must be exec-able. 0755: the
  // baselines' own root users (mapped to unprivileged host uids) must be able to reach it
  const workDir = path.join(run.dirs.state, 'bench', String(process.pid));
  fs.mkdirSync(workDir, { recursive: true, mode: 0o755 });
  fs.chmodSync(path.dirname(workDir), 0o755);
  // before anything runs: the load average should be the machine's, not the bench's own
  const machine = machineInfo();
  const notes: string[] = [];
  let subjects: Subject[] = [];
  let result: BenchResult | undefined;
  let failure: unknown;
  try {
    subjects = await scenario.setup({ options, dirs: run.dirs, hosts: run.hosts, workDir, notes });
    const outcome = scenario.run ? await scenario.run(subjects, options, run.progress, run.signal) : await runRounds(subjects, options, run.progress, run.signal);
    result = { ...buildReport(outcome, options, machine, notes, scenario.latency(options), scenario.rate), aborted: outcome.aborted };
    result.report.notes.push(...(scenario.targets?.(result.report.results) ?? []));
  } catch (err) {
    failure = err;
  }
  const closed = await Promise.allSettled(subjects.map((s) => s.close()));
  fs.rmSync(workDir, { recursive: true, force: true });
  if (failure !== undefined) throw failure;
  const cleanup = closed.flatMap((c) => (c.status === 'rejected' ? [c.reason instanceof Error ? c.reason.message : String(c.reason)] : []));
  if (cleanup.length) throw new WarrenError('WARREN_BENCH_CLEANUP', `the bench could not remove everything it made: ${cleanup.join('; ')}`);
  return result as BenchResult;
}
