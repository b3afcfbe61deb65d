/**
 * `warren dev`'s eyes: the dirs of the project's own source files (what the last build read,
 * node_modules left out), watched with inotify through fs.watch, so that a save is seen at once
 * (esbuild's own watch mode polls, and may see a change only seconds later). Changes close
 * together (an editor writes a file in several steps) make one call, `settleMs` after the last.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Files editors write beside the one saved (vim's swap files and its 4913 probe, emacs' locks). */
const EDITOR_LITTER = /(^\.#|^#.*#$|~$|\.sw[a-p]x?$|^4913$|\.tmp$)/;

export class SourceWatcher {
  readonly #onChange: (files: string[]) => void;
  readonly #settleMs: number;
  readonly #watchers = new Map<string, fs.FSWatcher>();
  #changed = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(onChange: (files: string[]) => void, settleMs = 20) {
    this.#onChange = onChange;
    this.#settleMs = settleMs;
  }

  /** Watches the dirs of `files` (node_modules excepted), and stops watching the others. */
  watch(files: readonly string[]): void {
    if (this.#closed) return;
    const dirs = new Set(files.filter((f) => !f.split(path.sep).includes('node_modules')).map((f) => path.dirname(f)));
    for (const [dir, w] of this.#watchers) {
      if (!dirs.has(dir)) {
        w.close();
        this.#watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = fs.watch(dir, (_event, name) => this.#seen(dir, name));
        w.on('error', () => this.#watchers.delete(dir)); // the dir went away: the next build says what is missing
        this.#watchers.set(dir, w);
      } catch {
        // a dir that is gone: nothing to watch there
      }
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  #seen(dir: string, name: string | Buffer | null): void {
    const base = name?.toString();
    if (base !== undefined && EDITOR_LITTER.test(base)) return;
    this.#changed.add(base === undefined ? dir : path.join(dir, base));
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const files = [...this.#changed];
      this.#changed = new Set();
      if (!this.#closed) this.#onChange(files);
    }, this.#settleMs);
  }
}
