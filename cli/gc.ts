/** `warren gc`: removes what a crashed warren left (cgroups, run dirs, leases, layer-use records, temp layers, a commit's mount, volume mounts no sandbox uses; never a volume's data). */
import { defaultDirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { detectCgroups } from '../sandbox/cgroups/index.js';
import { collectGarbage, stopWaitingSpawner } from '../sandbox/index.js';
import { LayerStore, sweepKeptMounts } from '../snapshots/index.js';
import { sweepVolumeMounts } from '../volumes/index.js';

export async function gc(argv: readonly string[]): Promise<number> {
  if (argv.length) throw new WarrenError('WARREN_ARG_INVALID', `warren gc takes no arguments, got '${argv[0]}'`);
  if (process.getuid?.() !== 0) throw new WarrenError('WARREN_HOST_NOT_ROOT', 'warren gc needs root (run it with sudo)');
  const dirs = defaultDirs();
  // live restore: a spawner waiting for the next `warren serve` holds sandboxes; gc ends it first
  const spawner = await stopWaitingSpawner(dirs);
  if (spawner !== undefined) process.stdout.write(`stopped the spawner (pid ${spawner}) waiting for a restart, and its sandboxes\n`);
  const report = await collectGarbage(dirs, detectCgroups({ parent: dirs.cgroupParent }));
  const temp = await new LayerStore(dirs.state).sweepTemp();
  const mounts = sweepKeptMounts(dirs.state);
  // after the sandboxes' records: a volume is unmounted only when no live sandbox uses it
  const volumes = sweepVolumeMounts(dirs);
  process.stdout.write(
    `removed ${report.cgroups.length} cgroups, ${report.rundirs.length} run dirs, ${report.leases} leases, ${report.addresses} addresses, ${report.layerRecords} layer records, ${temp} temp layers, ${mounts.length} kept image mounts, ${volumes.length} volume mounts${report.networks.length ? `, ${report.networks.join(', ')}` : ''}\n`,
  );
  return 0;
}
