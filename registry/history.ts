/**
 * Where a rollback goes, from a function's deployments. A rollback walks back the line of deploys,
 * one step each time, never forward: after deploys 1, 2, 3 a rollback goes to 2, the next to 1,
 * the next has nowhere to go. Replaying the history as a stack gives that:
 *
 *   deploy N              push N
 *   rollback to N         N in the stack: drop what is above it; else push N
 *
 * and the target is the entry under the top. A rollback to a version that was rolled back past
 * (3, after 3 -> 2) pushes it, so the next rollback returns to where it came from.
 */
import type { Deployment } from './registry.js';

export function rollbackTarget(history: readonly Deployment[]): number | null {
  const line: number[] = [];
  for (const d of history) {
    const at = d.kind === 'rollback' ? line.lastIndexOf(d.to) : -1;
    if (at >= 0) line.length = at + 1;
    else line.push(d.to);
  }
  return line.at(-2) ?? null;
}
