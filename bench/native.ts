/**
 * The bench's native helpers (bench/native/): `pause`, the command every row runs, `driver`,
 * which runs the baselines' cycles, and `ask`, the cold scenario's client for warren's rows.
 * Built with make at first use, as the test probe is, when a source is newer than its binary;
 * the sources are found from the package root, so this works whether it runs from bench/ or from
 * dist/bench/.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../lib/package-root.js';
import { WarrenError } from '../lib/errors.js';

export interface BenchNative {
  /** The directory holding both binaries (bind-mounted read-only into warren's sandboxes). */
  readonly dir: string;
  readonly pause: string;
  readonly driver: string;
  readonly ask: string;
}


const sourceDir = path.join(packageRoot(import.meta.url), 'bench', 'native');
const buildDir = path.join(sourceDir, 'build');

function mtimeMs(p: string): number | undefined {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return undefined;
  }
}

function isStale(binaries: readonly string[]): boolean {
  const oldest = Math.min(...binaries.map((b) => mtimeMs(b) ?? -Infinity));
  const sources = fs.readdirSync(sourceDir).filter((f) => /\.[ch]$/.test(f) || f === 'Makefile');
  return sources.some((f) => (mtimeMs(path.join(sourceDir, f)) ?? 0) > oldest);
}

let checked = false;

export function ensureBenchNative(): BenchNative {
  const out = { dir: buildDir, pause: path.join(buildDir, 'pause'), driver: path.join(buildDir, 'driver'), ask: path.join(buildDir, 'ask') };
  if (!checked && isStale([out.pause, out.driver, out.ask])) {
    try {
      execFileSync('make', ['-s', '-C', sourceDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
      throw new WarrenError('WARREN_BENCH_BUILD', `build the bench helpers in '${sourceDir}': ${stderr || String(err)} (gcc, make and a static libc are needed: scripts/setup.sh)`, { cause: err });
    }
  }
  checked = true;
  return out;
}
