/**
 * Where a CLI command finds the control API and its token: the flags first, then WARREN_URL /
 * WARREN_TOKEN, then the local server's state dir (WARREN_STATE_DIR or /var/lib/warren), where
 * `warren serve` leaves `server.json` (its URLs) and `token` (mode 0600: root reads it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, WarrenError } from '../lib/errors.js';

/** What `warren serve` writes in its state dir once it listens, for local commands to find it. */
export const SERVER_FILE = 'server.json';
const TOKEN_FILE = 'token';
const DEFAULT_STATE_DIR = '/var/lib/warren';

export interface ServerInfo {
  /** The control API's base URL, e.g. http://127.0.0.1:8788 */
  controlUrl: string;
  /** The data plane's base URL as clients on this machine reach it. */
  dataUrl: string;
  pid: number;
}

export interface Connection {
  /** The control API's base URL, without /v1. */
  url: string;
  token: string;
  /** The data plane's URL when known (from the local server's file), for `warren invoke`. */
  dataUrl?: string;
}

export interface ConnectionFlags {
  server?: string;
  token?: string;
  stateDir?: string;
}

/** Written by `warren serve` (readable by all: URLs are no secret; the token stays 0600). */
export function writeServerInfo(stateDir: string, info: ServerInfo): void {
  const file = path.join(stateDir, SERVER_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info) + '\n', { mode: 0o644 });
  fs.renameSync(tmp, file);
}

export function readServerInfo(stateDir: string): ServerInfo | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(stateDir, SERVER_FILE), 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw new WarrenError('WARREN_CLIENT_CONFIG', `cannot read '${path.join(stateDir, SERVER_FILE)}': ${(err as Error).message}`, { cause: err });
  }
  try {
    const info = JSON.parse(text) as ServerInfo;
    if (typeof info.controlUrl === 'string' && typeof info.dataUrl === 'string') return info;
  } catch {
    // a torn or foreign file: as if there were none
  }
  return undefined;
}

/** A server's listen URL as a local client reaches it: 0.0.0.0 and :: mean this machine. */
export function localUrl(url: string): string {
  const u = new URL(url);
  if (u.hostname === '0.0.0.0') u.hostname = '127.0.0.1';
  if (u.hostname === '[::]') u.hostname = '[::1]';
  return u.origin;
}

/**
 * A function's URL as the server gave it, reached from where the control API was: a data plane
 * listening on any address (0.0.0.0, ::) is on the control API's host (loopback for a local one).
 */
export function reachableUrl(url: string, controlUrl: string): string {
  const u = new URL(url);
  if (u.hostname === '0.0.0.0' || u.hostname === '[::]') u.hostname = new URL(controlUrl).hostname;
  return u.href;
}

export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Connection {
  const stateDir = flags.stateDir ?? (env.WARREN_STATE_DIR || DEFAULT_STATE_DIR);
  const local = flags.server === undefined && !env.WARREN_URL ? readServerInfo(stateDir) : undefined;
  const url = flags.server ?? (env.WARREN_URL || local?.controlUrl);
  if (url === undefined) {
    // no server running here is what a server that does not answer is (exit 3: start it and
    // retry), not a mistake of the command's
    throw new WarrenError(
      'WARREN_CLIENT_UNREACHABLE',
      `no warren server: give --server URL, set WARREN_URL, or start \`warren serve\` here (no '${path.join(stateDir, SERVER_FILE)}')`,
    );
  }
  let token = flags.token ?? (env.WARREN_TOKEN || undefined);
  if (token === undefined) {
    const file = path.join(stateDir, TOKEN_FILE);
    try {
      token = fs.readFileSync(file, 'utf8').trim();
    } catch (err) {
      const why = errnoOf(err) === 'EACCES' ? ' (it is root-only: run as root, or set WARREN_TOKEN)' : '';
      throw new WarrenError('WARREN_CLIENT_CONFIG', `no control token: give --token, set WARREN_TOKEN, or read '${file}'${why}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  let base: string;
  try {
    base = localUrl(url);
  } catch (err) {
    throw new WarrenError('WARREN_CLIENT_CONFIG', `not a server URL: '${url}'`, { cause: err });
  }
  return { url: base, token, ...(local ? { dataUrl: localUrl(local.dataUrl) } : {}) };
}
