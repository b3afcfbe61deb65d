/**
 * `warren ls`, `warren rm N...`, `warren versions N`, `warren rollback N [VERSION]`: the deployed
 * functions and their versions, through the control API.
 */
import fs from 'node:fs';
import { defaultDirs } from '../lib/dirs.js';
import { isWarrenError, WarrenError } from '../lib/errors.js';
import { parseClientArgs, usageError, type ClientArgs } from './client-args.js';
import { clientMain, connect, formatBytes, formatTable, helped, printJson, shortTime } from './client-command.js';
import { errorText } from './error-text.js';
import { clientExitCode, EXIT_OK } from './exit-codes.js';

export const LS_USAGE = 'warren ls [--json] [--server URL] [--token T]';
export const RM_USAGE = 'warren rm NAME... [--json] [--server URL] [--token T]';
export const VERSIONS_USAGE = 'warren versions NAME [--json] [--server URL] [--token T]';
export const ROLLBACK_USAGE = 'warren rollback NAME [VERSION] [--json] [--server URL] [--token T]';

export function ls(argv: readonly string[]): Promise<number> {
  return clientMain(async () => {
    const args = parseClientArgs(argv, LS_USAGE, { min: 0, max: 0 });
    if (helped(args, LS_USAGE)) return EXIT_OK;
    const fns = await connect(args).list();
    if (args.json) {
      printJson(fns);
      return EXIT_OK;
    }
    // secrets: how many, never what
    const rows = fns.map((f) => [f.name, String(f.live.version), shortTime(f.live.createdAt), String(f.secrets.length), f.url]);
    process.stdout.write(formatTable(['NAME', 'VERSION', 'DEPLOYED', 'SECRETS', 'URL'], rows));
    return EXIT_OK;
  });
}

/** Each name in turn, as `docker rm` does: one that fails does not stop the others; the exit code
 * is the worst. */
export function rm(argv: readonly string[]): Promise<number> {
  return clientMain(async () => {
    const args = parseClientArgs(argv, RM_USAGE, { min: 1, max: Infinity });
    if (helped(args, RM_USAGE)) return EXIT_OK;
    const client = connect(args);
    const removed: string[] = [];
    let code = EXIT_OK;
    for (const name of args.positionals) {
      try {
        await client.remove(name);
        removed.push(name);
        if (!args.json) process.stdout.write(`removed ${name}\n`);
      } catch (err) {
        const shown = (await notFoundButKept(err, name, args.conn.stateDir)) ?? err;
        // no server: the other names would only say so again
        if (!isWarrenError(shown) || shown.code === 'WARREN_CLIENT_UNREACHABLE') throw shown;
        process.stderr.write(`warren: ${errorText(shown)}\n`);
        code = Math.max(code, clientExitCode(shown));
      }
    }
    if (args.json) printJson({ removed });
    return code;
  });
}

/** `warren rm` removed a kept sandbox before it removed functions: a user who means one is told
 * where it went. */
async function notFoundButKept(err: unknown, name: string, stateDir = defaultDirs().state): Promise<WarrenError | undefined> {
  if (!isWarrenError(err) || err.code !== 'WARREN_FN_NOT_FOUND') return undefined;
  const { keptDir } = await import('../snapshots/kept.js');
  let manifest: string;
  try {
    manifest = `${keptDir(stateDir, name)}.json`;
  } catch {
    return undefined; // not a kept sandbox's name either
  }
  if (!fs.existsSync(manifest)) return undefined;
  return new WarrenError('WARREN_FN_NOT_FOUND', `no function '${name}'; there is a kept sandbox '${name}': remove it with \`warren kept rm ${name}\``);
}

export function versions(argv: readonly string[]): Promise<number> {
  return clientMain(async () => {
    const args = parseClientArgs(argv, VERSIONS_USAGE, { min: 1, max: 1 });
    if (helped(args, VERSIONS_USAGE)) return EXIT_OK;
    const name = args.positionals[0] as string;
    const client = connect(args);
    const [fn, all] = await Promise.all([client.get(name), client.versions(name)]);
    const shown = all.map((v) => ({ ...v, live: v.version === fn.live.version }));
    if (args.json) {
      printJson(shown);
      return EXIT_OK;
    }
    const rows = shown.map((v) => [String(v.version), v.live ? 'live' : '', shortTime(v.createdAt), formatBytes(v.sizeBytes), v.digest.slice(0, 12)]);
    process.stdout.write(formatTable(['VERSION', 'LIVE', 'CREATED', 'SIZE', 'DIGEST'], rows));
    return EXIT_OK;
  });
}

export interface RollbackArgs {
  args: ClientArgs;
  name: string;
  version?: number;
}

export function parseRollbackArgs(argv: readonly string[]): RollbackArgs {
  const args = parseClientArgs(argv, ROLLBACK_USAGE, { min: 1, max: 2 });
  const [name = '', text] = args.positionals;
  if (text === undefined) return { args, name };
  const version = Number(text.replace(/^v/, ''));
  if (!/^v?\d+$/.test(text) || !Number.isSafeInteger(version) || version <= 0) usageError(`invalid version '${text}': expected a whole number above 0`, ROLLBACK_USAGE);
  return { args, name, version };
}

export function rollback(argv: readonly string[]): Promise<number> {
  return clientMain(async () => {
    const { args, name, version } = parseRollbackArgs(argv);
    if (helped(args, ROLLBACK_USAGE)) return EXIT_OK;
    const released = await connect(args).rollback(name, version);
    if (args.json) printJson(released);
    else process.stdout.write(`${released.name}: version ${released.version} is live at ${released.url}\n`);
    return EXIT_OK;
  });
}
