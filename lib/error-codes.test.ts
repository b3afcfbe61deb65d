import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ERROR_CODES, isErrorCode } from './error-codes.js';
import { WarrenError } from './errors.js';
import { packageRoot } from './package-root.js';

const ROOT = packageRoot(import.meta.url);
const SKIP = new Set(['node_modules', 'dist', 'build', '.git', '.tap']);

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return [];
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && p !== path.join(ROOT, 'lib/error-codes.ts') ? [p] : [];
  });
}

t.test('every code in the source is registered, and every registered code is used', async (t) => {
  const used = new Set<string>();
  for (const file of sources(ROOT)) for (const m of fs.readFileSync(file, 'utf8').matchAll(/'(WARREN_[A-Z0-9_]+)'/g)) used.add(m[1] as string);
  t.same([...used].filter((c) => !isErrorCode(c)), [], 'none unregistered');
  t.same(Object.keys(ERROR_CODES).filter((c) => !used.has(c)), [], 'none registered and unused');
  const entries = Object.entries(ERROR_CODES);
  t.same(entries.filter(([code]) => !/^WARREN_[A-Z0-9]+(_[A-Z0-9]+)+$/.test(code)), [], 'every code is WARREN_<AREA>_<WHAT>');
  t.same(entries.filter(([, fault]) => fault !== 'platform' && fault !== 'user'), [], 'every code has a fault');
});

t.test('an error knows whose fault it is', async (t) => {
  t.equal(new WarrenError('WARREN_SANDBOX_BAD_OPTION', 'x').fault, 'user');
  t.equal(new WarrenError('WARREN_SPAWNER_GONE', 'x').fault, 'platform');
});
