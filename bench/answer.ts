/**
 * The runtime level's "it answers": one `GET path` with `Connection: close` on a unix socket, and
 * the status line of what comes back. A bare socket, as the C driver asks the node baseline: both
 * rows pay the same small client, where a fresh undici Client per cycle cost ~1 ms of CPU more
 * (measured here), which at concurrency 2 on 2 cores would have been counted against warren.
 */
import net from 'node:net';
import { WarrenError } from '../lib/errors.js';

/** Resolves with the answer's status code once the runtime closed the connection. */
export function firstAnswer(socketPath: string, path: string, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let head = '';
    const onAbort = () => socket.destroy(new WarrenError('WARREN_BENCH_NO_ANSWER', `no answer on '${socketPath}'`, { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      if (head.length < 64) head += d;
    });
    socket.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
    socket.on('end', () => {
      signal.removeEventListener('abort', onAbort);
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(head);
      if (m) resolve(Number(m[1]));
      else reject(new WarrenError('WARREN_BENCH_NO_ANSWER', `'${socketPath}' closed without an HTTP answer`));
    });
    socket.end(`GET ${path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n`);
  });
}
