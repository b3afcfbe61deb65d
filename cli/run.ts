/**
 * `warren run`: one command in a fresh sandbox, like `docker run`. Streams stdio, forwards
 * Ctrl-C and SIGTERM, and exits with the command's code (128+N for a signal, 137 for OOM).
 * Errors of warren itself exit 125, a command that cannot be executed 126 or 127, as docker does.
 */
import fs from 'node:fs';
import os from 'node:os';
import { defaultDirs, type Dirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { formatMiB } from '../lib/size.js';
import { checkName, claimSandboxName, claimNetwork, SpawnError, DEFAULT_LIMITS, networkConfig, type NetworkConfig, type Sandbox } from '../sandbox/index.js';
import { claimKept, readImage, removeKept, type Kept, type KeptLock } from '../snapshots/index.js';
import { parseRunArgs, type RunArgs } from './args.js';
import { holdVolumes, type HeldVolumes } from './run-volumes.js';
import { imageLayers, openHost } from './wiring.js';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

export async function run(argv: readonly string[]): Promise<number> {
  const args = parseRunArgs(argv);
  if (process.getuid?.() !== 0) throw new WarrenError('WARREN_HOST_NOT_ROOT', 'warren run needs root (run it with sudo)');
  const dirs = defaultDirs();
  const names = networkNames(args);
  // --network NAME: the network's record says which bridge, subnet and DNS server (made if
  // absent); claimed until the sandbox is gone, so `warren network rm` refuses meanwhile
  const claimed = args.network === undefined ? undefined : claimNetwork(dirs, args.network);
  let releaseName: (() => void) | undefined;
  try {
    const network = claimed && networkConfig(dirs, claimed.record);
    if (network && args.name !== undefined) releaseName = claimSandboxName(network, args.name);
    // nothing of an internal network is reachable from outside it, the host's ports included
    // (Docker's --internal publishes nothing either): said, not silently ignored
    if (network?.user?.internal && args.publish.length > 0) {
      throw new WarrenError('WARREN_NETWORK_INTERNAL_PUBLISH', `network '${network.user.name}' is internal: nothing on it can be published (-p ${args.publish.map((p) => `${p.hostPort}:${p.port}`).join(', -p ')})`);
    }
    return await runSandbox(args, dirs, network, names);
  } finally {
    releaseName?.();
    claimed?.release();
  }
}

async function runSandbox(args: RunArgs, dirs: Dirs, network: NetworkConfig | undefined, names: string[]): Promise<number> {
  const layers = await imageLayers(dirs.state, args.image);
  // held until the sandbox is gone (the finally below runs after host.close)
  const volumes = holdVolumes(dirs, args.namedVolumes, args.name ?? `pid ${process.pid}`);
  try {
    return await runHolding(args, dirs, layers, volumes, network, names);
  } finally {
    volumes.release();
  }
}

async function runHolding(args: RunArgs, dirs: Dirs, layers: string[], volumes: HeldVolumes, network: NetworkConfig | undefined, names: string[]): Promise<number> {
  let kept: Kept | undefined;
  let claim: { dir: string; lock: KeptLock } | undefined;
  if (args.keep && args.name) {
    kept = { name: args.name, image: args.image, layers: [...readImage(dirs.state, args.image).layers], uidBase: 0, created: new Date().toISOString() };
    // its lock is held until this process ends: commit and rm refuse while the sandbox may run
    // and its changes go to an image capped as the tmpfs is
    claim = claimKept(dirs.state, kept, { sizeBytes: args.tmpfsBytes ?? DEFAULT_LIMITS.tmpfsBytes, inodes: DEFAULT_LIMITS.tmpfsInodes });
  }
  const keepDir = claim?.dir;
  // one sandbox and done: no spare network namespaces made ahead for sandboxes that never come
  const host = await openHost({ dirs, spare: 0, ...(network ? { network } : {}) });
  let sandbox: Sandbox | undefined;
  const forward = (sig: NodeJS.Signals) => sandbox?.kill(os.constants.signals[sig]);
  try {
    try {
      sandbox = await host.create({
        argv: args.command,
        layers,
        env: args.env,
        cwd: args.workdir,
        hostname: args.hostname,
        limits: { memoryBytes: args.memoryBytes, cpus: args.cpus, pids: args.pids },
        tmpfs: { sizeBytes: args.tmpfsBytes },
        // relayed by this process through pipes: the sandbox never gets our terminal or log file
        stdio: [args.interactive ? 'inherit' : 'null', 'inherit', 'inherit'],
        binds: [...args.volumes, ...volumes.binds],
        net: args.net === 'bridge' ? { egress: args.egress, publish: args.publish, names } : undefined,
        keep: keepDir,
      });
    } catch (err) {
      // it never started (a published port in use, say): the name must not stay taken
      if (kept) removeKept(dirs.state, kept.name, claim?.lock);
      throw err;
    }
    if (!args.name) volumes.label(sandbox.id);
    if (kept && keepDir) fs.writeFileSync(`${keepDir}.json`, `${JSON.stringify({ ...kept, uidBase: sandbox.uidBase }, null, 2)}\n`);
    for (const sig of FORWARDED) process.on(sig, forward);
    try {
      await sandbox.ready();
    } catch (err) {
      if (!(err instanceof SpawnError) || err.stage !== 'exec') throw err;
      process.stderr.write(`warren: ${err.message.replace(/^sandbox \w+: exec: /, '')}\n`);
    }
    const exit = await sandbox.exited;
    if (exit.oomKilled) {
      process.stderr.write(`killed: out of memory (limit ${formatMiB(args.memoryBytes ?? DEFAULT_LIMITS.memoryBytes)})\n`);
      return 137;
    }
    return exit.code;
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
    await host.close();
    claim?.lock.release(); // after the close: the sandbox and its spawner are gone
  }
}

/** What its network's other sandboxes reach it by: --name and each --network-alias (Docker's). */
function networkNames(args: RunArgs): string[] {
  if (args.network === undefined) return [];
  const names = [...new Set([...(args.name === undefined ? [] : [args.name]), ...args.aliases])];
  for (const n of names) checkName(n); // before anything is made
  return names;
}
