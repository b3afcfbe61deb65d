import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { heldNames, ownerlessSpawners, readRestoreRecords, recordSandbox, type RestoreRecord } from './restore-records.js';

const run = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-restore-'));
  fs.mkdirSync(path.join(d, 'restore'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
};

const rec = (id: string, spawner: number): RestoreRecord => ({
  id,
  spawner,
  lease: 3,
  uidBase: 100000,
  cgroup: id,
  memoryBytes: 1 << 28,
  netns: { id: `n${id}`, kind: 'bridge', ip: '10.0.0.5' },
  net: { egress: 'public' },
  rundir: `/run/x/sandboxes/${id}`,
  layerRecord: `/run/x/layers/${id}`,
  stdio: ['null', 'pipe', 'null'],
  record: { kind: 'generic' },
});

t.test('a record is written whole, rewritten on a change, removed at the end', async (t) => {
  const d = run();
  const hooks = recordSandbox(d, rec('wa', 10));
  t.same(readRestoreRecords(d).map((r) => r.record), [{ kind: 'generic' }]);
  hooks.update({ record: { kind: 'instance', fn: 'f' }, net: { egress: 'none' } });
  const [r] = readRestoreRecords(d);
  t.same([r?.record, r?.net], [{ kind: 'instance', fn: 'f' }, { egress: 'none' }], 'both changes kept, the rest as it was');
  t.equal(r?.cgroup, 'wa');
  hooks.remove();
  t.same(fs.readdirSync(path.join(d, 'restore')), []);
});

t.test('what live spawners hold is kept; records of dead spawners and broken ones are removed', async (t) => {
  const d = run();
  recordSandbox(d, rec('wlive', 10));
  recordSandbox(d, rec('wdead', 11));
  fs.writeFileSync(path.join(d, 'restore', 'wbroken'), '{not json');
  fs.writeFileSync(path.join(d, 'restore', 'whalf.tmp'), '{}');
  const held = heldNames(d, (pid) => pid === 10);
  t.same([...held].sort(), ['nwlive', 'wlive'], 'the sandbox id and its netns id');
  t.same(fs.readdirSync(path.join(d, 'restore')), ['wlive']);
});

t.test('a live spawner is ownerless when the owner in its sandbox\'s uid lease is dead', async (t) => {
  const d = run();
  fs.mkdirSync(path.join(d, 'uids'));
  recordSandbox(d, rec('wa', 10));
  recordSandbox(d, rec('wb', 10));
  fs.writeFileSync(path.join(d, 'uids', '3'), '20 wa\n');
  const spawner10 = (pid: number) => pid === 10;
  t.same(ownerlessSpawners(d, spawner10, (pid) => pid === 20), [], 'its owner lives: attached');
  t.same(ownerlessSpawners(d, spawner10, () => false), [10], 'its owner died: it waits, or is about to (named once)');
  t.same(ownerlessSpawners(d, () => false, () => false), [], 'the spawner died too: nothing waits');
});

t.test('by default a record\'s spawner lives only as that run dir\'s spawner: a pid that is not one counts as gone', async (t) => {
  const d = run();
  // this test's own pid is alive (kill(0) finds it), but it is no spawner
  recordSandbox(d, rec('wa', process.pid));
  t.same(ownerlessSpawners(d), [], 'not a spawner: nothing waits');
  t.same([...heldNames(d)], [], 'and nothing is held');
  t.same(fs.readdirSync(path.join(d, 'restore')), [], 'its record is removed');
});
