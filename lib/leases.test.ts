import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { LeaseSet } from './leases.js';

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
