/**
 * Baseline: util-linux `unshare` with the namespaces a warren sandbox gets (user, pid, mount, uts,
 * ipc, net, cgroup), running the same pause binary. It is the floor of what namespaces cost: no
 * cgroup limits, no overlay root, no /proc, no seccomp, no capability drop. It runs in a cgroup of
 * its own without limits (cgroup.ts says why).
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { Subject } from '../scenario.js';
import type { BaselineCgroup } from './cgroup.js';
import { runDriver } from './driver.js';

/** The first executable `name` on PATH, or undefined. */
export function which(name: string, pathEnv = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathEnv.split(':')) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export const UNSHARE_NAMESPACES = ['--user', '--map-root-user', '--pid', '--mount', '--uts', '--ipc', '--net', '--cgroup'] as const;

export function unshareSubject(unshare: string, native: { driver: string; pause: string }, cgroup?: BaselineCgroup): Subject {
  // --kill-child: should the driver die, the pause inside dies with unshare, not orphaned
  const command = [unshare, ...UNSHARE_NAMESPACES, '--fork', '--kill-child', native.pause, '--until-eof'];
  return {
    name: 'unshare',
    baseline: true,
    description: `unshare ${UNSHARE_NAMESPACES.join(' ')} --fork: the same namespaces, no cgroups, no new root, no seccomp`,
    batch: (count, concurrency, tick, signal) => runDriver({ driver: native.driver, wrapper: cgroup?.wrapper, command, count, concurrency, tick, signal }),
    close: async () => cgroup?.close(),
  };
}
