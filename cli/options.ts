/**
 * Options and arguments of a subcommand, split before anything acts: options go anywhere before
 * `--`, as `--opt value`, `--opt=value` or, for a one-letter option, `-Xvalue` (curl's -XPOST); a
 * lone `-` is an argument. Every mistake is WARREN_ARG_INVALID naming the command's usage.
 */
import { WarrenError } from '../lib/errors.js';

export interface OptionSpec {
  /** Options without a value, each spelling to its name: {'--follow': 'follow', '-f': 'follow'}. */
  switches?: Readonly<Record<string, string>>;
  /** Options with a value, each spelling to its name; each occurrence is kept, in order. */
  values?: Readonly<Record<string, string>>;
}

export interface Options {
  switches: Set<string>;
  values: Map<string, string[]>;
  positionals: string[];
}

export function usageError(message: string, usage: string): never {
  throw new WarrenError('WARREN_ARG_INVALID', `${message} (usage: ${usage})`);
}

/** Splits argv by `spec`; `count` bounds the arguments (unless `help` is among the switches given). */
export function parseOptions(argv: readonly string[], usage: string, count: { min: number; max: number }, spec: OptionSpec): Options {
  const switches = spec.switches ?? {};
  const values = spec.values ?? {};
  const out: Options = { switches: new Set(), values: new Map(), positionals: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      out.positionals.push(arg);
      continue;
    }
    let name = arg;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      name = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    } else if (!arg.startsWith('--') && arg.length > 2 && values[arg.slice(0, 2)] !== undefined) {
      name = arg.slice(0, 2);
      value = arg.slice(2);
    }
    const flag = switches[name];
    if (flag !== undefined && value === undefined) {
      out.switches.add(flag);
      continue;
    }
    const key = values[name];
    if (key === undefined) usageError(`unknown option '${arg}'`, usage);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) usageError(`option '${name}' needs a value`, usage);
    }
    out.values.set(key, [...(out.values.get(key) ?? []), value]);
  }
  if (!out.switches.has('help')) {
    const n = out.positionals.length;
    if (n < count.min) usageError('missing arguments', usage);
    if (n > count.max) usageError(`unexpected argument '${out.positionals[count.max]}'`, usage);
  }
  return out;
}
