import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { closePid, openPid, signalIf, signalPid } from './pidfd.js';

function sleeper(t: Test): ChildProcess {
  const c = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => c.kill('SIGKILL'));
  return c;
}
const exited = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve([c.exitCode, c.signalCode]) : once(c, 'exit'));

t.test('a held process gets the signal; once it ended and was reaped, nothing does', async (t) => {
  const c = sleeper(t);
  await once(c, 'spawn');
  const p = openPid(c.pid as number);
  t.ok(p, 'held');
  t.equal(signalPid(p!, 'SIGTERM'), true, 'sent');
  t.same(await exited(c), [null, 'SIGTERM'], 'it was that process');
  // node reaped it: its pid is free for another process, and the descriptor still names the one
  // that ended
  t.equal(signalPid(p!, 'SIGKILL'), false, 'not sent: the process it names ended');
  closePid(p!);
  closePid(p!);
  t.equal(signalPid(p!, 'SIGKILL'), false, 'nothing is sent through a closed one');
});

t.test('signalIf signals only the process its check accepts', async (t) => {
  const c = sleeper(t);
  await once(c, 'spawn');
  const pid = c.pid as number;
  t.equal(signalIf(pid, 'SIGKILL', () => false), 'other', 'refused by the check');
  t.equal(c.signalCode, null, 'and left running');
  let checked = 0;
  t.equal(signalIf(pid, 'SIGKILL', (p) => (checked = p) === pid), 'sent');
  t.equal(checked, pid);
  t.same(await exited(c), [null, 'SIGKILL']);
  t.equal(openPid(4_194_304 + 1), null, 'a pid past any pid_max: none');
});
