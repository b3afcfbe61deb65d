import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { LeaseSet } from './leases.js';
import { packageRoot } from './package-root.js';
import { bootId, claimRunDir } from './run-dir.js';

const EARLIER_BOOT = '00000000-0000-4000-8000-000000000000';

const runDir = (t: Test) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-rundir-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
};

/** What an earlier boot left: its mark, a uid lease held by `pid`, a sandbox's run dir. */
function leftByEarlierBoot(d: string, pid: number): void {
  fs.writeFileSync(path.join(d, 'boot_id'), `${EARLIER_BOOT}\n`);
  fs.mkdirSync(path.join(d, 'uids'));
  fs.writeFileSync(path.join(d, 'uids', '0'), `${pid} wdeadbeef0001\n`);
  fs.mkdirSync(path.join(d, 'sandboxes', 'wdeadbeef0001'), { recursive: true });
}

t.test("a run dir an earlier boot made is emptied: its lease no longer holds a number whose pid another process has now", async (t) => {
  const d = runDir(t);
  // after a reboot, the pid a lease names belongs to whatever process got it: here, this one
  leftByEarlierBoot(d, process.pid);
  t.throws(() => new LeaseSet(path.join(d, 'uids'), 1).take('before'), { code: 'WARREN_LEASE_EXHAUSTED' }, 'before: the stale lease looks held');
  t.equal(claimRunDir(d), 'emptied');
  t.equal(fs.readFileSync(path.join(d, 'boot_id'), 'utf8').trim(), bootId(), "it carries this boot's id");
  t.notOk(fs.existsSync(path.join(d, 'sandboxes')), "the earlier boot's sandbox dirs are gone");
  t.equal(new LeaseSet(path.join(d, 'uids'), 1).take('after').n, 0, 'the number can be taken again');
});

t.test("this boot's run dir is left as it is", async (t) => {
  const d = runDir(t);
  leftByEarlierBoot(d, process.pid);
  fs.writeFileSync(path.join(d, 'boot_id'), `${bootId()}\n`);
  t.equal(claimRunDir(d), 'current');
  t.ok(fs.existsSync(path.join(d, 'uids', '0')), 'its lease stays');
  t.ok(fs.existsSync(path.join(d, 'sandboxes', 'wdeadbeef0001')), 'its sandbox dir stays');
});

t.test('a run dir without a mark (new, or kept by an older warren) keeps its contents and gets one', async (t) => {
  const d = path.join(runDir(t), 'run');
  t.equal(claimRunDir(d, bootId(), { create: false }), 'absent', 'a reader (image gc, volume ls)...');
  t.notOk(fs.existsSync(d), '...makes no run dir');
  t.equal(claimRunDir(d), 'marked', 'a dir not there yet');
  t.equal((fs.statSync(d).mode & 0o777).toString(8), '700', 'made private');
  const older = runDir(t);
  leftByEarlierBoot(older, process.pid);
  fs.rmSync(path.join(older, 'boot_id'));
  t.equal(claimRunDir(older), 'marked');
  t.ok(fs.existsSync(path.join(older, 'uids', '0')), 'its lease stays');
  t.equal(claimRunDir(older), 'current', "and it is this boot's from then on");
});

t.test('nothing is removed while something is mounted under it', { skip: process.getuid?.() !== 0 && 'needs root (mount)' }, async (t) => {
  const d = runDir(t);
  leftByEarlierBoot(d, process.pid);
  const mnt = path.join(d, 'volumes', 'v');
  fs.mkdirSync(mnt, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'wrntest-rundir', mnt]);
  t.teardown(() => execFileSync('umount', [mnt]));
  fs.writeFileSync(path.join(mnt, 'data'), 'kept');
  t.equal(claimRunDir(d), 'mounts-left');
  t.equal(fs.readFileSync(path.join(mnt, 'data'), 'utf8'), 'kept', 'the mounted file system is untouched');
  t.ok(fs.existsSync(path.join(d, 'uids', '0')), 'and so is the rest');
  t.equal(fs.readFileSync(path.join(d, 'boot_id'), 'utf8').trim(), EARLIER_BOOT, 'the mark stays');
});

t.test('processes starting at once after a reboot: one empties the dir, none loses what it made after its claim', async (t) => {
  const d = runDir(t);
  leftByEarlierBoot(d, 1);
  const module = path.join(packageRoot(import.meta.url), 'dist/lib/run-dir.js');
  // each claims, then makes a file of its own: a later sweep by another would remove it
  const script = `const { claimRunDir } = await import(${JSON.stringify(module)});
    const fs = await import('node:fs');
    const r = claimRunDir(process.argv[1]);
    fs.writeFileSync(process.argv[1] + '/mine-' + process.pid, '');
    process.stdout.write(r);`;
  const runs = Array.from({ length: 6 }, () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, d], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    return once(child, 'exit').then(([code]) => ({ code, out, pid: child.pid }));
  });
  const results = await Promise.all(runs);
  t.same(results.map((r) => r.code), [0, 0, 0, 0, 0, 0]);
  t.same(results.map((r) => r.out).filter((o) => o === 'emptied'), ['emptied'], 'exactly one emptied it');
  t.same(results.map((r) => r.out).filter((o) => o !== 'emptied' && o !== 'current'), [], 'the others found it current');
  for (const r of results) t.ok(fs.existsSync(path.join(d, `mine-${r.pid}`)), `what process ${r.pid} made after its claim stays`);
  t.notOk(fs.existsSync(path.join(d, 'uids', '0')), "the earlier boot's lease is gone");
});
