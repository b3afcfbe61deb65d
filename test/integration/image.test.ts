/**
 * `warren image import|ls|rm|gc` through the real CLI, with an image made from Debian's
 * busybox-static: /bin/busybox and its applet symlinks, nothing else. Needs root (the CLI and
 * `warren run` do) and /bin/busybox statically linked (apt-get install busybox-static).
 * Uses a state dir of its own, so `image gc --now` cannot race the other suites' imports.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { NEEDS_ROOT, testDirs, testEnv, warren, WARREN } from './helpers.js';

const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'echo', 'ls', 'cat', 'id', 'true'];

function busyboxMissing(): string | false {
  if (!fs.existsSync(BUSYBOX)) return `needs ${BUSYBOX} (apt-get install busybox-static)`;
  const ldd = spawnSync('ldd', [BUSYBOX], { encoding: 'utf8' });
  // A dynamic busybox would need the host's libc inside the image.
  if (!/not a dynamic executable|statically linked/.test(`${ldd.stdout}${ldd.stderr}`)) return `${BUSYBOX} is not static (apt-get install busybox-static)`;
  return false;
}

const SKIP = NEEDS_ROOT || busyboxMissing();
const dirs = { ...testDirs('wrntest-image'), state: '/var/tmp/wrntest-image-state' };
const env = testEnv(dirs);
const layersDir = path.join(dirs.state, 'layers');

function workDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-image-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A root fs holding only busybox (and `files`), tarred by the system tar (GNU format, gzip), as a user would. */
function busyboxTarball(dir: string, files: Record<string, string> = {}): string {
  const root = path.join(dir, 'root');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), content);
  }
  fs.copyFileSync(BUSYBOX, path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  for (const applet of APPLETS) fs.symlinkSync('busybox', path.join(root, 'bin', applet));
  const file = path.join(dir, 'tiny.tar.gz');
  execFileSync('tar', ['--format=gnu', '--owner=0', '--group=0', '-C', root, '-czf', file, '.']);
  return file;
}

function layers(): string[] {
  return fs.existsSync(layersDir) ? fs.readdirSync(layersDir).sort() : [];
}

t.test('import a busybox tarball, run it, list it, remove it, collect its layer', { skip: SKIP }, async (t) => {
  const tarball = busyboxTarball(workDir(t));
  // The node image exists in this state dir, so gc has layers it must leave alone.
  const node = await warren(['run', '--', 'node', '-e', ''], { env });
  t.equal(node.code, 0, node.stderr);

  const start = performance.now();
  const imported = await warren(['image', 'import', 'tiny', tarball], { env });
  t.comment(`import: ${(performance.now() - start).toFixed(0)} ms, CLI start included (${fs.statSync(tarball).size} bytes gzip)`);
  t.equal(imported.code, 0, imported.stderr);
  t.match(imported.stdout, /^imported 'tiny': \d+ entries, .* layer [0-9a-f]{64}\n$/);

  const ok = await warren(['run', '--image', 'tiny', '--', '/bin/sh', '-c', 'echo ok'], { env });
  t.equal(ok.stdout, 'ok\n', ok.stderr);
  t.equal(ok.code, 0);
  const root = await warren(['run', '--image', 'tiny', '--', '/bin/ls', '/'], { env });
  t.same(root.stdout.split('\n').filter(Boolean).sort(), ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp'], 'the dirs a sandbox needs were added');

  const ls = await warren(['image', 'ls', '--json'], { env });
  t.equal(ls.code, 0, ls.stderr);
  const list = JSON.parse(ls.stdout) as Array<{ name: string; layers: string[]; size: number; created: string }>;
  const tiny = list.find((i) => i.name === 'tiny');
  const nodeImage = list.find((i) => i.name === 'node');
  if (!tiny || !nodeImage) throw new Error(`image ls --json lacks tiny or node: ${ls.stdout}`);
  t.equal(tiny.layers.length, 1);
  t.ok(tiny.size >= fs.statSync(BUSYBOX).size, 'its size is at least busybox');
  const table = await warren(['image', 'ls'], { env });
  t.equal(table.code, 0, table.stderr);
  t.match(table.stdout, /^NAME\s+LAYERS\s+SIZE\s+CREATED\n/);
  t.match(table.stdout, /\ntiny\s+1\s+[\d.]+ MiB\s+\d{4}-\d\d-\d\dT/);

  const rm = await warren(['image', 'rm', 'tiny'], { env });
  t.equal(rm.code, 0, rm.stderr);
  const gone = await warren(['run', '--image', 'tiny', '--', '/bin/true'], { env });
  t.equal(gone.code, 125);
  t.match(gone.stderr, /^warren: unknown image 'tiny'(: [\s\S]*)?\n$/);
  t.equal((await warren(['image', 'rm', 'tiny'], { env })).code, 125, 'a second rm fails');

  const graced = await warren(['image', 'gc'], { env });
  t.equal(graced.code, 0, graced.stderr);
  t.ok(layers().includes(tiny.layers[0] as string), 'without --now a layer younger than 60 s stays');
  const gc = await warren(['image', 'gc', '--now'], { env });
  t.equal(gc.code, 0, gc.stderr);
  t.match(gc.stdout, `removed layer ${tiny.layers[0]}\n`);
  t.notOk(layers().includes(tiny.layers[0] as string), 'its layer is gone');
  for (const d of nodeImage.layers) t.ok(layers().includes(d), `node's layer ${d.slice(0, 12)} stays`);
  const still = await warren(['run', '--', 'node', '-e', 'console.log("node ok")'], { env });
  t.equal(still.stdout, 'node ok\n', 'the node image still runs');
});

t.test('a malicious tarball: exit 125, the entry named, nothing stored', { skip: SKIP }, async (t) => {
  const dir = workDir(t);
  fs.mkdirSync(path.join(dir, 'inner'));
  fs.writeFileSync(path.join(dir, 'evil'), 'x');
  const file = path.join(dir, 'evil.tar');
  // -P keeps the '..' that tar would strip; a crafted archive needs no tool at all.
  execFileSync('tar', ['-P', '-C', path.join(dir, 'inner'), '-cf', file, '../evil']);
  const before = layers();
  const r = await warren(['image', 'import', 'evil', file], { env });
  t.equal(r.code, 125);
  t.equal(r.stderr, "warren: refusing entry '../evil': '..' escapes the root\n");
  t.same(layers(), before, 'layers/ is unchanged: no layer, no temp dir');
  t.equal((await warren(['run', '--image', 'evil', '--', '/bin/true'], { env })).code, 125, 'no image either');

  const bad = await warren(['image', 'import', '--max-size', 'lots', 'x', file], { env });
  t.equal(bad.code, 125);
  t.match(bad.stderr, /^warren: invalid maximum size 'lots'/);
});

/**
 * `image rm` does not wait for the sandboxes of that image, so once it is gone no manifest names
 * their layer: `image gc --now` used to delete the lower dir of a running sandbox. The sandbox
 * reads a file of its image only after the gc, one it never looked at before, so a deleted lower
 * dir shows (a file already open or looked up could outlive its dir).
 */
t.test('image gc keeps the layer of a running sandbox whose image was removed', { skip: SKIP }, async (t) => {
  const tarball = busyboxTarball(workDir(t), { 'data/first': 'first\n', 'data/second': 'second\n' });
  const imported = await warren(['image', 'import', 'busy', tarball], { env });
  t.equal(imported.code, 0, imported.stderr);
  const digest = /layer ([0-9a-f]{64})\n$/.exec(imported.stdout)?.[1] as string;
  t.ok(digest, imported.stdout);

  const child = spawn(process.execPath, [WARREN, 'run', '-i', '--image', 'busy', '--', '/bin/sh', '-c', 'cat /data/first; read go; cat /data/second'], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const end = Date.now() + 30_000;
  while (!stdout.includes('first\n')) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`the sandbox did not start: ${stdout} ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const records = path.join(dirs.run, 'layers');
  t.equal(fs.readdirSync(records).length, 1, 'the running sandbox has its layer record');

  t.equal((await warren(['image', 'rm', 'busy'], { env })).code, 0);
  const gc = await warren(['image', 'gc', '--now'], { env });
  t.equal(gc.code, 0, gc.stderr);
  t.notMatch(gc.stdout, digest, 'its layer is not removed');
  t.match(gc.stdout, /kept 1 unreferenced layers that running sandboxes use\n$/);
  t.ok(layers().includes(digest), 'the layer is still on disk');

  child.stdin.end('go\n');
  t.equal(await exited, 0, stderr);
  t.equal(stdout, 'first\nsecond\n', 'the sandbox still reads its image after the gc');
  t.same(fs.readdirSync(records), [], 'its record went with it');

  const after = await warren(['image', 'gc', '--now'], { env });
  t.equal(after.code, 0, after.stderr);
  t.match(after.stdout, `removed layer ${digest}\n`);
  t.notOk(layers().includes(digest), 'once the sandbox ended, its layer goes');
});
