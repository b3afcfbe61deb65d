/**
 * Regression (issue 9, High): `warren commit` and `warren rm` (now `warren kept rm`) acted on a
 * kept sandbox that was still running, and walked its upper by path (lstat, then
 * readdir/copyFile/rm by name). The sandbox traded a dir and a symlink to a host dir back and forth
 * with renameat2(RENAME_EXCHANGE): whenever the swap fell between the lstat and the read, host root
 * followed the symlink, and a root-only host file (mode 0600) ended up in the committed layer,
 * readable from any sandbox of the new image; the same walk in `rm` would aim root's deletes at
 * host dirs. Now `warren run --keep` holds a lock for the sandbox's life and commit and rm refuse
 * while it is held, and the walks go by fd without following a symlink (snapshots/held-tree.test.ts
 * races them directly). A killed `warren run` drops its lock before its sandbox is gone: commit and
 * rm then also wait for the image to have no loop device left (a sandbox's mount of it holds one).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { imageLayerPaths } from '../../snapshots/index.js';
import { NEEDS_ROOT, probeVolume, startRun, testDirs, testEnv, warren } from '../integration/helpers.js';
import type { ProbeSwap } from '../probe/probe.js';

const dirs = testDirs('wrntest-regress');
const env = testEnv(dirs);
const name = `wrntest-swap-${process.pid}`;
const image = `wrntest-swap-${process.pid}`;
const secretDir = `/var/tmp/wrntest-secret-${process.pid}`;
const SECRET = `root-only ${process.pid}`;

/** rel path -> content, `-> target` or 'dir', never following a symlink. */
function tree(dir: string, out = new Map<string, string>(), rel = ''): Map<string, string> {
  for (const entry of fs.readdirSync(path.join(dir, rel))) {
    const sub = path.join(rel, entry);
    const st = fs.lstatSync(path.join(dir, sub));
    if (st.isDirectory()) tree(dir, out.set(sub, 'dir'), sub);
    else out.set(sub, st.isFile() ? fs.readFileSync(path.join(dir, sub), 'utf8') : st.isSymbolicLink() ? `-> ${fs.readlinkSync(path.join(dir, sub))}` : 'other');
  }
  return out;
}

// bounded generously: under a loaded suite each `warren commit` below takes seconds
const start = (args: readonly string[]) => startRun(args, env, 150_000);

t.test('commit and rm refuse a kept sandbox while it runs, swapping a dir and a symlink to the host', { skip: NEEDS_ROOT }, async (t) => {
  t.teardown(async () => {
    await warren(['kept', 'rm', name], { env });
    await warren(['image', 'rm', image], { env });
    fs.rmSync(secretDir, { recursive: true, force: true });
  });
  fs.mkdirSync(secretDir, { mode: 0o700 });
  fs.writeFileSync(path.join(secretDir, 'secret'), SECRET, { mode: 0o600 });

  const running = start([...probeVolume(), '--name', name, '--keep', '--', '/probe/probe', 'swap', '/x', secretDir, '40']); // outlasts the refusals below even on a loaded machine
  let ended = false;
  void running.ended.then(() => (ended = true));
  await running.ready;
  t.notOk(ended, 'the sandbox is swapping');
  for (let i = 0; i < 3; i++) {
    const commit = await warren(['commit', name, image], { env });
    t.equal(commit.code, 125, `commit ${i + 1} is refused while the sandbox runs`);
    t.match(commit.stderr, /is running/);
  }
  const rm = await warren(['kept', 'rm', name], { env });
  t.equal(rm.code, 125, 'rm is refused while the sandbox runs');
  t.match(rm.stderr, /is running/);
  t.ok(fs.existsSync(path.join(dirs.state, 'kept', `${name}.json`)), 'and removed nothing');
  t.notOk(ended, 'the sandbox was running through all of these');

  const ran = await running.ended;
  t.equal(ran.code, 0, ran.stderr);
  const result = JSON.parse(ran.stdout.trim().split('\n').pop() ?? '{}') as ProbeSwap;
  t.ok(result.swaps > 0 && result.errno === 0, `the sandbox swapped the whole time (${result.swaps} swaps)`);

  const commit = await warren(['commit', name, image], { env });
  t.equal(commit.code, 0, `commit works once it has ended: ${commit.stderr}`);
  const layer = tree(imageLayerPaths(dirs.state, image)[0] as string);
  t.notOk([...layer.values()].includes(SECRET), 'the host file is not in the layer');
  t.same(['x/a', 'x/b'].map((p) => layer.get(p)).sort(), [`-> ${secretDir}`, 'dir'], 'one is the dir, one the symlink, as the sandbox left them');

  t.equal((await warren(['kept', 'rm', name], { env })).code, 0);
  t.equal(fs.readFileSync(path.join(secretDir, 'secret'), 'utf8'), SECRET, 'the host file is still there');
});

t.test('a killed warren run: commit waits out its dying sandbox or refuses, and never copies the host file', { skip: NEEDS_ROOT }, async (t) => {
  const killed = `${name}-killed`;
  t.teardown(async () => {
    await warren(['kept', 'rm', killed], { env });
    await warren(['image', 'rm', `${image}-killed`], { env });
    await warren(['gc'], { env }); // what the killed run left: its cgroups, run dir, uid lease
    fs.rmSync(secretDir, { recursive: true, force: true });
  });
  fs.mkdirSync(secretDir, { mode: 0o700 });
  fs.writeFileSync(path.join(secretDir, 'secret'), SECRET, { mode: 0o600 });
  const running = start([...probeVolume(), '--name', killed, '--keep', '--', '/probe/probe', 'swap', '/x', secretDir, '30']);
  await running.ready;
  running.kill();
  await running.ended;
  let committed = false;
  for (let i = 0; i < 5 && !committed; i++) {
    const commit = await warren(['commit', killed, `${image}-killed`], { env });
    committed = commit.code === 0;
    if (!committed) t.match(commit.stderr, /running/, 'refused only because it still runs');
  }
  t.ok(committed, 'commit works once the sandbox is gone');
  const layer = tree(imageLayerPaths(dirs.state, `${image}-killed`)[0] as string);
  t.notOk([...layer.values()].includes(SECRET), 'the host file is not in the layer');
  t.equal((await warren(['kept', 'rm', killed], { env })).code, 0);
  t.equal(fs.readFileSync(path.join(secretDir, 'secret'), 'utf8'), SECRET, 'the host file is still there');
});
