/**
 * `warren run -v NAME:/path[:ro]`: the named volumes a run holds for its sandbox's life, as binds.
 * Each is made on first use (1 GiB, as `warren volume create NAME` makes it), mounted on the host
 * if no other sandbox has it mounted, and bound idmapped (volumes/use.ts). Released after the
 * sandbox is gone; a run killed before that leaves records `warren gc` (or the volume's next user)
 * sweeps.
 */
import type { Dirs } from '../lib/dirs.js';
import { errorText } from './error-text.js';
import { useVolume, volumeCap, type VolumeUse } from '../volumes/index.js';
import type { RunArgs } from './args.js';

export interface HeldVolumes {
  binds: Array<{ src: string; dst: string; readonly: boolean; idmap: true }>;
  /** Names the sandbox in each volume's use record (`warren volume ls` shows it). */
  label(sandbox: string): void;
  /** Lets go of every volume; a failure is reported on stderr: the command's exit code stands. */
  release(): void;
}

export function holdVolumes(dirs: Dirs, wanted: RunArgs['namedVolumes'], sandbox: string): HeldVolumes {
  const uses: VolumeUse[] = [];
  const release = () => {
    for (const use of uses.splice(0)) {
      try {
        use.release();
      } catch (err) {
        process.stderr.write(`warren: release volume '${use.volume.name}': ${errorText(err)} (warren gc retries)\n`);
      }
    }
  };
  try {
    for (const v of wanted) uses.push(useVolume(dirs, v.name, { create: volumeCap(), sandbox }));
  } catch (err) {
    release();
    throw err;
  }
  return {
    binds: wanted.map((v, i) => ({ src: (uses[i] as VolumeUse).mnt, dst: v.dst, readonly: v.readonly, idmap: true })),
    label: (s) => uses.forEach((u) => u.label(s)),
    release,
  };
}
