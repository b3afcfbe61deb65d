/**
 * Runs one batch of a baseline through bench/native/driver (its header says why a C driver and
 * what it prints). Node starts the driver once per batch; the driver's own clock measures the
 * cycles and the batch's wall time, so Node's fork of the driver is in no figure.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import readline from 'node:readline';
import type { Batch } from '../scenario.js';

export interface DriverBatch {
  driver: string;
  /** Put before the driver, which they must exec (e.g. `unshare -m sh -c '...; exec "$0" "$@"'`). */
  wrapper?: readonly string[];
  /** The baseline's command; "{slot}" and "{n}" are expanded per cycle by the driver. */
  command: readonly string[];
  count: number;
  concurrency: number;
  tick: () => void;
  signal: AbortSignal;
  timeoutMs?: number;
  /** The cycles' environment (the driver's too); default: Node's own. */
  env?: NodeJS.ProcessEnv;
  /** The runtime level: ready is the first 200 from `GET path` on `socket` ("{slot}", "{n}" expanded). */
  answer?: { socket: string; path: string };
}

const STDERR_KEEP = 4000;

export async function runDriver(b: DriverBatch): Promise<Batch> {
  const out: Batch = { latenciesMs: [], failures: [], wallMs: 0 };
  if (b.count <= 0) return out;
  const answer = b.answer ? ['--answer', b.answer.socket, b.answer.path] : [];
  const argv = [...(b.wrapper ?? []), b.driver, ...answer, String(b.count), String(b.concurrency), String(b.timeoutMs ?? 30_000), '--', ...b.command];
  // its own process group: a Ctrl-C on the terminal reaches us, and we stop the driver with SIGTERM
  // so that it ends its cycles cleanly instead of dying with them half set up
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: b.env ?? process.env });
  const stop = () => child.kill('SIGTERM');
  b.signal.addEventListener('abort', stop, { once: true });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < STDERR_KEEP) stderr += d.toString();
  });
  let done = false;
  const lines = readline.createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const [kind, a = '', ...why] = line.split(' ');
    if (kind === 'ok') {
      out.latenciesMs.push(Number(a) / 1000);
      b.tick();
    } else if (kind === 'fail') {
      out.failures.push(why.join(' '));
      b.tick();
    } else if (kind === 'done') {
      out.wallMs = Number(a) / 1000;
      done = true;
    }
  });
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const failedToStart = once(child, 'error').then(([err]) => {
    throw err;
  });
  let code: number | null = null;
  let sig: NodeJS.Signals | null = null;
  try {
    [code, sig] = await Promise.race([exited, failedToStart]);
  } catch (err) {
    out.failures.push(`cannot start '${argv[0]}': ${(err as Error).message}`);
  } finally {
    b.signal.removeEventListener('abort', stop);
  }
  // the cycles' stderr is shared, so which cycle wrote what is unknown: the first line explains
  // the batch's failures (they are mostly alike), and the same line groups alike across batches
  const said = stderr.trim().split('\n')[0]?.trim() ?? '';
  if (said) out.failures = out.failures.map((f) => `${f}: ${said}`);
  // cycles the driver never reported are failures too, never silently fewer samples
  const missing = b.count - out.latenciesMs.length - out.failures.length;
  if (!b.signal.aborted && (!done || missing > 0)) {
    const why = `driver ${sig ? `killed by ${sig}` : `exited with ${code}`}${said ? `: ${said}` : ''}`;
    for (let i = 0; i < missing; i++) out.failures.push(why);
  }
  return out;
}
