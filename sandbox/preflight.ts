/**
 * Checks, before any work, that this kernel can give every isolation warren promises, so a missing
 * feature is one clear error instead of a failed spawn. Takes the proc root for tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WarrenError } from '../lib/errors.js';

const NAMESPACES = ['user', 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup'] as const;

export function preflight(proc = '/proc'): void {
  const missing = NAMESPACES.filter((ns) => !fs.existsSync(path.join(proc, 'self', 'ns', ns)));
  if (missing.length) {
    throw new WarrenError('WARREN_HOST_KERNEL', `this kernel lacks ${missing.join(', ')} namespace support (warren needs all of ${NAMESPACES.join(', ')})`);
  }
  let filesystems = '';
  try {
    filesystems = fs.readFileSync(path.join(proc, 'filesystems'), 'utf8');
  } catch (err) {
    throw new WarrenError('WARREN_HOST_KERNEL', `cannot read ${path.join(proc, 'filesystems')}`, { cause: err });
  }
  if (!/\toverlay$/m.test(filesystems)) {
    throw new WarrenError('WARREN_HOST_KERNEL', "this kernel has no overlayfs (try 'modprobe overlay')");
  }
}
