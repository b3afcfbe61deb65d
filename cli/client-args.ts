/**
 * Arguments of the commands that talk to a server (ls, rm, versions, rollback, logs, invoke,
 * secret), parsed into plain data before anything acts (cli/options.ts splits them). Every command
 * takes --server URL, --token T, --state-dir DIR (where a local server left server.json and its
 * token), --json and --help. A mistake is WARREN_ARG_INVALID naming the usage (exit 2).
 */
import type { ConnectionFlags } from '../client/index.js';
import { parseOptions, type OptionSpec, type Options } from './options.js';

export { usageError } from './options.js';

export interface ClientArgs extends Options {
  conn: ConnectionFlags;
  json: boolean;
  /** --help or -h: print the usage, do nothing else. */
  help: boolean;
}

const COMMON: Required<OptionSpec> = {
  switches: { '--json': 'json', '--help': 'help', '-h': 'help' },
  values: { '--server': 'server', '--token': 'token', '--state-dir': 'state-dir' },
};

/** Splits argv by `spec` and the common options; `positionals` bounds how many names it takes. */
export function parseClientArgs(argv: readonly string[], usage: string, positionals: { min: number; max: number }, spec: OptionSpec = {}): ClientArgs {
  const o = parseOptions(argv, usage, positionals, { switches: { ...COMMON.switches, ...spec.switches }, values: { ...COMMON.values, ...spec.values } });
  const server = last(o, 'server');
  const token = last(o, 'token');
  const stateDir = last(o, 'state-dir');
  for (const k of ['server', 'token', 'state-dir']) o.values.delete(k);
  const help = o.switches.delete('help');
  const json = o.switches.delete('json');
  const conn = { ...(server !== undefined && { server }), ...(token !== undefined && { token }), ...(stateDir !== undefined && { stateDir }) };
  return { ...o, conn, json, help };
}

/** An option's value: the last one given wins, as with most commands. */
export function last(args: Pick<ClientArgs, 'values'>, name: string): string | undefined {
  return args.values.get(name)?.at(-1);
}
