/**
 * The runtime level's "it answers": one `GET path` with `Connection: close` on a unix socket (or a
 * TCP port: the cold scenario asks warren's router), and the head of what comes back, once the
 * whole answer came (answer-end.ts). A bare socket, as the C driver asks the node baseline: both
 * rows pay the same small client, where a fresh undici Client per cycle cost ~1 ms of CPU more
 * (measured here), which at concurrency 2 on 2 cores would have been counted against warren.
 */
import net from 'node:net';
import { WarrenError } from '../lib/errors.js';
import { answerComplete } from './answer-end.js';
import { parseHead } from './server-timing.js';

/** A unix socket's path, or a TCP address. */
export type Target = string | { host: string; port: number };

/** An answer is kept up to this to find its end (the bench's are a few hundred bytes); past it,
 * its end is the connection's. */
const KEEP = 1 << 20;

function where(target: Target): string {
  return typeof target === 'string' ? target : `${target.host}:${target.port}`;
}

/** Resolves with the answer's status and headers once its last byte came (by its framing; the
 * connection's end for an answer without one), and closes the connection. */
export function answerHead(target: Target, path: string, signal: AbortSignal): Promise<{ status: number; headers: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const socket = typeof target === 'string' ? net.connect(target) : net.connect(target.port, target.host);
    let text = '';
    let done = false;
    const onAbort = () => socket.destroy(new WarrenError('WARREN_BENCH_NO_ANSWER', `no answer on '${where(target)}'`, { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    const finish = () => {
      done = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      const parsed = parseHead(text);
      if (parsed) resolve(parsed);
      else reject(new WarrenError('WARREN_BENCH_NO_ANSWER', `'${where(target)}' closed without an HTTP answer`));
    };
    socket.setEncoding('latin1');
    socket.setNoDelay(true);
    socket.on('data', (d: string) => {
      if (done || text.length >= KEEP) return;
      text += d;
      if (answerComplete(text) === true) finish();
    });
    socket.on('error', (err) => {
      if (done) return;
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
    socket.on('end', () => {
      if (!done) finish();
    });
    // write, not end: a server may drop a request whose client half-closed before it answered
    // (node's http server does, when the answer is not sent at once); Connection: close ends it
    socket.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n`);
  });
}

/** Resolves with the answer's status code once it came whole. */
export async function firstAnswer(socketPath: string, path: string, signal: AbortSignal): Promise<number> {
  return (await answerHead(socketPath, path, signal)).status;
}
