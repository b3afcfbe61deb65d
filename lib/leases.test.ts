import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import t from 'tap';
import { LeaseSet, pidAlive } from './leases.js';

const dir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-leases-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
};

t.test('no number is handed out twice, across two sets on one dir (two processes)', async (t) => {
  const d = dir();
  const a = new LeaseSet(d, 16);
  const b = new LeaseSet(d, 16);
  const taken = [];
  for (let i = 0; i < 8; i++) taken.push(a.take(`a${i}`).n, b.take(`b${i}`).n);
  t.equal(new Set(taken).size, 16);
  t.throws(() => a.take('one too many'), { code: 'WARREN_LEASE_EXHAUSTED' });
});

t.test('a released number can be taken again', async (t) => {
  const s = new LeaseSet(dir(), 1);
  const l = s.take('x');
  l.release();
  t.equal(s.take('y').n, l.n);
});

t.test('stale leases are those whose owner process is gone', async (t) => {
  const d = dir();
  const s = new LeaseSet(d, 4);
  const mine = s.take('alive');
  fs.writeFileSync(path.join(d, String((mine.n + 1) % 4)), '999999999 dead-owner\n');
  t.same(s.stale(), [{ n: (mine.n + 1) % 4, owner: 'dead-owner' }]);
  s.drop((mine.n + 1) % 4);
  t.same(s.stale(), []);
});

t.test('the number released last is taken first, so its per-range state is reused', async (t) => {
  const s = new LeaseSet(dir(), 64);
  const a = s.take('a');
  const b = s.take('b');
  s.take('c');
  a.release();
  b.release();
  t.equal(s.take('d').n, b.n, 'the most recent release first');
  t.equal(s.take('e').n, a.n, 'then the one before');
  t.not(s.take('f').n, a.n, 'then fresh numbers');
});

t.test("a second release does not free a newer holder's lease", async (t) => {
  const d = dir();
  const s = new LeaseSet(d, 1);
  const a = s.take('a');
  a.release();
  const b = s.take('b');
  t.equal(b.n, a.n);
  a.release();
  t.ok(fs.existsSync(path.join(d, String(b.n))), "b's lease file is still there");
  t.throws(() => s.take('c'), { code: 'WARREN_LEASE_EXHAUSTED' });
});

t.test('a released number another process took meanwhile is skipped', async (t) => {
  const d = dir();
  const s = new LeaseSet(d, 4);
  const a = s.take('a');
  a.release();
  // another warren process takes that very number between our release and our next take
  fs.writeFileSync(path.join(d, String(a.n)), '1 other\n', { flag: 'wx' });
  const b = s.take('b');
  t.not(b.n, a.n);
  t.equal(fs.readFileSync(path.join(d, String(a.n)), 'utf8'), '1 other\n', "the other's lease is untouched");
});

t.test('live restore: a dead owner\'s lease is adopted by this process, and only for the same owner', async (t) => {
  const d = dir();
  const s = new LeaseSet(d, 4);
  fs.writeFileSync(path.join(d, '2'), '999999999 w-sandbox\n'); // taken by a process that died
  t.same(s.stale((pid) => pid === process.pid).map((e) => e.n), [2], 'stale before');
  const lease = s.adopt(2, 'w-sandbox');
  t.equal(fs.readFileSync(path.join(d, '2'), 'utf8'), `${process.pid} w-sandbox\n`, 'its pid is ours now');
  t.same(s.stale((pid) => pid === process.pid), [], 'so it is live');
  t.same(fs.readdirSync(d), ['2'], 'no temp file left');
  t.throws(() => s.adopt(2, 'w-other'), { code: 'WARREN_LEASE_ADOPT' }, 'another owner cannot take it');
  lease.release();
  t.same(fs.readdirSync(d), [], 'released as any lease');
});

t.test("a holder that ended and was never reaped (a zombie) is dead: its leases are stale", async (t) => {
  // sh runs a short sleep in the background, then becomes a long sleep, which never reaps it:
  // the short one stays a zombie, as a holder does under an init that does not reap
  const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => void parent.kill('SIGKILL'));
  const zombie = await new Promise<number>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  for (const end = Date.now() + 5000; Date.now() < end && !/\) Z/.test(fs.readFileSync(`/proc/${zombie}/stat`, 'utf8')); ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  t.match(fs.readFileSync(`/proc/${zombie}/stat`, 'utf8'), /\) Z /, 'the holder is a zombie now');
  t.doesNotThrow(() => process.kill(zombie, 0), 'which kill(0) still finds');
  t.notOk(pidAlive(zombie), 'and which is not alive');
  t.ok(pidAlive(parent.pid as number), 'its parent, sleeping, is');
  t.ok(pidAlive(process.pid));
  const d = dir();
  const s = new LeaseSet(d, 2);
  fs.writeFileSync(path.join(d, '1'), `${zombie} ended-holder\n`);
  t.same(s.stale(), [{ n: 1, owner: 'ended-holder' }]);
});
