/**
 * A volume's name and cap, as tables (no root); and, as root, a volume made, listed and dropped
 * in a temp state dir, a failed make leaving nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { checkVolumeName, dropVolumeFiles, listVolumes, makeVolume, readVolume, volumeCap } from './store.js';

const MiB = 1 << 20;

t.test('names: what a file name and docker both take', async (t) => {
  for (const ok of ['data', 'a', 'my_vol.1', 'A-b', 'x'.repeat(64)]) t.equal(checkVolumeName(ok), ok, ok);
  for (const bad of ['', '.', '..', '.hidden', '-x', 'a/b', 'a:b', 'a b', 'x'.repeat(65)]) {
    t.throws(() => checkVolumeName(bad), { code: 'WARREN_VOLUME_NAME' }, JSON.stringify(bad));
  }
});

t.test('caps: 1 GiB and an inode per 16 KiB unless told', async (t) => {
  const cases: Array<[string, [number?, number?], { sizeBytes: number; inodes: number }]> = [
    ['the default', [], { sizeBytes: 1024 * MiB, inodes: 65536 }],
    ['a size', [64 * MiB], { sizeBytes: 64 * MiB, inodes: 4096 }],
    ['a small size keeps 256 inodes', [MiB], { sizeBytes: MiB, inodes: 256 }],
    ['inodes given', [8 * MiB, 300], { sizeBytes: 8 * MiB, inodes: 300 }],
  ];
  for (const [what, args, cap] of cases) t.same(volumeCap(...args), cap, what);
  for (const [what, args] of [['under 1 MiB', [MiB - 1]], ['over 16 TiB', [2 ** 45]], ['too few inodes', [MiB, 8]], ['a fraction', [1.5 * MiB + 0.5]]] as const) {
    t.throws(() => volumeCap(...args), { code: 'WARREN_VOLUME_SIZE' }, what);
  }
});

t.test('made, listed, read and dropped; a make of a taken name is refused', { skip: process.getuid?.() !== 0 && 'needs root: mkfs' }, async (t) => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-volumes-'));
  t.teardown(() => fs.rmSync(state, { recursive: true, force: true }));
  const v = makeVolume(state, 'data', volumeCap(4 * MiB, 64));
  t.match(readVolume(state, 'data'), { name: 'data', sizeBytes: 4 * MiB, inodes: 64 });
  t.same(listVolumes(state).map((x) => x.name), [v.name]);
  t.throws(() => makeVolume(state, 'data', volumeCap(4 * MiB)), { code: 'WARREN_VOLUME_EXISTS' });
  // what a crashed make leaves (a dir, no record) is not a volume, and a make replaces it
  fs.mkdirSync(path.join(state, 'volumes', 'half'));
  t.same(listVolumes(state).map((x) => x.name), ['data']);
  t.equal(makeVolume(state, 'half', volumeCap(2 * MiB)).name, 'half');
  dropVolumeFiles(state, 'data');
  dropVolumeFiles(state, 'half');
  t.same(listVolumes(state), []);
  t.throws(() => readVolume(state, 'data'), { code: 'WARREN_VOLUME_NOT_FOUND' });
});
