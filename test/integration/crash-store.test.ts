/**
 * Killing warren in the middle of an import or a commit leaves no partial layer: a layer is
 * written to a temp dir and renamed into place whole, and the image manifest is written last.
 * `warren image gc` then sweeps the temp dir and leaves every referenced layer alone.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { NEEDS_ROOT, testDirs, testEnv, warren, WARREN } from './helpers.js';

const dirs = { ...testDirs('wrntest-crash'), state: '/var/tmp/wrntest-crash-state' };
const env = testEnv(dirs);
const layersDir = path.join(dirs.state, 'layers');
const digests = () => (fs.existsSync(layersDir) ? fs.readdirSync(layersDir).filter((d) => /^[0-9a-f]{64}$/.test(d)).sort() : []);
const temps = () => (fs.existsSync(layersDir) ? fs.readdirSync(layersDir).filter((d) => d.startsWith('.tmp-')) : []);

/** Starts `warren ARGS`, SIGKILLs it as soon as a new temp layer dir appears, waits for it to die. */
async function killMidway(t: Test, args: string[]): Promise<void> {
  const child = spawn(process.execPath, [WARREN, ...args], { env, stdio: 'ignore' });
  const died = new Promise((r) => child.on('close', r));
  const end = Date.now() + 60_000;
  // a temp dir of its own: the killed import's is still there when the commit starts
  const before = new Set(temps());
  const fresh = () => temps().some((d) => !before.has(d));
  while (!fresh() && child.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  t.ok(fresh() && child.exitCode === null, 'killed while its layer was being written');
  child.kill('SIGKILL');
  await died;
}

t.test('a killed import or commit leaves no partial layer; gc sweeps the rest', { skip: NEEDS_ROOT }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-crash-'));
  t.teardown(async () => {
    fs.rmSync(tmp, { recursive: true, force: true });
    await warren(['kept', 'rm', 'wrntest-big'], { env });
    fs.rmSync(dirs.state, { recursive: true, force: true });
  });
  // the node image, which must survive everything below
  t.equal((await warren(['run', '--', 'node', '-e', '0'], { env })).code, 0);
  const before = digests();

  const root = path.join(tmp, 'root');
  fs.mkdirSync(path.join(root, 'data'), { recursive: true });
  execFileSync('head', ['-c', String(256 << 20), '/dev/urandom'], { stdio: ['ignore', fs.openSync(path.join(root, 'data', 'blob'), 'w'), 'ignore'] });
  execFileSync('tar', ['-C', root, '-cf', path.join(tmp, 'big.tar'), '.']);
  await killMidway(t, ['image', 'import', 'wrntest-big', path.join(tmp, 'big.tar')]);
  t.same(digests(), before, 'no new layer under a digest name after a killed import');
  t.notMatch((await warren(['image', 'ls'], { env })).stdout, /wrntest-big/, 'and no image');

  // 256 MiB of changes: past the default cap of a kept sandbox's image (64 MiB, as the tmpfs)
  const kept = await warren(['run', '--name', 'wrntest-big', '--keep', '--memory', '1g', '--tmpfs', '320m', '--', 'node', '-e',
    "for (let i = 0; i < 16; i++) require('fs').appendFileSync('/blob', require('crypto').randomBytes(16 << 20))"], { env, timeoutMs: 120_000 });
  t.equal(kept.code, 0, kept.stderr);
  await killMidway(t, ['commit', 'wrntest-big', 'wrntest-big-image']);
  t.same(digests(), before, 'no new layer under a digest name after a killed commit');
  const mnt = path.join(dirs.state, 'kept', 'wrntest-big', 'mnt');
  t.ok(fs.existsSync(mnt) && fs.statSync(mnt).dev !== fs.statSync(path.dirname(mnt)).dev, 'the killed commit left its read-only mount of the image');
  t.match((await warren(['gc'], { env })).stdout, /1 kept image mounts/, 'warren gc takes it away');
  t.notOk(fs.existsSync(mnt));

  const gc = await warren(['image', 'gc', '--now'], { env });
  t.equal(gc.code, 0, gc.stderr);
  t.same(temps(), [], 'gc swept the temp dirs');
  t.same(digests(), before, "the node image's layers are untouched");
  t.equal((await warren(['run', '--', 'node', '-e', 'console.log("still runs")'], { env })).stdout.trim(), 'still runs');
});
