/**
 * A kept sandbox's image: sized so that its files get about the tmpfs's cap (a table), and, as
 * root, mounted read-only for commit and unmounted after, with a crashed commit's mount taken away
 * by `warren gc`'s sweep (never one a live commit holds).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { commitKept } from './commit.js';
import { keptImageBytes, keptImageLoops, keptImageMounted, mountKeptImage, unmountKeptImage } from './kept-image.js';
import { claimKept, lockKept, removeKept, sweepKeptMounts } from './kept.js';

const ROOT = process.getuid?.() === 0 ? false : 'needs root: it mounts';

function tempDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-kept-image-'));
  t.teardown(() => {
    if (fs.existsSync(path.join(dir, 'kept', 'box'))) unmountKeptImage(path.join(dir, 'kept', 'box')); // a failed test's mount
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

t.test('the image is the cap plus what ext4 keeps inside it, in whole 4 KiB blocks', async (t) => {
  const MiB = 1 << 20;
  const cases: Array<[string, { sizeBytes: number; inodes: number }, number]> = [
    ['8 MiB, 16384 inodes', { sizeBytes: 8 * MiB, inodes: 16384 }, 8 * MiB + 16400 * 256 + MiB + MiB / 4],
    ['64 MiB, 16384 inodes', { sizeBytes: 64 * MiB, inodes: 16384 }, 64 * MiB + 16400 * 256 + MiB + 2 * MiB],
    ['an odd size rounds up', { sizeBytes: 1000, inodes: 1 }, Math.ceil((1000 + 17 * 256 + MiB + 32) / 4096) * 4096],
  ];
  for (const [name, cap, bytes] of cases) t.equal(keptImageBytes(cap), bytes, name);
});

t.test('commit mounts the image read-only and unmounts it; gc sweeps what a crash left', { skip: ROOT }, async (t) => {
  const state = tempDir(t);
  const { dir, lock } = claimKept(state, { name: 'box', image: 'node', layers: [], uidBase: 0, created: '' }, { sizeBytes: 4 << 20, inodes: 256 });
  lock.release();
  const upper = mountKeptImage(dir);
  t.ok(keptImageMounted(dir), 'mounted at <dir>/mnt');
  t.throws(() => fs.mkdirSync(upper), { code: 'EROFS' }, 'read-only');
  unmountKeptImage(dir);
  unmountKeptImage(dir); // idempotent
  t.notOk(keptImageMounted(dir), 'unmounted');
  t.notOk(fs.existsSync(path.join(dir, 'mnt')), 'and its mount point removed');

  mountKeptImage(dir); // as a commit that crashed before its unmount
  {
    using _busy = lockKept(state, 'box');
    t.same(sweepKeptMounts(state), [], 'a commit in progress (it holds the lock) keeps its mount');
  }
  t.same(sweepKeptMounts(state), ['box'], 'a crashed one is swept');
  t.notOk(keptImageMounted(dir));

  mountKeptImage(dir);
  removeKept(state, 'box');
  t.notOk(fs.existsSync(dir), 'rm unmounts a crash\'s mount and removes it all');
});

t.test('with its run gone but its image still mounted by a sandbox, commit and rm refuse', { skip: ROOT }, async (t) => {
  const state = tempDir(t);
  const { dir, lock } = claimKept(state, { name: 'box', image: 'node', layers: [], uidBase: 0, created: '' }, { sizeBytes: 4 << 20, inodes: 256 });
  lock.release(); // `warren run` was killed: its lock went at once
  // a sandbox still dying holds a loop device on the image through its mount
  const loop = execFileSync('losetup', ['-f', '--show', path.join(dir, 'upper.img')], { encoding: 'utf8' }).trim();
  let attached = true;
  t.teardown(() => {
    if (attached) execFileSync('losetup', ['-d', loop]);
  });
  t.same(keptImageLoops(dir), [loop]);
  await t.rejects(commitKept(state, 'box', 'boximage'), { code: 'WARREN_KEPT_RUNNING' }, 'commit refuses');
  t.throws(() => removeKept(state, 'box'), { code: 'WARREN_KEPT_RUNNING' }, 'rm refuses');
  t.notOk(keptImageMounted(dir), 'commit mounted nothing');
  execFileSync('losetup', ['-d', loop]);
  attached = false;
  removeKept(state, 'box');
  t.notOk(fs.existsSync(dir), 'rm works once the sandbox is gone');
});

t.test('a claim whose image cannot be made leaves nothing behind and frees the name', async (t) => {
  const state = tempDir(t);
  const kept = { name: 'box', image: 'node', layers: [], uidBase: 0, created: '' };
  t.throws(() => claimKept(state, kept, { sizeBytes: 0, inodes: 256 }), { code: 'WARREN_KEPT_IMAGE' });
  t.same(fs.readdirSync(path.join(state, 'kept')), [], 'no dir, manifest or lock file');
  claimKept(state, kept, { sizeBytes: 4 << 20, inodes: 256 }).lock.release();
  removeKept(state, 'box');
});
