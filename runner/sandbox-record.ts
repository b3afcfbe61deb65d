/**
 * What the runner stores with each of its sandboxes (SandboxOptions.record, Sandbox.setRecord), so
 * that a server adopting them after a SIGKILL of the last one (serve --live-restore) knows what
 * each runs: a generic runtime, or an instance of one function version. The record is the host's
 * own word, kept outside the sandbox: the runtime's health answer is code the sandbox runs, so it
 * is only checked against the record, never believed instead of it. A sandbox's record says
 * 'instance' before the load of its module goes out (instance.ts specialize): one that says
 * 'generic' never ran a function's code, and may be given to any function.
 */

export type SandboxRecord = { readonly kind: 'generic' } | { readonly kind: 'instance'; readonly fn: string; readonly version: number };

export const GENERIC_RECORD: SandboxRecord = Object.freeze({ kind: 'generic' });

export function instanceRecord(fn: string, version: number): SandboxRecord {
  return { kind: 'instance', fn, version };
}

/** A stored record read back, or undefined when it is none of ours (no record, another shape). */
export function parseSandboxRecord(stored: Readonly<Record<string, unknown>> | undefined): SandboxRecord | undefined {
  if (stored?.kind === 'generic') return GENERIC_RECORD;
  if (stored?.kind !== 'instance') return undefined;
  const { fn, version } = stored;
  if (typeof fn !== 'string' || fn === '' || typeof version !== 'number' || !Number.isInteger(version) || version < 1) return undefined;
  return instanceRecord(fn, version);
}

/** The module name an instance of `fn` loads its source as (instance.ts): what the runtime's health
 * answer names once it serves it. */
export function moduleName(fn: string): string {
  return `${fn}.mjs`;
}
