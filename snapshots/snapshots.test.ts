/**
 * Unit tests for the layer store, image manifests and the `node` base image.
 * They need no root; the chroot check at the end runs the layer's node with
 * the layer as `/` only when root, and says why it skips otherwise.
 */
import t, { type Test } from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LayerStore, treeDigest } from './store.js';
import { imageLayerPaths, listImages, readImage, writeImage } from './image.js';
import { ensureNodeImage, parseLdd } from './base-node.js';

const isRoot = process.geteuid?.() === 0;

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'warren-snapshots-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Every entry under dir, for checks that walk a whole layer. */
function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out.push(p);
    if (lstatSync(p).isDirectory()) walk(p, out);
  }
  return out;
}

function makeTree(root: string): void {
  mkdirSync(join(root, 'd/e'), { recursive: true });
  writeFileSync(join(root, 'd/f'), 'hello');
  chmodSync(join(root, 'd/f'), 0o644);
  symlinkSync('d/f', join(root, 'l'));
}

t.test('treeDigest', async (t) => {
  const dir = tempDir(t);
  const a = join(dir, 'a');
  makeTree(a);
  const first = await treeDigest(a);
  t.match(first, /^[0-9a-f]{64}$/);
  t.equal(await treeDigest(a), first, 'same tree, same digest');

  // Timestamps are not part of the digest, so a copy made later matches.
  const b = join(dir, 'b');
  cpSync(a, b, { recursive: true, verbatimSymlinks: true });
  t.equal(await treeDigest(b), first, 'a copy has the same digest');

  writeFileSync(join(a, 'd/f'), 'hellO');
  t.not(await treeDigest(a), first, 'one byte changes it');
  writeFileSync(join(a, 'd/f'), 'hello');
  t.equal(await treeDigest(a), first, 'restoring the byte restores it');

  chmodSync(join(a, 'd/f'), 0o600);
  t.not(await treeDigest(a), first, 'a mode changes it');
  chmodSync(join(a, 'd/f'), 0o644);

  unlinkSync(join(a, 'l'));
  symlinkSync('d/e', join(a, 'l'));
  t.not(await treeDigest(a), first, 'a symlink target changes it');
  unlinkSync(join(a, 'l'));
  symlinkSync('d/f', join(a, 'l'));
  t.equal(await treeDigest(a), first);

  mkdirSync(join(a, 'd/e/empty'));
  t.not(await treeDigest(a), first, 'an empty dir changes it');
});

t.test('add() stores content once, under its digest', async (t) => {
  const store = new LayerStore(tempDir(t));
  const build = async (dir: string) => makeTree(dir);
  const d1 = await store.add(build);
  const d2 = await store.add(build);
  t.equal(d1, d2);
  t.same(readdirSync(store.dir), [d1], 'one layer, no temp dirs');
  t.ok(store.has(d1));
  t.equal(readFileSync(join(store.path(d1), 'd/f'), 'utf8'), 'hello');
  t.equal(statSync(store.path(d1)).mode & 0o7777, 0o755, 'a layer root is 0755');
  t.equal(await store.verify(d1), true);

  writeFileSync(join(store.path(d1), 'd/f'), 'tampered');
  t.equal(await store.verify(d1), false, 'verify notices changed content');
  t.equal(await store.verify('0'.repeat(64)), false, 'a missing layer does not verify');
  t.throws(() => store.path('../etc'), { code: 'WARREN_LAYER_INVALID_DIGEST' });
});

t.test('a builder that throws leaves no temp dir and no layer', async (t) => {
  const store = new LayerStore(tempDir(t));
  const boom = new Error('boom');
  await t.rejects(
    store.add(async (dir) => {
      makeTree(dir);
      throw boom;
    }),
    boom,
    'the builder error comes back as it was',
  );
  t.same(readdirSync(store.dir), []);
});

t.test('sweepTemp removes what dead writers left, not live work', async (t) => {
  const store = new LayerStore(tempDir(t));
  t.equal(await store.sweepTemp(), 0, 'no layers dir yet is fine');
  mkdirSync(store.dir);
  // A pid that surely is gone: a child we started and reaped.
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  const stale = [`.tmp-${dead}-abc123`, '.tmp-garbage'];
  for (const name of stale) {
    mkdirSync(join(store.dir, name, 'ro/x'), { recursive: true });
    chmodSync(join(store.dir, name, 'ro'), 0o555);
  }
  const live = `.tmp-${process.ppid}-def456`;
  mkdirSync(join(store.dir, live));

  // A sweep while this process is mid-add must not take the add's temp dir.
  const digest = await store.add(async (dir) => {
    t.equal(await store.sweepTemp(), 2);
    writeFileSync(join(dir, 'still-here'), 'x');
  });
  t.same(readdirSync(store.dir).sort(), [live, digest].sort());
  t.ok(existsSync(join(store.path(digest), 'still-here')));
});

t.test('parseLdd', async (t) => {
  const out = [
    '\tlinux-vdso.so.1 (0x00007ffd5a1f0000)',
    '\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f0000000000)',
    '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0000100000)',
    '\t/lib64/ld-linux-x86-64.so.2 (0x00007f0000200000)',
    '\tld-linux-x86-64.so.2 => /lib64/ld-linux-x86-64.so.2 (0x00007f0000200000)',
    '',
  ].join('\n');
  t.same(parseLdd(out, '/bin/node'), [
    '/lib/x86_64-linux-gnu/libz.so.1',
    '/lib/x86_64-linux-gnu/libc.so.6',
    '/lib64/ld-linux-x86-64.so.2',
  ]);
  t.same(parseLdd('\tstatically linked\n', '/bin/node'), []);
  t.throws(() => parseLdd('\tlibfoo.so.1 => not found\n', '/bin/node'), {
    code: 'WARREN_IMAGE_LIB_NOT_FOUND',
    message: "library 'libfoo.so.1' of '/bin/node' not found",
  });
});

t.test('images', async (t) => {
  const state = tempDir(t);
  t.throws(() => readImage(state, 'nope'), { code: 'WARREN_IMAGE_NOT_FOUND', message: "unknown image 'nope'" });
  t.throws(() => readImage(state, '../x'), { code: 'WARREN_IMAGE_INVALID_NAME' });
  t.same(listImages(state), []);

  const store = new LayerStore(state);
  const top = await store.add(async (dir) => writeFileSync(join(dir, 'top'), '1'));
  const base = await store.add(async (dir) => writeFileSync(join(dir, 'base'), '2'));
  const image = { name: 'app', layers: [top, base], created: new Date().toISOString() };
  await writeImage(state, image);
  t.same(readImage(state, 'app'), image);
  t.same(listImages(state).map((i) => i.name), ['app']);
  t.same(imageLayerPaths(state, 'app'), [store.path(top), store.path(base)], 'top first');

  rmSync(store.path(base), { recursive: true });
  t.throws(() => imageLayerPaths(state, 'app'), { code: 'WARREN_LAYER_NOT_FOUND' });

  writeFileSync(join(state, 'images/bad.json'), '{"name":"bad","layers":["../../etc"],"created":"x"}');
  t.throws(() => readImage(state, 'bad'), { code: 'WARREN_IMAGE_CORRUPT' });
});

t.test('ensureNodeImage with the running node', async (t) => {
  const state = tempDir(t);
  let start = performance.now();
  const image = await ensureNodeImage(state);
  const buildMs = performance.now() - start;
  t.comment(`build: ${buildMs.toFixed(0)} ms`);

  const [digest] = image.layers;
  t.equal(image.layers.length, 1);
  const [layer] = imageLayerPaths(state, 'node');
  if (!layer || !digest) throw new Error('no layer');
  t.equal(sha256(join(layer, 'usr/local/bin/node')), sha256(process.execPath), 'node is byte-identical');
  t.equal(statSync(join(layer, 'usr/local/bin/node')).mode & 0o7777, 0o755);
  const host = statSync(process.execPath);
  if (process.geteuid?.() === 0 && host.uid === 0 && (host.mode & 0o7022) === 0 && host.dev === statSync(state).dev) {
    // shared, not copied: a sandbox's node maps the page cache the host's node processes map
    t.equal(statSync(join(layer, 'usr/local/bin/node')).ino, host.ino, "node is the host's own file, hard-linked");
  }
  t.equal(readlinkSync(join(layer, 'usr/bin/node')), '/usr/local/bin/node');

  const libs = execFileSyncText('ldd', [process.execPath]);
  const wanted = parseLdd(libs, process.execPath);
  t.ok(wanted.length > 0 || /statically/.test(libs), 'ldd named libraries');
  for (const lib of wanted) {
    t.ok(lstatSync(join(layer, lib)).isFile(), `${lib} is a real file in the layer`);
    t.equal(sha256(join(layer, lib)), sha256(lib), `${lib} has the host's content`);
  }

  t.equal(readFileSync(join(layer, 'etc/passwd'), 'utf8').split('\n')[0], 'root:x:0:0:root:/root:/sbin/nologin');
  t.equal(readFileSync(join(layer, 'etc/resolv.conf'), 'utf8'), '');
  t.equal(statSync(join(layer, 'tmp')).mode & 0o7777, 0o1777);
  t.equal(statSync(join(layer, 'root')).mode & 0o7777, 0o700);
  for (const dir of ['proc', 'dev', 'sys', 'run', 'home', 'bin', 'sbin', 'var/tmp']) {
    t.ok(lstatSync(join(layer, dir)).isDirectory(), `/${dir} is a dir`);
  }
  const entries = walk(layer);
  t.same(entries.filter((p) => (lstatSync(p).mode & 0o6000) !== 0), [], 'no setuid or setgid bits');
  if (isRoot) t.same(entries.filter((p) => lstatSync(p).uid !== 0 || lstatSync(p).gid !== 0), [], 'all owned by 0:0');
  t.equal(await new LayerStore(state).verify(digest), true);

  const ino = statSync(layer).ino;
  start = performance.now();
  const again = await ensureNodeImage(state);
  const fastMs = performance.now() - start;
  t.comment(`fast path: ${fastMs.toFixed(2)} ms`);
  t.same(again, image, 'same manifest, not rewritten');
  t.equal(statSync(layer).ino, ino, 'layer dir not rebuilt');
  t.ok(fastMs < 50, 'fast path is fast');

  t.test('the layer runs node as its root', { skip: isRoot ? false : 'chroot needs root' }, async (t) => {
    // `env -i`: a clean env for the chrooted node, since the host's NODE_*
    // variables (and tap's NODE_OPTIONS hooks) name files the layer lacks.
    const run = (args: string[]) =>
      promisify(execFile)('env', ['-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'chroot', ...args]);
    const out = await run([layer, '/usr/local/bin/node', '-e', 'console.log(1+1)']);
    t.equal(out.stdout, '2\n');
    t.equal(out.stderr, '');
    const nobody = await run(['--userspec=65534:65534', layer, '/usr/bin/node', '-p', 'os.userInfo().username']);
    t.equal(nobody.stdout, 'nobody\n', 'as nobody, with /etc/passwd from the layer');
  });
});

t.test('ensureNodeImage rebuilds when an input changes', async (t) => {
  const dir = tempDir(t);
  const state = join(dir, 'state');
  const node = join(dir, 'node');
  copyFileSync(process.execPath, node);
  const extra = join(dir, 'runtime.js');
  writeFileSync(extra, 'module.exports = 1;\n');
  const opts = { nodePath: node, extraFiles: [{ src: extra, dest: '/opt/warren/runtime.js' }] };

  const first = await ensureNodeImage(state, opts);
  const [firstLayer] = imageLayerPaths(state, 'node');
  if (!firstLayer) throw new Error('no layer');
  t.equal(readFileSync(join(firstLayer, 'opt/warren/runtime.js'), 'utf8'), 'module.exports = 1;\n');

  appendFileSync(node, Buffer.from([0]));
  const start = performance.now();
  const second = await ensureNodeImage(state, opts);
  t.comment(`rebuild after a changed node: ${(performance.now() - start).toFixed(0)} ms`);
  t.not(second.layers[0], first.layers[0], 'new content, new digest');
  const [secondLayer] = imageLayerPaths(state, 'node');
  if (!secondLayer) throw new Error('no layer');
  t.equal(sha256(join(secondLayer, 'usr/local/bin/node')), sha256(node));
  t.ok(existsSync(firstLayer), 'the old layer stays until GC');

  writeFileSync(extra, 'module.exports = 2;\n');
  const third = await ensureNodeImage(state, opts);
  t.not(third.layers[0], second.layers[0], 'an extra file is an input too');

  const same = await ensureNodeImage(state, opts);
  t.same(same, third);
  const fewer = await ensureNodeImage(state, { nodePath: node });
  t.not(fewer.layers[0], third.layers[0], 'dropping an extra file is a change');
  t.same(readdirSync(join(state, 'layers')).filter((n) => n.startsWith('.')), [], 'no temp dirs left');
});

t.test('ensureNodeImage rejects bad extra files', async (t) => {
  const state = tempDir(t);
  await t.rejects(ensureNodeImage(state, { extraFiles: [{ src: state, dest: '/x' }] }), { code: 'WARREN_IMAGE_BAD_INPUT' });
  await t.rejects(ensureNodeImage(state, { extraFiles: [{ src: process.execPath, dest: 'rel' }] }), { code: 'WARREN_IMAGE_BAD_INPUT' });
});

function execFileSyncText(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`;
}

t.test('an opaque mark changes the digest: it changes what the layer means', { skip: process.getuid?.() !== 0 && 'trusted xattrs need root' }, async (t) => {
  const { markOpaque } = await import('./overlay-marks.js');
  const dir = mkdtempSync(join(tmpdir(), 'wrntest-opaque-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'etc'));
  const plain = await treeDigest(dir);
  markOpaque(join(dir, 'etc'));
  t.not(await treeDigest(dir), plain);
});
