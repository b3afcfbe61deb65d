/**
 * Regression: the sandbox got the caller's own stdout and stderr file descriptors (and its stdin
 * with -i): the runner asked the spawner for 'inherit', and the spawner had been started with
 * Node's fds 0-2. Under a terminal the sandbox read what the operator typed and could change the
 * terminal's settings; with `warren run ... >> host.log` it held an fd of a root-only log, which
 * it could rewind and truncate (O_APPEND stops neither ftruncate nor the seek). Now each of a
 * sandbox's fd 0-2 is /dev/null or a pipe that the host relays, as Docker's shim does: what the
 * sandbox prints is appended by `warren run` itself, and nothing it does reaches the host's file.
 * The probe reports what the sandbox sees from inside.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { NEEDS_ROOT, probeVolume, testEnv, WARREN } from '../integration/helpers.js';
import type { ProbeStdio } from '../probe/probe.js';

const ESPIPE = os.constants.errno.ESPIPE;
const EINVAL = os.constants.errno.EINVAL;
const PIPE = /^pipe:\[\d+\]$/;

/** Runs `warren run ARGS` with the given fds as its stdio, to its end (bounded). */
function run(args: readonly string[], stdio: [number | 'ignore', number | 'pipe', number | 'pipe']): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [WARREN, 'run', ...args], { env: testEnv(), stdio });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d));
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('`warren run -i ... < in >> log 2>> log`: the sandbox holds pipes, the host appends', { skip: NEEDS_ROOT }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-stdio-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const log = path.join(tmp, 'host.log');
  const input = path.join(tmp, 'input');
  fs.writeFileSync(log, 'root-only log line\n', { mode: 0o600 });
  fs.writeFileSync(input, 'root-only input\n', { mode: 0o600 });
  const out = fs.openSync(log, 'a');
  const inp = fs.openSync(input, 'r');
  let r;
  try {
    r = await run(['-i', ...probeVolume(), '--', '/probe/probe', 'stdio'], [inp, out, out]);
  } finally {
    fs.closeSync(out);
    fs.closeSync(inp);
  }
  t.equal(r.code, 0, 'the probe ran');
  const text = fs.readFileSync(log, 'utf8');
  t.ok(text.startsWith('root-only log line\n'), 'the log keeps what it held: the sandbox could neither rewind nor cut it');
  const seen = JSON.parse(text.split('\n')[1] ?? '') as ProbeStdio;
  for (const fd of seen.fds) {
    t.match(fd.target, PIPE, `fd ${fd.fd} is a pipe (${fd.target}), not the host's file`);
    t.equal(fd.tty, false, `fd ${fd.fd} is no terminal`);
    t.equal(fd.nonblock, false, `fd ${fd.fd} is an open file of the sandbox's own, blocking (the host's end is not)`);
    t.equal(fd.seek_errno, ESPIPE, `fd ${fd.fd} cannot be seeked`);
    t.equal(fd.truncate_errno, EINVAL, `fd ${fd.fd} cannot be truncated`);
  }
  t.equal(fs.readFileSync(input, 'utf8'), 'root-only input\n', 'the input file is untouched');
  t.equal(fs.statSync(log).mode & 0o777, 0o600, 'the log is still root-only');
});

t.test('under a terminal the sandbox sees no tty, with -i or without', { skip: NEEDS_ROOT }, async (t) => {
  for (const interactive of [true, false]) {
    const argv = [process.execPath, WARREN, 'run', ...(interactive ? ['-i'] : []), ...probeVolume(), '--', '/probe/probe', 'stdio'];
    // script(1) runs the command on a new pseudo-terminal: warren's fds 0-2 are that terminal
    const command = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const res = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn('script', ['-qec', command, '/dev/null'], { env: testEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
      // the terminal's input ends, so that `-i` sees EOF (the probe does not wait for it)
      child.stdin.end();
    });
    const line = res.out.split(/\r?\n/).find((l) => l.startsWith('{"fds"'));
    t.ok(line, `${interactive ? '-i: ' : ''}the probe printed through the terminal (exit ${res.code}): ${res.out.slice(0, 200)}`);
    if (!line) continue;
    const seen = JSON.parse(line) as ProbeStdio;
    for (const fd of seen.fds) t.equal(fd.tty, false, `${interactive ? '-i: ' : ''}fd ${fd.fd} is no terminal (${fd.target})`);
    t.match(seen.fds[1]?.target, PIPE, 'its stdout is a pipe');
    t.match(seen.fds[2]?.target, PIPE, 'its stderr is a pipe');
    if (interactive) t.match(seen.fds[0]?.target, PIPE, '-i: its stdin is a pipe');
  }
});
