/**
 * workerd (Cloudflare's open-source Workers runtime, npm package `workerd`) as a baseline: found
 * when installed in the package's node_modules or on PATH. It is not a dependency of warren (its
 * binary is ~160 MB, and the bench runs without it); `npm install --no-save workerd` in warren's
 * directory adds it. A project for it is the bench's module and a config naming it; the socket's
 * address is given per run (`--socket-addr http=...`), so one config serves every cycle.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../lib/package-root.js';
import { which } from './baselines/unshare.js';

/** A date workerd of 2024 and later knows; no compatibility flag the bench's module needs. */
const COMPATIBILITY_DATE = '2024-09-23';

export function findWorkerd(): string | undefined {
  const local = path.join(packageRoot(import.meta.url), 'node_modules', '.bin', 'workerd');
  return fs.existsSync(local) ? local : which('workerd');
}

/** workerd's version line ("workerd 2026-11-17"), for the row's description. */
export function workerdVersion(bin: string): string {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return (r.stdout ?? '').trim() || 'workerd';
}

/** The note for a scenario whose workerd row is missing. */
export function workerdMissingNote(): string {
  return "workerd is not installed (npm install --no-save workerd in warren's directory): its row is missing.";
}

/**
 * Writes `dir/worker.mjs` (the module) and `dir/config.capnp` (one service, one http socket whose
 * address the command line gives); returns the config's path.
 */
export function writeWorkerdProject(dir: string, moduleSource: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'worker.mjs'), moduleSource);
  const config = path.join(dir, 'config.capnp');
  fs.writeFileSync(
    config,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ (name = "worker.mjs", esModule = embed "worker.mjs") ],
  compatibilityDate = "${COMPATIBILITY_DATE}",
);
`,
  );
  return config;
}

/** The command that serves the project on `address` (`127.0.0.1:PORT` or `unix:/path`). */
export function workerdCommand(bin: string, config: string, address: string): string[] {
  return [bin, 'serve', config, '--socket-addr', `http=${address}`];
}
