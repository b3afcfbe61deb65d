/**
 * `npm run soak -- [--duration 30m] [--cycles N] [--json FILE]`: split before anything acts.
 * --duration 0 runs no load (cycles only); --cycles 0 (the default) runs none. --recovery-target
 * relaxes the 2 s recovery target (the CI run on a shared machine; the report says which held).
 * --faults KIND[,KIND...] runs only those faults, in that order, round after round (a kind may be
 * named twice): `--faults serve-kill --duration 3m` measures serve's restart alone, several times.
 * serve runs with --live-restore (its restart adopts the sandboxes the killed one left);
 * --no-live-restore runs it without, as before (every function starts again after a serve kill).
 */
import { WarrenError } from '../../lib/errors.js';
import { FAULT_KINDS, type FaultKind } from './load.js';

export const USAGE = 'npm run soak -- [--duration 30m|60s] [--cycles N] [--json FILE] [--recovery-target MS] [--faults KIND,...] [--no-live-restore]';

/** Service back within this long of a kill (of the restart, for serve): the target. */
export const RECOVERY_TARGET_MS = 2000;

export interface SoakOptions {
  durationS: number;
  cycles: number;
  json?: string;
  /** The recovery target, ms (RECOVERY_TARGET_MS unless given: CI on a shared machine gives more). */
  recoveryTargetMs: number;
  /** The faults to inject, in order (faults.ts FAULT_ORDER unless given). */
  faults?: FaultKind[];
  /** serve runs with --live-restore (the default). */
  liveRestore: boolean;
  /** Aborted (SIGINT, SIGTERM): the run ends early, still stopping serve and cleaning up. */
  signal?: AbortSignal;
}

function invalid(message: string): never {
  throw new WarrenError('WARREN_ARG_INVALID', `${message} (usage: ${USAGE})`);
}

/** "30m", "90s", "1h", or bare seconds. */
export function parseSeconds(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (!m) invalid(`--duration '${text}' is not a duration such as 30m or 60s`);
  const n = Number(m[1]) * ({ s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'] ?? 1);
  if (n > 24 * 3600) invalid(`--duration '${text}' is more than a day`);
  return n;
}

export function parseSoakArgs(argv: readonly string[]): SoakOptions {
  const out: SoakOptions = { durationS: 60, cycles: 0, recoveryTargetMs: RECOVERY_TARGET_MS, liveRestore: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i] ?? invalid(`option '${flag}' needs a value`);
    if (flag === '--duration') out.durationS = parseSeconds(value());
    else if (flag === '--cycles') {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) > 1_000_000) invalid(`--cycles '${v}' must be a count from 0 to 1000000`);
      out.cycles = Number(v);
    } else if (flag === '--recovery-target') {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < 1) invalid(`--recovery-target '${v}' must be milliseconds`);
      out.recoveryTargetMs = Number(v);
    } else if (flag === '--faults') out.faults = parseFaults(value());
    else if (flag === '--json') out.json = value();
    else if (arg === '--no-live-restore') out.liveRestore = false;
    else invalid(`unknown option '${arg}'`);
  }
  return out;
}

function parseFaults(text: string): FaultKind[] {
  const kinds = text.split(',').map((k) => k.trim());
  for (const k of kinds) if (!(FAULT_KINDS as readonly string[]).includes(k)) invalid(`--faults: '${k}' is not a fault (${FAULT_KINDS.join(', ')})`);
  return kinds as FaultKind[];
}
