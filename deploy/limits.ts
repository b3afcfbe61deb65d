/**
 * A project's `[limits]`, in the config's words, into the control API's. warren's own keys:
 *   memory = "128m"     the instance's memory (swap included)
 *   cpus = 0.5          its CPU quota in cores
 *   timeout = "30s"     a request's wall-clock time at most ("500ms", "30s", "2m"; a number is seconds)
 *   concurrency = 16    requests one instance serves at once
 * Wrangler's `cpu_ms` (CPU milliseconds per request on Workers) has no exact match: warren bounds
 * a request's wall time (timeout) and an instance's CPU share (cpus), not CPU time per request.
 * Mapping cpu_ms to a timeout would cut requests that wait on I/O which Workers lets run, so it is
 * ignored, and a note says so.
 */
import { WarrenError } from '../lib/errors.js';

export interface ProjectLimits {
  /** As written ("128m" or bytes): the control API parses sizes. */
  memory?: string | number;
  cpus?: number;
  timeoutMs?: number;
  concurrency?: number;
}

const KEYS = new Set(['memory', 'cpus', 'timeout', 'concurrency', 'cpu_ms']);

export function parseLimits(obj: Record<string, unknown>, where: string, notes: string[]): ProjectLimits {
  const out: ProjectLimits = {};
  for (const key of Object.keys(obj)) {
    if (!KEYS.has(key)) bad(`unknown key "${where}.${key}" (limits are memory, cpus, timeout, concurrency; and wrangler's cpu_ms)`);
  }
  if (obj.memory !== undefined) {
    if (typeof obj.memory !== 'string' && typeof obj.memory !== 'number') bad(`"${where}.memory" must be a size such as "128m"`);
    out.memory = obj.memory;
  }
  if (obj.cpus !== undefined) {
    if (typeof obj.cpus !== 'number' || !(obj.cpus > 0)) bad(`"${where}.cpus" must be a number of cores above 0, such as 0.5`);
    out.cpus = obj.cpus;
  }
  if (obj.timeout !== undefined) out.timeoutMs = durationMs(obj.timeout, `"${where}.timeout"`);
  if (obj.concurrency !== undefined) {
    if (typeof obj.concurrency !== 'number' || !Number.isSafeInteger(obj.concurrency) || obj.concurrency <= 0) bad(`"${where}.concurrency" must be a whole number above 0`);
    out.concurrency = obj.concurrency;
  }
  if (obj.cpu_ms !== undefined) {
    notes.push(`${where}.cpu_ms = ${String(obj.cpu_ms)} is not enforced: warren bounds a request's wall time (limits.timeout) and an instance's CPU share (limits.cpus), not CPU time per request`);
  }
  return out;
}

/** "500ms", "30s", "2m", "1h", or a number of seconds; in milliseconds. */
export function durationMs(value: unknown, what: string): number {
  const text = typeof value === 'number' ? String(value) : value;
  const m = typeof text === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim()) : null;
  const ms = m ? Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h']) : 0;
  if (!(ms > 0)) bad(`${what} must be a duration such as "30s" or "500ms"`);
  return ms;
}

function bad(message: string): never {
  throw new WarrenError('WARREN_CONFIG_INVALID', message);
}
