/**
 * `warren commit NAME IMAGE`, `warren kept rm NAME...` and `warren kept ls`: what becomes of a
 * kept sandbox's changes (`warren run --name N --keep`). `warren rm` removes functions; kept
 * sandboxes have their own verb.
 */
import { defaultDirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { commitKept, listKept, removeKept } from '../snapshots/index.js';
import { formatTable, printJson, shortTime } from './client-command.js';

function needRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new WarrenError('WARREN_HOST_NOT_ROOT', `warren ${what} needs root (run it with sudo)`);
}

export async function commit(argv: readonly string[]): Promise<number> {
  const [name, image, ...rest] = argv;
  if (!name || !image || rest.length) throw new WarrenError('WARREN_ARG_INVALID', 'usage: warren commit NAME IMAGE');
  needRoot('commit');
  const made = await commitKept(defaultDirs().state, name, image);
  process.stdout.write(`${made.name} ${made.layers[0]}\n`);
  return 0;
}

const KEPT_USAGE = 'usage: warren kept rm NAME... | warren kept ls [--json]';

export async function kept(argv: readonly string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'rm') {
    if (rest.length === 0 || rest.some((n) => n.startsWith('-'))) throw new WarrenError('WARREN_ARG_INVALID', 'usage: warren kept rm NAME...');
    needRoot('kept rm');
    for (const name of rest) removeKept(defaultDirs().state, name);
    return 0;
  }
  if (verb === 'ls') {
    const json = rest[0] === '--json';
    if (rest.length > (json ? 1 : 0)) throw new WarrenError('WARREN_ARG_INVALID', 'usage: warren kept ls [--json]');
    needRoot('kept ls');
    const all = listKept(defaultDirs().state);
    if (json) printJson(all.map(({ name, image, created }) => ({ name, image, created })));
    else process.stdout.write(formatTable(['NAME', 'IMAGE', 'CREATED'], all.map((k) => [k.name, k.image, shortTime(k.created)])));
    return 0;
  }
  throw new WarrenError('WARREN_ARG_INVALID', KEPT_USAGE);
}
