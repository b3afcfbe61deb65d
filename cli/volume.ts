/**
 * `warren volume create|ls|inspect|rm|prune`: named volumes, as `docker volume` has them. `warren run -v
 * NAME:/path` makes one on first use too. Arguments are parsed into plain data before anything
 * acts; every mistake is a WARREN_ARG_INVALID that main prints (exit 125).
 */
import readline from 'node:readline/promises';
import { defaultDirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { parseSize } from '../lib/size.js';
import { createVolume, listVolumes, readVolume, removeVolume, volumeCap, volumeImage, volumeUsedBytes, volumeUsers, type VolumeDirs } from '../volumes/index.js';
import { formatBytes, formatTable, printJson, shortTime } from './client-command.js';
import { parseOptions, usageError } from './options.js';

const COMMANDS = 'create, ls, inspect, rm or prune';
const CREATE_USAGE = 'warren volume create [--size SIZE] [--inodes N] NAME';

function needRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new WarrenError('WARREN_HOST_NOT_ROOT', `warren volume ${what} needs root (run it with sudo)`);
}

export async function volume(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const dirs = defaultDirs();
  switch (command) {
    case 'create': return create(dirs, rest);
    case 'ls': return ls(dirs, rest);
    case 'inspect': return inspect(dirs, rest);
    case 'rm': return rm(dirs, rest);
    case 'prune': return prune(dirs, rest);
    case undefined: throw new WarrenError('WARREN_ARG_INVALID', `warren volume needs a command: ${COMMANDS}`);
    default: throw new WarrenError('WARREN_ARG_INVALID', `unknown volume command '${command}': expected ${COMMANDS}`);
  }
}

function create(dirs: VolumeDirs, argv: readonly string[]): number {
  const o = parseOptions(argv, CREATE_USAGE, { min: 1, max: 1 }, { values: { '--size': 'size', '--inodes': 'inodes' } });
  const size = o.values.get('size')?.at(-1);
  const inodes = o.values.get('inodes')?.at(-1);
  if (inodes !== undefined && !/^\d+$/.test(inodes)) usageError(`invalid inode count '${inodes}'`, CREATE_USAGE);
  const cap = volumeCap(size === undefined ? undefined : parseSize(size, 'volume size'), inodes === undefined ? undefined : Number(inodes));
  needRoot('create');
  const made = createVolume(dirs, o.positionals[0] as string, cap);
  process.stdout.write(`${made.name}\n`);
  return 0;
}

/** A volume as ls and inspect show it. */
function row(dirs: VolumeDirs, v: { name: string; sizeBytes: number; inodes: number; created: string }) {
  return {
    name: v.name,
    size: v.sizeBytes,
    inodes: v.inodes,
    used: volumeUsedBytes(dirs.state, v.name),
    inUseBy: volumeUsers(dirs, v.name).map((u) => u.sandbox),
    created: v.created,
  };
}

function ls(dirs: VolumeDirs, argv: readonly string[]): number {
  const o = parseOptions(argv, 'warren volume ls [--json]', { min: 0, max: 0 }, { switches: { '--json': 'json' } });
  needRoot('ls');
  const rows = listVolumes(dirs.state).map((v) => row(dirs, v));
  if (o.switches.has('json')) {
    printJson(rows);
    return 0;
  }
  const cells = rows.map((r) => [r.name, formatBytes(r.size), formatBytes(r.used), r.inUseBy.join(',') || '-', shortTime(r.created)]);
  process.stdout.write(formatTable(['NAME', 'SIZE', 'USED', 'IN USE BY', 'CREATED'], cells));
  return 0;
}

function rm(dirs: VolumeDirs, argv: readonly string[]): number {
  const o = parseOptions(argv, 'warren volume rm NAME...', { min: 1, max: Infinity }, {});
  needRoot('rm');
  for (const name of o.positionals) {
    removeVolume(dirs, name);
    process.stdout.write(`${name}\n`);
  }
  return 0;
}

/** Each volume's details as JSON (an array, in the order given), with where its data lives. */
function inspect(dirs: VolumeDirs, argv: readonly string[]): number {
  const o = parseOptions(argv, 'warren volume inspect NAME...', { min: 1, max: Infinity }, {});
  needRoot('inspect');
  printJson(o.positionals.map((name) => ({ ...row(dirs, readVolume(dirs.state, name)), image: volumeImage(dirs.state, name) })));
  return 0;
}

const PRUNE_USAGE = 'warren volume prune [-f|--force]';

/**
 * Removes every volume no sandbox uses, and its data, as `docker volume prune -a` does: asked
 * first on a terminal, refused elsewhere without --force (a script must say it means it). A
 * volume taken into use meanwhile is skipped.
 */
async function prune(dirs: VolumeDirs, argv: readonly string[]): Promise<number> {
  const o = parseOptions(argv, PRUNE_USAGE, { min: 0, max: 0 }, { switches: { '--force': 'force', '-f': 'force' } });
  needRoot('prune');
  const unused = listVolumes(dirs.state).filter((v) => volumeUsers(dirs, v.name).length === 0);
  if (unused.length === 0) {
    process.stdout.write('no unused volume\n');
    return 0;
  }
  if (!o.switches.has('force')) {
    const names = unused.map((v) => v.name).join(', ');
    if (!process.stdin.isTTY) usageError(`volume prune would remove ${unused.length} volume(s) and their data (${names}): give -f to go on`, PRUNE_USAGE);
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
    const answer = await rl.question(`remove ${unused.length} volume(s) no sandbox uses, and their data (${names})? [y/N] `).finally(() => rl.close());
    if (!/^y(es)?$/i.test(answer.trim())) throw new WarrenError('WARREN_ARG_CANCELLED', 'cancelled: nothing was removed');
  }
  let freed = 0;
  for (const v of unused) {
    const used = volumeUsedBytes(dirs.state, v.name);
    try {
      removeVolume(dirs, v.name);
    } catch (err) {
      if (err instanceof WarrenError && err.code === 'WARREN_VOLUME_IN_USE') continue; // taken meanwhile
      throw err;
    }
    freed += used;
    process.stdout.write(`${v.name}\n`);
  }
  process.stderr.write(`reclaimed ${formatBytes(freed)}\n`);
  return 0;
}
