import fs from 'node:fs';
import path from 'node:path';

/**
 * The path a mount or a comparison will see: symlinks resolved, so that a state dir reached
 * through a link names the same layers. A dir that is gone resolves to itself: nothing to keep.
 */
export function realPath(dir: string): string {
  try {
    return fs.realpathSync.native(dir);
  } catch {
    return path.resolve(dir);
  }
}
