/**
 * What the hostile control API tests share: a live function polled while each attack runs (it
 * must keep answering), a raw HTTP exchange for what undici would not send, and a listing of the
 * state dir to check that nothing was written outside its place.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { invoke, type Server } from './serve-helpers.js';

/** The live function every file deploys first; it answers its version's tag. */
export const liveModule = (tag: string) => `export default { fetch() { return new Response(${JSON.stringify(tag)}) } };`;

/**
 * Polls `/<fn>/` while `attack` runs: every answer must be 200 with one of `tags` (an answer is
 * recorded as its status, negated when its text is not one of them, 0 for a failed connection).
 */
export async function withLive<T>(s: Server, fn: string, tags: readonly string[], attack: () => Promise<T>): Promise<{ result: T; statuses: number[] }> {
  const statuses: number[] = [];
  let running = true;
  // a GET that meets a reset is asked once more, as an HTTP client does for an idempotent request
  // on a reused connection: the server may close a keep-alive connection as the request goes out
  // (seen once under load: read ECONNRESET), which says nothing of the function
  const ask = () => invoke(s, `/${fn}/`).catch((err: Error & { code?: string }) => (err.code === 'ECONNRESET' || err.code === 'UND_ERR_SOCKET' ? invoke(s, `/${fn}/`) : Promise.reject(err)));
  const poll = (async () => {
    while (running) {
      statuses.push(await ask().then((a) => (tags.includes(a.text) ? a.status : -a.status), (err: Error) => (process.stderr.write(`withLive: ${err.message}\n`), 0)));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    return { result: await attack(), statuses };
  } finally {
    running = false;
    await poll;
  }
}

export const allOk = (statuses: readonly number[]) => statuses.length > 0 && statuses.every((c) => c === 200);

export interface Raw {
  /** Everything the server sent until it closed, answered (with `untilAnswer`) or `ms` passed. */
  text: string;
  status: number;
  /** Bytes written before the answer's first byte came. */
  sentBeforeAnswer: number;
}

/**
 * Sends `head` on a raw connection, then `body()`'s chunks one after another (each written once
 * the previous was taken), and stops at the first byte of the answer: how much was sent by then
 * says whether the server waited for the whole body.
 */
export function rawExchange(port: number, head: string, body: Iterable<Buffer | string> = [], ms = 30_000): Promise<Raw> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let sent = 0;
    let sentBeforeAnswer = -1;
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), sentBeforeAnswer: sentBeforeAnswer < 0 ? sent : sentBeforeAnswer });
    };
    const timer = setTimeout(done, ms);
    s.on('data', (d: Buffer) => {
      if (sentBeforeAnswer < 0) sentBeforeAnswer = sent;
      text += d.toString('latin1');
      if (/\r\n\r\n/.test(text)) setTimeout(done, 100); // the rest of a small answer
    });
    s.on('error', () => {});
    s.on('close', done);
    const chunks = body[Symbol.iterator]();
    const next = () => {
      if (s.destroyed || sentBeforeAnswer >= 0) return;
      const c = chunks.next();
      if (c.done) return;
      sent += Buffer.byteLength(c.value);
      s.write(c.value, next);
    };
    s.write(head, next);
  });
}

/** Every path under `dir` (relative), sorted; the registry's own files are left out (their
 * write-ahead log comes and goes as SQLite checkpoints). */
export function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (!/^registry\.db/.test(e.name)) out.push(path.relative(dir, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** The server's resident memory, bytes. */
export function rssOf(pid: number): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) * 1024;
}
