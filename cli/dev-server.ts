/**
 * The `warren serve` that `warren dev` runs for itself: a child process with a name of its own for
 * everything host-wide (state dir, run dir, cgroup parent, bridge, nft table, subnet), so that it
 * never meets a real `warren serve` on the same machine, listening on loopback only: the data
 * plane on 8787 as `wrangler dev`, the control API on 8789 (8788 is a real server's).
 *
 * Stopping it is SIGTERM and its exit: serve drains, destroys every sandbox and removes its
 * server.json. What a real server keeps between its runs (its run dir, cgroup parent, bridge and
 * nft table) is then removed too, so that a dev session leaves nothing behind; only its state dir
 * stays, holding the node image so that the next start is quick. (A dev server that did not start
 * removes nothing: another session may be using those names.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { defaultDirs, type Dirs } from '../lib/dirs.js';
import { WarrenError } from '../lib/errors.js';
import { mountedBelow } from '../lib/mounts.js';
import { packageRoot } from '../lib/package-root.js';
import { detectCgroups } from '../sandbox/cgroups/index.js';
import { collectGarbage } from '../sandbox/index.js';
import { applyRules, deleteTableScript, removeBridge } from '../sandbox/network/index.js';

export interface DevServerOptions {
  port: number;
  controlPort: number;
  stateDir: string;
  runDir: string;
}

export const DEV_DEFAULTS: DevServerOptions = { port: 8787, controlPort: 8789, stateDir: '/var/lib/warren-dev', runDir: '/run/warren-dev' };

/** Host-wide names a dev server takes unless the environment names them (tests do). */
const DEV_ENV: Record<string, string> = {
  WARREN_CGROUP_PARENT: 'warren-dev',
  WARREN_BRIDGE: 'warrendev0',
  WARREN_NFT_TABLE: 'warren_dev',
  WARREN_SUBNET: '10.89.0.0/16',
};

const WARREN_BIN = path.join(packageRoot(import.meta.url), 'bin', 'warren.js');
const START_MS = 120_000;
const STOP_MS = 40_000;

export interface DevServer {
  dataUrl: string;
  controlUrl: string;
  token: string;
  /** Resolves when the server ends, with what it said, if it ends by itself. */
  readonly died: Promise<string>;
  stop(): Promise<void>;
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const env = { ...process.env };
  for (const [key, value] of Object.entries(DEV_ENV)) env[key] ||= value;
  const args = [
    WARREN_BIN, 'serve', '--listen', `127.0.0.1:${opts.port}`, '--control', `127.0.0.1:${opts.controlPort}`,
    '--state-dir', opts.stateDir, '--run-dir', opts.runDir, '--domain', 'localhost', '--no-demo', '--pool', '2', '--keep-alive', '5m',
  ];
  const child: ChildProcess = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let started = false;
  let stopping = false;
  child.stdout?.on('data', (d: Buffer) => (out += d));
  // once it serves, what it says on stderr (a runtime that did not boot) is the developer's to see
  child.stderr?.on('data', (d: Buffer) => (started ? process.stderr.write(d) : (out += d)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const died = exited.then(() => (stopping ? new Promise<string>(() => {}) : out));

  const deadline = Date.now() + START_MS;
  while (!out.includes('control API')) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new WarrenError('WARREN_DEV_SERVER', `the dev server did not start:\n${out.trim()}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new WarrenError('WARREN_DEV_SERVER', `the dev server did not start in ${START_MS / 1000} s:\n${out.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  started = true;
  const dirs: Dirs = { ...defaultDirs(env), state: opts.stateDir, run: opts.runDir };
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
        await exited;
        clearTimeout(timer);
      }
      await removeLeftovers(dirs);
    })());
  let token: string;
  try {
    token = fs.readFileSync(path.join(opts.stateDir, 'token'), 'utf8').trim();
  } catch (err) {
    await stop();
    throw new WarrenError('WARREN_DEV_SERVER', `cannot read the dev server's token in '${opts.stateDir}': ${(err as Error).message}`, { cause: err });
  }
  return { dataUrl: `http://127.0.0.1:${opts.port}`, controlUrl: `http://127.0.0.1:${opts.controlPort}`, token, died, stop };
}

/** What serve keeps for its next start, removed once the dev server has exited. */
async function removeLeftovers(dirs: Dirs): Promise<void> {
  const failures: string[] = [];
  const attempt = async (what: string, step: () => Promise<unknown> | void) => {
    try {
      await step();
    } catch (err) {
      failures.push(`${what}: ${(err as Error).message}`);
    }
  };
  // a server killed in the middle of its stop leaves sandboxes' cgroups and run files: gc's work
  await attempt('sandboxes', () => collectGarbage(dirs, detectCgroups({ parent: dirs.cgroupParent })));
  await attempt(`bridge '${dirs.net.bridge}'`, () => removeBridge(dirs.net.bridge));
  await attempt(`nft table '${dirs.net.table}'`, () => applyRules(deleteTableScript(dirs.net.table)).catch((err: Error) => {
    if (!/No such file or directory|does not exist/.test(err.message)) throw err;
  }));
  await attempt(`run dir '${dirs.run}'`, () => {
    // never through a mount point: what is still mounted there is left, and said
    if (mountedBelow(dirs.run)) throw new Error('something is still mounted in it');
    fs.rmSync(dirs.run, { recursive: true, force: true });
  });
  if (failures.length) process.stderr.write(`warren dev: left behind (warren gc may remove it):\n  ${failures.join('\n  ')}\n`);
}
