/**
 * Named volumes (issue 14), as a user of `warren run -v NAME:/path` and `warren volume` sees them:
 * a volume outlives its sandboxes, two sandboxes share one read-write at once (each seeing the
 * other's files as root's, whatever uid ranges they run as), `:ro` refuses writes, the cap gives
 * ENOSPC inside for bytes and for files and costs the host no more than the cap, rm is refused
 * while a sandbox uses it (a killed `warren run` included, until it is gone), commit never takes a
 * volume's files, and nothing is left mounted or attached afterwards.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { ProbeFill, ProbeInodes, ProbeRead, ProbeResult } from '../probe/probe.js';
import { NEEDS_ROOT, probe, probeVolume, startRun, testDirs, testEnv, warren, type Result } from './helpers.js';

const dirs = testDirs('wrntest-vol');
const env = testEnv(dirs);
const tag = `vt${process.pid}`;
const MiB = 1 << 20;

interface LsRow {
  name: string;
  size: number;
  inodes: number;
  used: number;
  inUseBy: string[];
}

async function ls(): Promise<LsRow[]> {
  const r = await warren(['volume', 'ls', '--json'], { env });
  if (r.code !== 0) throw new Error(`volume ls: ${r.stderr}`);
  return (JSON.parse(r.stdout) as LsRow[]).filter((v) => v.name.startsWith(tag));
}

function volumesLeft(): { mounts: string[]; loops: string[]; dirs: string[] } {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(path.join(dirs.run, 'volumes')));
  const loops = execFileSync('losetup', ['-a'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(path.join(dirs.state, 'volumes')));
  const made = fs.existsSync(path.join(dirs.state, 'volumes')) ? fs.readdirSync(path.join(dirs.state, 'volumes')).filter((n) => n.startsWith(tag)) : [];
  return { mounts, loops, dirs: made };
}

const NODE_SHARE = (mine: string, theirs: string) => `
  const fs = require('fs');
  fs.writeFileSync('/data/${mine}', 'from ${mine}');
  const until = Date.now() + 30000;
  const wait = () => {
    if (!fs.existsSync('/data/${theirs}') && Date.now() < until) return setTimeout(wait, 50);
    const st = fs.statSync('/data/${theirs}');
    console.log(JSON.stringify({ theirs: fs.readFileSync('/data/${theirs}', 'utf8'), owner: st.uid,
      map: fs.readFileSync('/proc/self/uid_map', 'utf8').trim() }));
  };
  wait();`;

t.test('volumes', { skip: NEEDS_ROOT }, async (t) => {
  t.teardown(async () => {
    for (const v of await ls().catch(() => [])) await warren(['volume', 'rm', v.name], { env });
    await warren(['kept', 'rm', `${tag}-kept`], { env });
    await warren(['image', 'rm', `${tag}-img`], { env });
  });

  t.test('a volume written by one sandbox is read by the next; made on first use', async (t) => {
    const vol = `${tag}-first`;
    const wrote = await probe<ProbeResult>(['-v', `${vol}:/data`], ['write', '/data/note', 'kept across sandboxes']);
    t.equal(wrote.errno, 0, `the volume's root is the sandbox's root's: ${wrote.$.stderr}`);
    const read = await probe<ProbeRead>(['-v', `${vol}:/srv/other`], ['read', '/srv/other/note']);
    t.equal(read.text, 'kept across sandboxes');
    const [row] = await ls();
    t.match(row, { name: vol, size: 1024 * MiB, inodes: 65536, inUseBy: [] }, 'made with the default cap, 1 GiB, one inode per 16 KiB');
    t.ok((row as LsRow).used < 64 * MiB, `sparse: ${(row as LsRow).used} bytes on the host's disk`);
    t.same(volumesLeft().mounts, [], 'unmounted once its last sandbox ended');
  });

  t.test('two sandboxes write to one volume at once, each sees the other\'s files as root\'s', async (t) => {
    const vol = `${tag}-shared`;
    const a = startRun(['-v', `${vol}:/data`, '--', 'node', '-e', NODE_SHARE('a', 'b')], env);
    const b = startRun(['-v', `${vol}:/data`, '--', 'node', '-e', NODE_SHARE('b', 'a')], env);
    const [ra, rb] = await Promise.all([a.ended, b.ended]);
    t.equal(ra.code, 0, ra.stderr);
    t.equal(rb.code, 0, rb.stderr);
    const sa = JSON.parse(ra.stdout.trim()) as { theirs: string; owner: number; map: string };
    const sb = JSON.parse(rb.stdout.trim()) as { theirs: string; owner: number; map: string };
    t.equal(sa.theirs, 'from b');
    t.equal(sb.theirs, 'from a');
    t.equal(sa.owner, 0, "b's file is root's inside a");
    t.equal(sb.owner, 0, "a's file is root's inside b");
    t.not(sa.map, sb.map, 'they ran as different host uid ranges');
  });

  t.test('a mount made while a sandbox still holds the image shares its file system (one loop device, never two)', async (t) => {
    // what a killed run leaves: its sandbox holds the image while the host mount is gone (here
    // unmounted by hand); a second loop device would be a second ext4 over one file
    const vol = `${tag}-reuse`;
    const mnt = path.join(dirs.run, 'volumes', vol);
    const img = path.join(dirs.state, 'volumes', vol, 'data.img');
    const a = startRun(['-v', `${vol}:/data`, '--', 'node', '-e', NODE_SHARE('a', 'b')], env);
    for (let i = 0; i < 300 && !fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(mnt); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1500)); // its sandbox has bound it by now, or fails below
    execFileSync('umount', [mnt]);
    const loops = () => execFileSync('losetup', ['-n', '-O', 'NAME', '-j', img], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
    t.equal(loops().length, 1, 'the sandbox holds its loop device');
    const b = await probe<ProbeResult>(['-v', `${vol}:/data`], ['write', '/data/b', 'from b']);
    t.equal(b.errno, 0, b.$.stderr);
    const ra = await a.ended;
    t.equal(ra.code, 0, ra.stderr);
    t.match(JSON.parse(ra.stdout.trim()), { theirs: 'from b' }, 'the running sandbox saw the write at once: one file system');
    t.same(loops(), [], 'and the loop device went with the last mount');
  });

  t.test(':ro refuses writes from inside, and reads work', async (t) => {
    const vol = `${tag}-ro`;
    t.equal((await probe<ProbeResult>(['-v', `${vol}:/data`], ['write', '/data/f', 'x'])).errno, 0);
    const denied = await probe<ProbeResult>(['-v', `${vol}:/data:ro`], ['write', '/data/g', 'x']);
    t.equal(denied.errno, 30, 'EROFS');
    t.equal((await probe<ProbeRead>(['-v', `${vol}:/data:ro`], ['read', '/data/f'])).text, 'x');
  });

  t.test('the cap gives ENOSPC inside, for bytes and for files, and nothing outside', async (t) => {
    const vol = `${tag}-cap`;
    const made = await warren(['volume', 'create', '--size', '8m', '--inodes', '300', vol], { env });
    t.equal(made.code, 0, made.stderr);
    t.equal(made.stdout, `${vol}\n`);
    const again = await warren(['volume', 'create', vol], { env });
    t.equal(again.code, 125);
    t.match(again.stderr, /exists/);
    const img = path.join(dirs.state, 'volumes', vol, 'data.img');
    const fill = await probe<ProbeFill>(['-v', `${vol}:/data`], ['fill', '/data/big']);
    t.equal(fill.errno, 28, 'ENOSPC past the cap');
    t.ok(fill.bytes >= 6 * MiB && fill.bytes <= 8 * MiB, `about 8 MiB went in (${fill.bytes})`);
    const st = fs.statSync(img);
    t.ok(st.blocks * 512 <= st.size && st.size < 10 * MiB, `the host holds at most the image, ${st.size} bytes (${st.blocks * 512} allocated)`);
    const many = await probe<ProbeInodes>(['-v', `${vol}:/data`], ['inodes', '/data']);
    t.equal(many.errno, 28, 'ENOSPC past the inode cap');
    t.ok(many.files >= 250 && many.files <= 320, `about 300 files (${many.files})`);
    const after = await probe<ProbeFill>(['-v', `${vol}:/data`], ['fill', '/data/big']);
    t.equal(after.errno, 28, 'the space came back after the probe removed its files');
    t.ok(after.bytes >= 6 * MiB, `${after.bytes}`);
  });

  t.test('rm is refused while a sandbox uses the volume, also one whose warren run was killed', async (t) => {
    const vol = `${tag}-busy`;
    const run = startRun([...probeVolume(), '-v', `${vol}:/data`, '--', '/probe/probe', 'signals'], env);
    await run.ready;
    const [row] = await ls();
    t.equal((row as LsRow).inUseBy.length, 1, `ls names its user: ${JSON.stringify(row)}`);
    t.match((row as LsRow).inUseBy[0], /^w[0-9a-f]+$/, 'by sandbox id');
    const refused = await warren(['volume', 'rm', vol], { env });
    t.equal(refused.code, 125);
    t.match(refused.stderr, new RegExp(`volume '${vol}' is in use by`));
    run.kill('SIGTERM');
    t.equal((await run.ended).code, 0);
    t.same(await ls().then((r) => r[0]?.inUseBy), [], 'not in use once it ended');

    const killed = startRun([...probeVolume(), '-v', `${vol}:/data`, '--', '/probe/probe', 'signals'], env);
    await killed.ready;
    killed.kill('SIGKILL');
    await killed.ended;
    t.same(await ls().then((r) => r[0]?.inUseBy), [], 'a killed run uses it no more');
    const gc = await warren(['gc'], { env });
    t.match(gc.stdout, /1 volume mounts/, 'warren gc unmounts what the killed run left mounted');
    t.same(volumesLeft().mounts, []);
    const kept = await probe<ProbeRead>(['-v', `${tag}-first:/d`], ['read', '/d/note']);
    t.equal(kept.text, 'kept across sandboxes', "gc keeps volumes' data");
    const rm = await warren(['volume', 'rm', vol], { env });
    t.equal(rm.code, 0, rm.stderr);
    t.same((await ls()).map((v) => v.name).filter((n) => n === vol), []);
    t.equal((await warren(['volume', 'rm', vol], { env })).code, 125, 'rm of a volume that is not there fails');
  });

  t.test('commit never takes a volume\'s files', async (t) => {
    const vol = `${tag}-commit`;
    const kept = `${tag}-kept`;
    const image = `${tag}-img`;
    const wrote = await warren(['run', ...probeVolume(), '-v', `${vol}:/data`, '--name', kept, '--keep', '--', '/probe/probe', 'write', '/data/secret', 's'], { env });
    t.equal(wrote.code, 0, wrote.stderr);
    const committed = await warren(['commit', kept, image], { env });
    t.equal(committed.code, 0, committed.stderr);
    const inImage = await probe<ProbeRead>(['--image', image], ['read', '/data/secret']);
    t.equal(inImage.errno, 2, 'the image has no /data/secret');
    t.equal((await probe<ProbeRead>(['-v', `${vol}:/data`], ['read', '/data/secret'])).text, 's', 'the volume still has it');
  });

  t.test('bad names and sizes are refused before anything is made', async (t) => {
    const cases: Array<[string[], RegExp]> = [
      [['volume', 'create', '.x'], /invalid volume name/],
      [['volume', 'create', '--size', '100k', `${tag}-small`], /from 1 MiB/],
      [['volume', 'create', '--inodes', 'many', `${tag}-n`], /invalid inode count/],
      [['run', '-v', 'a/b:/data', '--', 'true'], /invalid volume/],
      [['volume', 'rm', `${tag}-none`], /no volume named/],
    ];
    for (const [args, message] of cases) {
      const r: Result = await warren(args, { env });
      t.equal(r.code, 125, args.join(' '));
      t.match(r.stderr, message);
    }
  });

  t.test('inspect shows each volume; prune removes those no sandbox uses, after asking', async (t) => {
    const idle = `${tag}-idle`;
    const busy = `${tag}-inuse`;
    t.equal((await warren(['volume', 'create', '--size', '8m', idle], { env })).code, 0);
    const run = startRun([...probeVolume(), '-v', `${busy}:/data`, '--', '/probe/probe', 'signals'], env);
    await run.ready;
    const shown = await warren(['volume', 'inspect', idle, busy], { env });
    t.equal(shown.code, 0, shown.stderr);
    const [a, b] = JSON.parse(shown.stdout) as Array<LsRow & { image: string }>;
    t.match(a, { name: idle, size: 8 * MiB, inUseBy: [] });
    t.ok(fs.existsSync((a as { image: string }).image), `its data is in ${(a as { image: string }).image}`);
    t.equal((b as LsRow).inUseBy.length, 1, 'the one in use names its sandbox');
    t.equal((await warren(['volume', 'inspect', `${tag}-nosuch`], { env })).code, 125, 'inspect of no such volume fails');

    const unasked = await warren(['volume', 'prune'], { env });
    t.equal(unasked.code, 125, 'not on a terminal and without -f: refused');
    t.match(unasked.stderr, /give -f to go on/);
    t.ok((await ls()).some((v) => v.name === idle), 'nothing was removed');
    const pruned = await warren(['volume', 'prune', '-f'], { env });
    t.equal(pruned.code, 0, pruned.stderr);
    t.ok(pruned.stdout.split('\n').includes(idle), `it names what it removed: ${pruned.stdout.trim()}`);
    t.same((await ls()).map((v) => v.name), [busy], 'only the volume in use is left');
    run.kill('SIGTERM');
    t.equal((await run.ended).code, 0);
    t.equal((await warren(['volume', 'rm', busy], { env })).code, 0);
  });

  t.test('nothing is left: no mount, no loop device', async (t) => {
    for (const v of await ls()) t.equal((await warren(['volume', 'rm', v.name], { env })).code, 0, `rm ${v.name}`);
    t.same(volumesLeft(), { mounts: [], loops: [], dirs: [] });
  });
});
