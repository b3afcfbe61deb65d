/**
 * Releasing many things where any one may fail: every step runs, whatever the others did, and
 * what failed comes back as one error that names each part. A create undoes what it did with an
 * Undo (last done, first undone); a sandbox's release runs its fixed steps with releaseAll.
 */
import { WarrenError, type ErrorCode } from './errors.js';

export interface Step {
  readonly name: string;
  run(): unknown;
}

export interface StepFailure {
  readonly name: string;
  readonly error: unknown;
}

/** Runs each step in order, awaiting each; never throws. The failures, named, in order. */
export async function runSteps(steps: Iterable<Step>): Promise<StepFailure[]> {
  const failed: StepFailure[] = [];
  for (const step of steps) {
    try {
      await step.run();
    } catch (error) {
      failed.push({ name: step.name, error });
    }
  }
  return failed;
}

/** One WarrenError naming every failed part (`what: cgroup: ...; netns: ...`), or undefined. */
export function failuresError(code: ErrorCode, what: string, failed: readonly StepFailure[]): WarrenError | undefined {
  if (failed.length === 0) return undefined;
  const parts = failed.map((f) => `${f.name}: ${messageOf(f.error)}`).join('; ');
  const cause = failed.length === 1 ? failed[0]?.error : new AggregateError(failed.map((f) => f.error), parts);
  return new WarrenError(code, `${what}: ${parts}`, { cause });
}

/** What a caught value says: its message with its causes (the CLI shows only the message). */
export function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? `: ${messageOf(err.cause)}` : '';
  return `${err.message}${cause}`;
}

/** Undo steps of something being built: run() undoes them last first, then forgets them. */
export class Undo {
  readonly #steps: Step[] = [];

  push(name: string, run: () => unknown): void {
    this.#steps.push({ name, run });
  }

  /** Undoes everything pushed, last first; the failures, named. */
  async run(): Promise<StepFailure[]> {
    return runSteps(this.#steps.splice(0).reverse());
  }
}
