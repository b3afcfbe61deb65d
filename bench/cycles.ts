/**
 * A batch of cycles run from Node (warren's rows; the baselines run theirs in the C driver):
 * `count` cycles, at most `concurrency` at once, each one awaited before its slot starts the next.
 */
import { performance } from 'node:perf_hooks';
import type { Batch } from './scenario.js';

/** One cycle: push its latency to out.latenciesMs, or its reason to out.failures. */
export type Cycle = (out: Batch) => Promise<void>;

export async function runCycles(count: number, concurrency: number, tick: () => void, signal: AbortSignal, cycle: Cycle, extra?: Batch['extra']): Promise<Batch> {
  const out: Batch = { latenciesMs: [], failures: [], wallMs: 0, ...(extra ? { extra } : {}) };
  let started = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (started < count && !signal.aborted) {
      started++;
      await cycle(out);
      tick();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  out.wallMs = performance.now() - t0;
  return out;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
