/**
 * What the commands that talk to a server share: their errors printed once and mapped to the
 * stable exit codes (cli/exit-codes.ts), the connection, and output for people (aligned columns)
 * or for scripts (--json: one JSON value on stdout).
 */
import { ControlClient, resolveConnection } from '../client/index.js';
import { errnoOf, isWarrenError } from '../lib/errors.js';
import { errorText } from './error-text.js';
import { clientExitCode, EXIT_OK } from './exit-codes.js';
import type { ClientArgs } from './client-args.js';

/** Runs a client command's body; what it throws becomes `warren: <message>` and an exit code. */
export async function clientMain(body: () => Promise<number>): Promise<number> {
  // `warren logs x | head`: a reader that went away is the end, not a crash
  process.stdout.on('error', (err) => {
    if (errnoOf(err) === 'EPIPE') process.exit(EXIT_OK);
    throw err;
  });
  try {
    return await body();
  } catch (err) {
    process.stderr.write(`warren: ${errorText(err)}${hint(err)}\n`);
    return clientExitCode(err);
  }
}

function hint(err: unknown): string {
  if (!isWarrenError(err)) return '';
  if (err.code === 'WARREN_API_UNAUTHORIZED') return ' (the control API refused the token: give --token or set WARREN_TOKEN; a local server keeps it in <state-dir>/token)';
  return '';
}

/** --help: the usage on stdout, and the command does nothing else. */
export function helped(args: Pick<ClientArgs, 'help'>, usage: string): boolean {
  if (args.help) process.stdout.write(`usage: ${usage}\n`);
  return args.help;
}

export function connect(args: ClientArgs): ControlClient {
  return new ControlClient(resolveConnection(args.conn));
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Columns padded to their widest cell, two spaces apart; the last one is not padded. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('  ').trimEnd() + '\n').join('');
}

/** An ISO time as people read it: 2026-11-28 23:41:45 (UTC, as the server wrote it). */
export function shortTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

/** Bytes with a unit a person reads at a glance. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
