/**
 * `warren bench` arguments, parsed into plain data before anything runs (bubblewrap's rule), with
 * bounds: a bench is bounded in cycles and in time, whatever it is asked.
 *
 *   warren bench SCENARIO [--count N] [--concurrency C] [--duration S] [--level bare|runtime]
 *                         [--net none|bridge] [--pool warm|empty] [--egress none|public]
 *                         [--connections 1,2,50]
 *                         [--json] [--report FILE.html]
 *
 * Options are common to all scenarios; each scenario's check() refuses those it has no use for.
 */
import { WarrenError } from '../lib/errors.js';

export type Level = 'bare' | 'runtime';
export type Net = 'none' | 'bridge';
/** `cold`: which warren rows run: a server with generic runtimes ready, or one with none. */
export type PoolChoice = 'warm' | 'empty';
/** `cold`: the egress its functions are deployed with (public: the start adds nft elements). */
export type EgressChoice = 'none' | 'public';

export interface BenchOptions {
  scenario: string;
  /** Measured cycles per row (warm-up not included). With `durationS`, a cap. */
  count: number;
  concurrency: number;
  /** Start rounds until this many seconds have passed, all rows together, after the warm-up
   * (or until `count` is reached). */
  durationS?: number;
  level: Level;
  net: Net;
  json: boolean;
  report?: string;
  /** `cold` only: one of the two warren rows; both when not given. */
  pool?: PoolChoice;
  /** `cold` only: the functions' egress; none when not given. */
  egress?: EgressChoice;
  /** `warm` only: the load's connection counts, each a row per subject. */
  connections?: number[];
}

export const DEFAULT_COUNT = 200;
export const MAX_COUNT = 100_000;
export const MAX_CONCURRENCY = 64;
export const MAX_DURATION_S = 3600;
export const MAX_CONNECTIONS = 1000;
/** Where a scenario's cycles are costlier than spawn's, its default count is smaller. */
const DEFAULT_COUNTS: Readonly<Record<string, number>> = { cold: 50, density: 10 };
/** warm puts load on for a time: seconds measured per row unless --duration says otherwise. */
export const DEFAULT_WARM_S = 5;
export const DEFAULT_CONNECTIONS: readonly number[] = [1, 2, 50];

const LEVELS: readonly Level[] = ['bare', 'runtime'];
const NETS: readonly Net[] = ['none', 'bridge'];
const POOLS: readonly PoolChoice[] = ['warm', 'empty'];
const EGRESSES: readonly EgressChoice[] = ['none', 'public'];
const WITH_VALUE = new Set(['--count', '--concurrency', '--duration', '--level', '--net', '--report', '--pool', '--egress', '--connections']);

function bad(message: string): never {
  throw new WarrenError('WARREN_ARG_INVALID', message);
}

function integer(text: string, what: string, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < 1 || n > max) bad(`invalid ${what} '${text}': expected an integer from 1 to ${max}`);
  return n;
}

function seconds(text: string): number {
  const n = Number(text.replace(/s$/, ''));
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > MAX_DURATION_S) {
    bad(`invalid duration '${text}': expected seconds, more than 0 and at most ${MAX_DURATION_S}`);
  }
  return n;
}

/** "1,2,50": distinct connection counts, in the order given. */
function connectionList(text: string): number[] {
  const out = text.split(',').map((c) => integer(c, 'connections', MAX_CONNECTIONS));
  if (new Set(out).size !== out.length) bad(`invalid connections '${text}': a count is given twice`);
  return out;
}

function oneOf<T extends string>(text: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(text)) bad(`invalid ${what} '${text}': expected ${allowed.join(' or ')}`);
  return text as T;
}

/** `scenarios`: the names the registry knows, so the error can list them. */
export function parseBenchArgs(argv: readonly string[], scenarios: readonly string[]): BenchOptions {
  const [scenario, ...rest] = argv;
  if (scenario === undefined || scenario.startsWith('-')) bad(`no scenario given: warren bench ${scenarios.join('|')} [options]`);
  if (!scenarios.includes(scenario)) bad(`unknown scenario '${scenario}': expected ${scenarios.join(' or ')}`);
  const out: BenchOptions = { scenario, count: DEFAULT_COUNTS[scenario] ?? DEFAULT_COUNT, concurrency: 1, level: 'bare', net: 'none', json: false };
  let countGiven = false;
  for (let i = 0; i < rest.length; i++) {
    let arg = rest[i] as string;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (arg === '--json') {
      if (value !== undefined) bad(`option '--json' takes no value`);
      out.json = true;
      continue;
    }
    if (!WITH_VALUE.has(arg)) bad(arg.startsWith('-') ? `unknown option '${arg}'` : `unexpected argument '${arg}'`);
    if (value === undefined) {
      value = rest[++i];
      if (value === undefined) bad(`option '${arg}' needs a value`);
    }
    switch (arg) {
      case '--count': out.count = integer(value, 'count', MAX_COUNT); countGiven = true; break;
      case '--concurrency': out.concurrency = integer(value, 'concurrency', MAX_CONCURRENCY); break;
      case '--duration': out.durationS = seconds(value); break;
      case '--level': out.level = oneOf(value, LEVELS, 'level'); break;
      case '--net': out.net = oneOf(value, NETS, 'net'); break;
      case '--report': if (value === '') bad(`invalid report file ''`); out.report = value; break;
      case '--pool': out.pool = oneOf(value, POOLS, 'pool'); break;
      case '--egress': out.egress = oneOf(value, EGRESSES, 'egress'); break;
      case '--connections': out.connections = connectionList(value); break;
    }
  }
  // --duration alone runs until the time is up: the count is then only the safety cap
  if (out.durationS !== undefined && !countGiven) out.count = MAX_COUNT;
  if (scenario === 'warm') {
    out.durationS ??= DEFAULT_WARM_S;
    out.connections ??= [...DEFAULT_CONNECTIONS];
  }
  return out;
}
