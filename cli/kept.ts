/** `warren commit NAME IMAGE` and `warren rm NAME`: what becomes of a kept sandbox's changes. */
import { defaultDirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { commitKept, removeKept } from '../snapshots/index.js';

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

export async function rm(argv: readonly string[]): Promise<number> {
  if (argv.length === 0) throw new WarrenError('WARREN_ARG_INVALID', 'usage: warren rm NAME...');
  needRoot('rm');
  for (const name of argv) removeKept(defaultDirs().state, name);
  return 0;
}
