/** Files the package builds (the spawner, the runtime bundle, bench binaries) are found from the
 * package root, whether a module runs from its source or from dist/. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest dir at or above `moduleUrl`'s that holds a package.json. */
export function packageRoot(moduleUrl: string): string {
  const start = path.dirname(fileURLToPath(moduleUrl));
  for (let d = start; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json'))) return d;
  }
  return start;
}
