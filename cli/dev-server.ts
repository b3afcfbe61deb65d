/**
 * The `warren serve` that `warren dev` runs for itself: a child process with a name of its own for
 * everything host-wide (state dir, run dir, cgroup parent, bridge, nft table, subnet), so that it
 * never meets a real `warren serve` on the same machine, listening on loopback only: the data
 * plane on 8787 as `wrangler dev`, the control API on 8789 (8788 is a real server's).
 *
 * Stopping it is SIGTERM and its exit: serve drains, destroys every sandbox and removes its
 * server.json; the state dir stays, holding the node image so that the next start is quick.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { WarrenError } from '../lib/errors.js';
import { packageRoot } from '../lib/package-root.js';

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
  WARREN_NFT_TABLE: 'warren-dev',
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
  const stop = async () => {
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
    await exited;
    clearTimeout(timer);
  };
  let token: string;
  try {
    token = fs.readFileSync(path.join(opts.stateDir, 'token'), 'utf8').trim();
  } catch (err) {
    await stop();
    throw new WarrenError('WARREN_DEV_SERVER', `cannot read the dev server's token in '${opts.stateDir}': ${(err as Error).message}`, { cause: err });
  }
  return { dataUrl: `http://127.0.0.1:${opts.port}`, controlUrl: `http://127.0.0.1:${opts.controlPort}`, token, died, stop };
}
