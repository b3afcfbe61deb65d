/**
 * Checks, before any work, that this kernel can give every isolation warren promises, so a missing
 * feature is one clear error instead of a failed spawn. Takes the proc root for tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, WarrenError } from '../lib/errors.js';
import { uidSpanConflicts, UID_SLOTS_DEFAULT, type HostIds } from '../lib/uid-range.js';

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

/** Refuses a uid base whose span overlaps ids the host uses (users, groups, subordinate ranges).
 * Takes the /etc dir for tests. */
export function checkUidBase(base: number, etc = '/etc', slots = UID_SLOTS_DEFAULT): void {
  const read = (name: string): string | undefined => {
    try {
      return fs.readFileSync(path.join(etc, name), 'utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw new WarrenError('WARREN_HOST_UID_RANGE', `cannot read '${path.join(etc, name)}'`, { cause: err });
    }
  };
  const ids: HostIds = { passwd: read('passwd'), group: read('group'), subuid: read('subuid'), subgid: read('subgid') };
  const conflicts = uidSpanConflicts({ base, slots }, ids);
  if (conflicts.length > 0) {
    const shown = conflicts.slice(0, 5).join('; ') + (conflicts.length > 5 ? `; and ${conflicts.length - 5} more` : '');
    throw new WarrenError(
      'WARREN_HOST_UID_RANGE',
      `the sandboxes' uids ${base}-${base + slots * 65536 - 1} overlap ids this host uses: ${shown}; choose another base with --uid-base or WARREN_UID_BASE`,
    );
  }
}
