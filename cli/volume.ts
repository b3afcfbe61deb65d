/**
 * `warren volume create|ls|rm`: named volumes, as `docker volume` has them. `warren run -v
 * NAME:/path` makes one on first use too. Arguments are parsed into plain data before anything
 * acts; every mistake is a WARREN_ARG_INVALID that main prints (exit 125).
 */
import { defaultDirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { parseSize } from '../lib/size.js';
import { createVolume, listVolumes, removeVolume, volumeCap, volumeUsedBytes, volumeUsers, type VolumeDirs } from '../volumes/index.js';
import { formatBytes, formatTable, printJson, shortTime } from './client-command.js';
import { parseOptions, usageError } from './options.js';

const COMMANDS = 'create, ls or rm';
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
    case 'rm': return rm(dirs, rest);
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

function ls(dirs: VolumeDirs, argv: readonly string[]): number {
  const o = parseOptions(argv, 'warren volume ls [--json]', { min: 0, max: 0 }, { switches: { '--json': 'json' } });
  needRoot('ls');
  const rows = listVolumes(dirs.state).map((v) => ({
    name: v.name,
    size: v.sizeBytes,
    inodes: v.inodes,
    used: volumeUsedBytes(dirs.state, v.name),
    inUseBy: volumeUsers(dirs, v.name).map((u) => u.sandbox),
    created: v.created,
  }));
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
