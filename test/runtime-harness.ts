/**
 * The runtime bundle run as a plain node process (no sandbox, no root) for runtime/*.test.ts: its
 * sockets in a temp dir, its stdout and stderr kept, and their LogRecords parsed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { RUNTIME_NODE_FLAGS, RuntimeConnection, SOCKET_NAME, runtimeBundle, type LogRecord } from '../runtime/index.js';

export interface Running {
  child: ChildProcess;
  dir: string;
  stdout: () => string;
  stderr: () => string;
  /** Every LogRecord on stdout and stderr so far, with the pipe it came on. */
  records: () => Array<LogRecord & { fd: 'stdout' | 'stderr' }>;
  /** Resolves once a record's text matches `m` (rejects after `ms`). */
  until: (m: RegExp, ms?: number) => Promise<LogRecord>;
}

export async function start(t: Test, moduleText: string | null, extra: string[] = []): Promise<Running> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-rt-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const args = [...RUNTIME_NODE_FLAGS, runtimeBundle(), '--listen', path.join(dir, SOCKET_NAME), ...extra];
  if (moduleText !== null) {
    fs.writeFileSync(path.join(dir, 'fn.mjs'), moduleText);
    args.push('--module', path.join(dir, 'fn.mjs'));
  }
  // TMPDIR: where a loaded module's source is written, removed with the test's dir
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: dir } });
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out.stderr += d.toString()));
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const records = () => {
    const all: Array<LogRecord & { fd: 'stdout' | 'stderr' }> = [];
    for (const fd of ['stdout', 'stderr'] as const) {
      for (const line of out[fd].split('\n')) {
        if (line.startsWith('{')) all.push({ ...(JSON.parse(line) as LogRecord), fd });
      }
    }
    return all;
  };
  const until = async (m: RegExp, ms = 5000) => {
    const end = Date.now() + ms;
    for (;;) {
      const found = records().find((r) => m.test(r.m));
      if (found) return found;
      if (Date.now() > end) throw new Error(`no log record matching ${m} in ${ms} ms: ${out.stdout}${out.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { child, dir, stdout: () => out.stdout, stderr: () => out.stderr, records, until };
}

/** A runtime whose sockets accept, with the host's connection to it. */
export async function listening(t: Test, moduleText: string | null) {
  const r = await start(t, moduleText);
  const conn = await RuntimeConnection.open(r.dir, AbortSignal.timeout(20_000));
  t.teardown(() => conn.destroy());
  return { ...r, conn, client: conn.http };
}
