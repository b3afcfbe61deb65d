/**
 * The walks over a kept sandbox's upper (commit's copy, rm's delete) go by fd: a symlink in the
 * upper is copied as a symlink and deleted as one, never followed, and a dir that is swapped for a
 * symlink to the host after the walk has looked at it (as a sandbox does with renameat2
 * RENAME_EXCHANGE) is still read and emptied as the dir the walk holds. The seam swaps at exactly
 * that moment. Nothing outside the upper is read or deleted. The copy test needs root (it chowns).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { copyUpper } from './commit.js';
import { removeTree } from './held-tree.js';
import { claimKept, removeKept } from './kept.js';
import { isOpaque, isWhiteout, makeWhiteout, markOpaque } from './overlay-marks.js';

const SECRET = 'root-only host secret';
const CAP = { sizeBytes: 8 << 20, inodes: 1024 };

function tempDir(t: Test, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** outside/ is the host: a 0600 secret and a dir of files. upper/ links to it and has dirs. */
function scene(t: Test): { outside: string; upper: string } {
  const outside = tempDir(t, 'warren-outside-');
  fs.writeFileSync(path.join(outside, 'secret'), SECRET, { mode: 0o600 });
  fs.mkdirSync(path.join(outside, 'victim'));
  fs.writeFileSync(path.join(outside, 'victim', 'file'), SECRET);
  const upper = path.join(tempDir(t, 'warren-upper-'), 'upper');
  fs.mkdirSync(path.join(upper, 'd', 'e'), { recursive: true });
  fs.writeFileSync(path.join(upper, 'd', 'f'), 'f');
  fs.writeFileSync(path.join(upper, 'd', 'e', 'g'), 'g');
  fs.symlinkSync(outside, path.join(upper, 'link'));
  fs.symlinkSync(path.join(outside, 'secret'), path.join(upper, 'secret-link'));
  return { outside, upper };
}

/** After the walk has held and stat'ed upper/d as a dir, d becomes a symlink to the host. */
function swapper(upper: string, outside: string) {
  let swapped = 0;
  const seam = (rel: string, st: fs.Stats) => {
    if (rel !== 'd' || !st.isDirectory() || swapped++) return;
    fs.renameSync(path.join(upper, 'd'), path.join(upper, 'd.moved'));
    fs.symlinkSync(outside, path.join(upper, 'd'));
  };
  return { seam, swaps: () => swapped };
}

/** rel path -> content, `-> target` or 'dir'; never following a symlink (readdir's recursive does). */
function filesUnder(dir: string, out = new Map<string, string>(), rel = ''): Map<string, string> {
  for (const name of fs.readdirSync(path.join(dir, rel))) {
    const sub = path.join(rel, name);
    const st = fs.lstatSync(path.join(dir, sub));
    if (st.isDirectory()) filesUnder(dir, out.set(sub, 'dir'), sub);
    else if (st.isFile()) out.set(sub, fs.readFileSync(path.join(dir, sub), 'utf8'));
    else out.set(sub, st.isSymbolicLink() ? `-> ${fs.readlinkSync(path.join(dir, sub))}` : 'other');
  }
  return out;
}

t.test('commit copies symlinks as symlinks and a dir swapped mid-walk as the dir it held', { skip: process.getuid?.() === 0 ? false : 'needs root: the copy chowns' }, async (t) => {
  const { outside, upper } = scene(t);
  const layer = tempDir(t, 'warren-layer-');
  markOpaque(path.join(upper, 'd', 'e'));
  makeWhiteout(path.join(upper, 'gone'));
  const { seam, swaps } = swapper(upper, outside);
  copyUpper(upper, layer, 100000, seam);
  t.equal(swaps(), 1, 'the swap happened during the walk');
  const got = filesUnder(layer);
  t.notOk([...got.values()].includes(SECRET), 'no host file content is in the layer');
  t.equal(got.get('d'), 'dir', 'd is the dir the walk held, not the symlink swapped in');
  t.equal(got.get(path.join('d', 'f')), 'f');
  t.equal(got.get(path.join('d', 'e', 'g')), 'g');
  t.equal(got.get('link'), `-> ${outside}`, 'a symlink to a host dir stays a symlink (resolved in the sandbox\'s root)');
  t.equal(got.get('secret-link'), `-> ${path.join(outside, 'secret')}`);
  t.notOk(got.has(path.join('link', 'secret')), 'nothing is read through it');
  t.ok(isOpaque(path.join(layer, 'd', 'e')), "overlay's marks are kept: an opaque dir");
  t.ok(isWhiteout(fs.lstatSync(path.join(layer, 'gone'))), 'and a whiteout');
});

t.test('rm deletes symlinks, not what they point at, even a dir swapped for one mid-walk', async (t) => {
  const { outside, upper } = scene(t);
  const before = filesUnder(outside);
  const { seam, swaps } = swapper(upper, outside);
  removeTree(upper, seam);
  t.equal(swaps(), 1, 'the swap happened during the walk');
  t.notOk(fs.existsSync(upper), 'the upper is gone, the moved dir and the swapped-in symlink too');
  t.same(filesUnder(outside), before, 'the host dir is untouched');
});

t.test('rm of a tree whose root is a symlink is refused, and deletes nothing', async (t) => {
  const { outside } = scene(t);
  const link = path.join(tempDir(t, 'warren-root-'), 'upper');
  fs.symlinkSync(outside, link);
  t.throws(() => removeTree(link), { code: 'WARREN_KEPT_WALK' });
  t.ok(fs.existsSync(path.join(outside, 'secret')));
});

t.test('a kept sandbox is locked while its run lives: rm and commit refuse, then work', async (t) => {
  const state = tempDir(t, 'warren-kept-');
  const { dir, lock } = claimKept(state, { name: 'box', image: 'node', layers: [], uidBase: 0, created: new Date().toISOString() }, CAP);
  t.ok(fs.existsSync(path.join(dir, 'upper.img')), 'the claim made the image its changes go to');
  t.throws(() => removeKept(state, 'box'), { code: 'WARREN_KEPT_RUNNING' }, 'refused while the run holds the lock');
  t.throws(() => claimKept(state, { name: 'box', image: 'node', layers: [], uidBase: 0, created: '' }, CAP), { code: 'WARREN_KEPT_RUNNING' }, 'a second run cannot claim the name');
  t.ok(fs.existsSync(path.join(dir, 'upper.img')), 'nothing was removed');
  lock.release();
  lock.release(); // idempotent
  removeKept(state, 'box');
  t.notOk(fs.existsSync(dir));
  t.same(fs.readdirSync(path.join(state, 'kept')), [], 'the manifest and the lock file are gone too');
  const again = claimKept(state, { name: 'box', image: 'node', layers: [], uidBase: 0, created: '' }, CAP);
  again.lock.release();
  removeKept(state, 'box');
  t.throws(() => removeKept(state, 'box'), { code: 'WARREN_KEPT_NOT_FOUND' });
  t.same(fs.readdirSync(path.join(state, 'kept')), [], 'rm of a name that is not there leaves no lock file');
});
