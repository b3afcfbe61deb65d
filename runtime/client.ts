/**
 * The host's side of protocol.ts: learn that a runtime accepts (its socket's name appeared in the
 * io dir) and talk HTTP/1.1 to it over that socket with undici. Runs on the host, never inside.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Client } from 'undici';
import { WarrenError } from '../lib/errors.js';
import { HEALTH_PATH, SOCKET_NAME, type HealthAnswer } from './protocol.js';

/**
 * Resolves with the socket's path once its name is in `ioDir`: the runtime renames it there only
 * after listen(), so it accepts from then on. Rejects when `signal` aborts first (the sandbox
 * ended, or a deadline). inotify, not polling: the wait costs nothing while node boots.
 */
export function waitForSocket(ioDir: string, signal: AbortSignal): Promise<string> {
  const file = path.join(ioDir, SOCKET_NAME);
  return new Promise((resolve, reject) => {
    let watcher: fs.FSWatcher | undefined;
    const end = (err?: unknown) => {
      watcher?.close();
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(file);
    };
    const onAbort = () => end(new WarrenError('WARREN_RUNTIME_NOT_LISTENING', `no runtime socket appeared in '${ioDir}'`, { cause: signal.reason }));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);
    try {
      watcher = fs.watch(ioDir, (_event, name) => {
        if (name === SOCKET_NAME && fs.existsSync(file)) end();
      });
      watcher.on('error', end);
    } catch (err) {
      return end(err);
    }
    // after the watch is set: a rename before it would otherwise go unseen
    if (fs.existsSync(file)) end();
  });
}

/** undici, loaded on first use: whoever only needs the protocol (the image builder, `warren run`)
 * does not pay for loading it (~12 ms of a `warren run` start here). */
let undici: typeof import('undici') | undefined;

/** A keep-alive HTTP/1.1 client on a runtime's socket. */
export function runtimeClient(socketPath: string): Client {
  undici ??= createRequire(import.meta.url)('undici') as typeof import('undici');
  // the origin names nothing: every request goes to the socket; the Host header reads "warren"
  return new undici.Client('http://warren', { socketPath, pipelining: 1 });
}

/** Asks the runtime's health path; resolves with its answer, rejects on anything but a 200. */
export async function health(client: Client): Promise<HealthAnswer> {
  const res = await client.request({ method: 'GET', path: HEALTH_PATH });
  const body = await res.body.text();
  if (res.statusCode !== 200) throw new WarrenError('WARREN_RUNTIME_UNHEALTHY', `runtime health answered ${res.statusCode}: ${body.slice(0, 200)}`);
  return JSON.parse(body) as HealthAnswer;
}
