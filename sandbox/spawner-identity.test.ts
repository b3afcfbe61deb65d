/**
 * spawnerLives and endSpawner on a fake /proc (a temp dir): a record's spawner is the run dir's
 * warren:[spawner], running; a zombie of it, or a process that reused its pid, is not, and
 * endSpawner never kills one that is not.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { endSpawner, processRuns, spawnerLives } from './spawner-identity.js';

const SOCKET = '/run/wrntest-x/spawner.sock';

function fakeProc(t: { teardown(fn: () => void): void }, procs: Record<number, { comm: string; state: string; env?: string[] }>): string {
  const proc = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-proc-'));
  t.teardown(() => fs.rmSync(proc, { recursive: true, force: true }));
  for (const [pid, p] of Object.entries(procs)) {
    const dir = path.join(proc, pid);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'stat'), `${pid} (${p.comm}) ${p.state} 1 ${pid} ${pid} 0 -1\n`);
    fs.writeFileSync(path.join(dir, 'environ'), (p.env ?? []).map((v) => `${v}\0`).join(''));
  }
  return proc;
}

t.test('which pids are the run dir\'s spawner', async (t) => {
  const env = ['PATH=/usr/bin', `WARREN_ATTACH=${SOCKET}`, 'WARREN_GRACE_MS=30000'];
  const proc = fakeProc(t, {
    10: { comm: 'warren:[spawner', state: 'S', env },
    11: { comm: 'warren:[spawner', state: 'Z', env: [] },
    12: { comm: 'node', state: 'S', env },
    13: { comm: 'warren:[spawner', state: 'S', env: ['WARREN_ATTACH=/run/other/spawner.sock'] },
    14: { comm: 'warren:[spawner', state: 'R', env: [`WARREN_ATTACH=${SOCKET}/../spawner.sock`] },
    15: { comm: 'warren:[init]', state: 'S', env },
    16: { comm: 'warren:[spawner', state: 'S', env: ['PATH=/usr/bin'] },
  });
  const cases: Array<[number, boolean, string]> = [
    [10, true, 'running, named so, with this socket'],
    [11, false, 'a zombie: dead, whatever kill(0) says'],
    [12, false, 'another program that reused the pid'],
    [13, false, 'the spawner of another run dir'],
    [14, true, 'the same socket written another way'],
    [15, false, 'a sandbox\'s init'],
    [16, false, 'a spawner without live restore'],
    [17, false, 'no such pid'],
    [0, false, 'pid 0'],
  ];
  for (const [pid, lives, why] of cases) t.equal(spawnerLives(SOCKET, pid, proc), lives, `${pid}: ${why}`);
  t.same([10, 11, 12, 17].map((pid) => processRuns(pid, proc)), [true, false, true, false], 'a process runs unless it is a zombie or absent');
});

t.test('endSpawner leaves a pid that is not the spawner alone', async (t) => {
  // the fake says this test's own pid is some other program: it must not be signalled
  const proc = fakeProc(t, { [process.pid]: { comm: 'node', state: 'S', env: [`WARREN_ATTACH=${SOCKET}`] } });
  t.equal(await endSpawner(SOCKET, process.pid, 100, proc), true, 'no spawner of this socket lives there');
});

t.test('endSpawner kills a real spawner of its socket, and only that', async (t) => {
  // a process the kernel knows by the spawner's name, with its attach socket in its environment
  const fake = spawn(process.execPath, ['-e', "process.title = 'warren:[spawner]'; process.stdout.write('up'); setInterval(() => {}, 1e9)"], { env: { WARREN_ATTACH: SOCKET }, stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => fake.kill('SIGKILL'));
  await once(fake.stdout!, 'data');
  const pid = fake.pid as number;
  t.equal(spawnerLives(SOCKET, pid), true, 'it is one');
  t.equal(await endSpawner(`${SOCKET}.other`, pid, 100), true, 'the spawner of another socket does not live there');
  t.equal(fake.signalCode, null, 'and it was left running');
  t.equal(await endSpawner(SOCKET, pid, 3000), true, 'ended');
  t.same(fake.signalCode ?? (await once(fake, 'exit'))[1], 'SIGKILL', 'by SIGKILL');
});
