/**
 * `warren run` as a `docker run` user meets it: exit codes, errors, stdio and signals.
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { NEEDS_ROOT, probeVolume, testEnv, warren, WARREN } from './helpers.js';

t.test('exit codes pass through; 128+N when a signal kills the command', { skip: NEEDS_ROOT }, async (t) => {
  const p = probeVolume();
  t.equal((await warren(['run', ...p, '--', '/probe/probe', 'exit', '0'])).code, 0);
  t.equal((await warren(['run', ...p, '--', '/probe/probe', 'exit', '3'])).code, 3);
  t.equal((await warren(['run', ...p, '--', '/probe/probe', 'exit', '255'])).code, 255);
  t.equal((await warren(['run', ...p, '--', '/probe/probe', 'kill', 'KILL'])).code, 137);
  t.equal((await warren(['run', ...p, '--', '/probe/probe', 'kill', 'TERM'])).code, 143);
  t.equal((await warren(['run', '--', 'node', '-e', 'process.exitCode = 42'])).code, 42);
});

t.test('stdout and stderr stream to the caller; stdin only with -i', { skip: NEEDS_ROOT }, async (t) => {
  const r = await warren(['run', '--', 'node', '-e', 'console.log("out"); console.error("err")']);
  t.equal(r.stdout, 'out\n');
  t.equal(r.stderr, 'err\n');
  const withStdin = await warren(['run', '-i', ...probeVolume(), '--', '/probe/probe', 'stdin'], { input: 'hello sandbox' });
  t.match(JSON.parse(withStdin.stdout), { bytes: 13, text: 'hello sandbox' });
  const without = await warren(['run', ...probeVolume(), '--', '/probe/probe', 'stdin'], { input: 'ignored' });
  t.match(JSON.parse(without.stdout), { bytes: 0 });
});

t.test('bad input: one clear line and exit 125 (127 for a missing command)', { skip: NEEDS_ROOT }, async (t) => {
  const cases: Array<[string[], number, RegExp]> = [
    [['run', '--image', 'nope', '--', 'true'], 125, /^warren: unknown image 'nope'\n$/],
    [['run', '--memory', 'lots', '--', 'true'], 125, /^warren: invalid memory limit 'lots'/],
    [['run', '--cpus', '-1', '--', 'true'], 125, /^warren: invalid cpus '-1'/],
    [['run', '--pids', '2.5', '--', 'true'], 125, /^warren: invalid pids limit '2.5'/],
    [['run', '--bogus', '--', 'true'], 125, /^warren: unknown option '--bogus'/],
    [['run'], 125, /^warren: no command given/],
    [['run', '--', '/no/such/command'], 127, /^warren: exec '\/no\/such\/command': No such file or directory\n$/],
    [['run', '--', 'no-such-command'], 127, /^warren: exec 'no-such-command': No such file or directory\n$/],
  ];
  for (const [args, code, message] of cases) {
    const r = await warren(args);
    t.equal(r.code, code, `${args.join(' ')} exits ${code}`);
    t.match(r.stderr, message, `${args.join(' ')}: ${r.stderr.trim()}`);
  }
});

t.test('without root: a clear error, exit 125', { skip: NEEDS_ROOT }, async (t) => {
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const c = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, WARREN, 'run', '--', 'true'], { env: testEnv() });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d));
    c.on('close', (code) => resolve({ code, stderr }));
  });
  t.equal(r.code, 125);
  t.match(r.stderr, /needs root/);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} sent to warren reaches the command`, { skip: NEEDS_ROOT }, async (t) => {
    const child = spawn(process.execPath, [WARREN, 'run', ...probeVolume(), '--', '/probe/probe', 'signals'], { env: testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('"ready"') && !out.includes('sent')) {
        out += 'sent';
        child.kill(signal);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    t.match(out, new RegExp(`"got":"${signal}"`));
    t.equal(code, 0, 'the command handled it and exited 0');
  });
}
