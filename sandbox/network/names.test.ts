import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { checkName, claimName, publishNames, readNames, sweepClaims, sweepNames } from './names.js';

t.test('records: written whole, read live, dead owners ignored and swept', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-names-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const alive = (pid: number) => pid !== 2;
  const remove = publishNames(dir, '10.89.0.2', { pid: 1, names: ['db', 'Cache'], relay: true });
  publishNames(dir, '10.89.0.3', { pid: 1, names: ['cache'], relay: false });
  publishNames(dir, '10.89.0.4', { pid: 2, names: ['old'], relay: true });
  fs.writeFileSync(path.join(dir, '10.89.0.5'), 'not json');
  const table = readNames(dir, alive, false);
  t.same(Object.fromEntries(table.byName), { db: ['10.89.0.2'], cache: ['10.89.0.2', '10.89.0.3'] }, 'an alias two sandboxes share answers both');
  t.same(Object.fromEntries(table.relay), { '10.89.0.2': true, '10.89.0.3': false });
  t.equal(sweepNames(dir, alive), 2, "the dead owner's record and the unreadable one");
  remove();
  t.same([...readNames(dir, alive).byName.keys()], ['cache']);
  t.same(readNames(path.join(dir, 'absent')).byName.size, 0);
  t.throws(() => checkName('a.b'), { code: 'WARREN_NETWORK_BAD_NAME' });
  t.throws(() => publishNames(dir, '10.89.0.6', { pid: 1, names: ['no spaces'], relay: false }), { code: 'WARREN_NETWORK_BAD_NAME' });
});

t.test('name claims: one holder at a time, a dead holder\'s claim taken over, released by its holder only', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-claims-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const release = claimName(dir, 'DB', 'net1');
  t.equal(fs.readFileSync(path.join(dir, 'db'), 'utf8'), String(process.pid), 'held by this process, by its lower-case name');
  t.throws(() => claimName(dir, 'db', 'net1'), { code: 'WARREN_NETWORK_NAME_TAKEN', message: /name 'db' is taken on network 'net1'/ }, 'a second claim is refused');
  release();
  t.notOk(fs.existsSync(path.join(dir, 'db')), 'released');
  fs.writeFileSync(path.join(dir, 'gone'), '999999999');
  const again = claimName(dir, 'gone', 'net1');
  t.equal(fs.readFileSync(path.join(dir, 'gone'), 'utf8'), String(process.pid), "a dead holder's claim is taken over");
  fs.writeFileSync(path.join(dir, 'gone'), '1');
  again();
  t.ok(fs.existsSync(path.join(dir, 'gone')), "a release leaves another holder's claim alone");
  fs.writeFileSync(path.join(dir, 'dead'), '999999999');
  t.equal(sweepClaims(dir), 1, "gc removes the dead holder's claim, keeps pid 1's");
  t.throws(() => claimName(dir, 'a.b', 'net1'), { code: 'WARREN_NETWORK_BAD_NAME' });
});
