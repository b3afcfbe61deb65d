/**
 * The cold scenario's client for warren's rows: bench/native/ask.c, one process per row, asked
 * one path at a time on its stdin. It times each request itself, from its connect to the answer's
 * last byte, so warren's first answers are timed by a C client as the baselines' are
 * (driver.c). A node client, woken after the same idle spell, added its own work to the figure:
 * a first answer from a plain node http server took 1.7-2.3 ms at p50 through answerHead()
 * against 0.8-1.3 ms through ask (40 requests 50 ms apart, three runs each, 2026-11-29).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { WarrenError } from '../lib/errors.js';
import type { Target } from './answer.js';
import { parseHead } from './server-timing.js';

export interface Asked {
  status: number;
  headers: Record<string, string>;
  /** From the connect to the answer's last byte, as ask measured it. */
  ms: number;
}

/** ask's output so far: whole records, and what is left of one still coming. */
export type AskRecord = { kind: 'ok'; us: number; head: string } | { kind: 'fail'; us: number; why: string };

/** Takes the whole records off the front of `text` (latin1). Pure, for the table in its test. */
export function takeRecords(text: string): { records: AskRecord[]; rest: string } {
  const records: AskRecord[] = [];
  for (;;) {
    const eol = text.indexOf('\n');
    if (eol < 0) break;
    const line = text.slice(0, eol);
    const ok = /^ok (\d+) (\d+)$/.exec(line);
    if (ok) {
      const len = Number(ok[2]);
      if (text.length < eol + 1 + len) break;
      records.push({ kind: 'ok', us: Number(ok[1]), head: text.slice(eol + 1, eol + 1 + len) });
      text = text.slice(eol + 1 + len);
      continue;
    }
    const fail = /^fail (\d+) (.*)$/.exec(line);
    records.push(fail ? { kind: 'fail', us: Number(fail[1]), why: fail[2] as string } : { kind: 'fail', us: 0, why: `ask wrote '${line.slice(0, 80)}'` });
    text = text.slice(eol + 1);
  }
  return { records, rest: text };
}

export class Asker {
  readonly #child: ChildProcess;
  #text = '';
  #waiting: { resolve: (r: AskRecord) => void; reject: (err: Error) => void } | undefined;
  #ended: Error | undefined;

  constructor(binary: string, target: Target) {
    const args = typeof target === 'string' ? [target] : [target.host, String(target.port)];
    this.#child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#child.stdout!.setEncoding('latin1');
    this.#child.stdout!.on('data', (d: string) => {
      const { records, rest } = takeRecords(this.#text + d);
      this.#text = rest;
      for (const r of records) {
        const w = this.#waiting;
        this.#waiting = undefined;
        w?.resolve(r);
      }
    });
    const end = (why: string) => {
      this.#ended ??= new WarrenError('WARREN_BENCH_NO_ANSWER', `the bench's client (${binary}) ${why}`);
      this.#waiting?.reject(this.#ended);
      this.#waiting = undefined;
    };
    this.#child.on('error', (err) => end(`did not run: ${err.message}`));
    this.#child.on('exit', (code, signal) => end(`ended (${signal ?? `exit ${code}`})`));
    this.#child.stdin!.on('error', () => {}); // its end is reported by 'exit'
  }

  /** GET `path`, once: its status, headers and time. One at a time. */
  ask(path: string, signal: AbortSignal): Promise<Asked> {
    if (this.#ended) return Promise.reject(this.#ended);
    if (this.#waiting) return Promise.reject(new WarrenError('WARREN_BENCH_NO_ANSWER', 'one request at a time'));
    if (/\s/.test(path)) return Promise.reject(new WarrenError('WARREN_BENCH_NO_ANSWER', `a path with a space or line break: '${path}'`));
    return new Promise<AskRecord>((resolve, reject) => {
      const onAbort = () => {
        // ask has its own limit; an abort (Ctrl-C, the cycle's timeout) ends it for good
        this.#child.kill('SIGKILL');
        this.#waiting = undefined;
        this.#ended ??= new WarrenError('WARREN_BENCH_NO_ANSWER', `the bench's client ended (aborted)`);
        reject(signal.reason instanceof Error ? signal.reason : this.#ended);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting = {
        resolve: (r) => {
          signal.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      this.#child.stdin!.write(`${path}\n`);
    }).then((r) => {
      if (r.kind === 'fail') throw new WarrenError('WARREN_BENCH_NO_ANSWER', `GET ${path}: ${r.why}`);
      const head = parseHead(r.head);
      if (!head) throw new WarrenError('WARREN_BENCH_NO_ANSWER', `GET ${path}: not an HTTP answer`);
      return { ...head, ms: r.us / 1000 };
    });
  }

  /** Ends ask (its stdin closed), and waits for it. */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.#child.once('exit', () => r()));
    this.#child.stdin!.end();
    const t = setTimeout(() => this.#child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(t);
  }
}
