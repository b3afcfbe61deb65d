/**
 * `warren logs NAME [--follow]`: a function's log lines, one a line (time, version, instance,
 * request id, stream, text), or with --json the control API's NDJSON as it comes. --follow
 * streams until Ctrl-C (exit 0); a server that ends the stream meanwhile (it stopped) is exit 3.
 */
import type { LogLine } from '../router/control.js';
import { isWarrenError, WarrenError } from '../lib/errors.js';
import { parseClientArgs, type ClientArgs } from './client-args.js';
import { clientMain, connect, helped } from './client-command.js';
import { EXIT_OK } from './exit-codes.js';

export const LOGS_USAGE = 'warren logs NAME [-f|--follow] [--json] [--server URL] [--token T]';

export interface LogsArgs {
  args: ClientArgs;
  name: string;
  follow: boolean;
}

export function parseLogsArgs(argv: readonly string[]): LogsArgs {
  const args = parseClientArgs(argv, LOGS_USAGE, { min: 1, max: 1 }, { switches: { '--follow': 'follow', '-f': 'follow' } });
  return { args, name: args.positionals[0] as string, follow: args.switches.has('follow') };
}

/** 2026-11-28T23:41:45.123Z v3 i-4f2a 0b1c...  stdout  the text */
export function formatLogLine(l: LogLine): string {
  return `${l.time} v${l.version} ${l.instance} ${l.requestId ?? '-'} ${l.stream} ${l.text.replace(/\n$/, '')}\n`;
}

export function logs(argv: readonly string[]): Promise<number> {
  return clientMain(async () => {
    const { args, name, follow } = parseLogsArgs(argv);
    if (helped(args, LOGS_USAGE)) return EXIT_OK;
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const client = connect(args);
    try {
      for await (const line of client.logs(name, { follow, signal: stop.signal })) {
        process.stdout.write(args.json ? JSON.stringify(line) + '\n' : formatLogLine(line));
      }
    } catch (err) {
      if (stop.signal.aborted) return EXIT_OK; // Ctrl-C before the answer began
      if (isWarrenError(err)) throw err;
      // the answer began and then broke off: the server went away mid-stream
      throw new WarrenError('WARREN_CLIENT_UNREACHABLE', `the log stream of '${name}' from ${client.url} broke off`, { cause: err });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (follow && !stop.signal.aborted) {
      throw new WarrenError('WARREN_CLIENT_UNREACHABLE', `the server ended the log stream of '${name}' (it stopped or restarted)`);
    }
    return EXIT_OK;
  });
}
