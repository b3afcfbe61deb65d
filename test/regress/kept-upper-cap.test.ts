/**
 * Regression: a kept sandbox's writable layer (`warren run --name N --keep`) had no size or inode
 * cap. Its upper lived in a plain dir on the host's disk, so a sandbox run with `--tmpfs 8m`
 * wrote 300 MiB and 30,000 files, where the README said the writable layer is capped. The kept
 * upper is now an ext4 image per sandbox, sized as the tmpfs would be and loop-mounted inside the
 * sandbox's own mount namespace: writing past the cap fails with ENOSPC from inside, for bytes
 * and for inodes, and commit and rm still work afterwards.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { ProbeFill, ProbeInodes } from '../probe/probe.js';
import { NEEDS_ROOT, probeVolume, testDirs, testEnv, warren, type Result } from '../integration/helpers.js';

const dirs = testDirs('wrntest-kept-cap');
const env = testEnv(dirs);
const name = `wrntest-cap-${process.pid}`;
const image = `wrntest-capped-${process.pid}`;

function lastJson<T>(r: Result): T {
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as T;
}

t.test('a kept sandbox\'s changes are capped as the tmpfs is: bytes and inodes, and commit and rm work after', { skip: NEEDS_ROOT }, async (t) => {
  const MiB = 1 << 20;
  const bytesName = `${name}-bytes`;
  const inodesName = `${name}-inodes`;
  const capped = image;
  t.teardown(async () => {
    await warren(['kept', 'rm', bytesName], { env });
    await warren(['kept', 'rm', inodesName], { env });
    await warren(['image', 'rm', capped], { env });
  });
  const fill = await warren(['run', ...probeVolume(), '--tmpfs', '8m', '--name', bytesName, '--keep', '--', '/probe/probe', 'fill', '/big'], { env });
  t.equal(fill.code, 0, fill.stderr);
  const filled = lastJson<ProbeFill>(fill);
  t.equal(filled.errno, 28, 'writing past the cap fails with ENOSPC');
  t.ok(filled.bytes >= 6 * MiB && filled.bytes <= 10 * MiB, `about 8 MiB went in (${filled.bytes} bytes)`);
  t.equal(filled.unlink_errno, 0);

  const committed = await warren(['commit', bytesName, capped], { env });
  t.equal(committed.code, 0, `commit works after: ${committed.stderr}`);
  t.equal((await warren(['kept', 'rm', bytesName], { env })).code, 0, 'and rm');
  t.notOk(fs.existsSync(path.join(dirs.state, 'kept', bytesName)));

  const many = await warren(['run', ...probeVolume(), '--name', inodesName, '--keep', '--', '/probe/probe', 'inodes', '/many'], { env });
  t.equal(many.code, 0, many.stderr);
  const made = lastJson<ProbeInodes>(many);
  t.equal(made.errno, 28, 'making files past the inode cap fails with ENOSPC');
  t.ok(made.files >= 15_000 && made.files <= 17_000, `about 16384 files went in (${made.files})`);
  t.equal((await warren(['kept', 'rm', inodesName], { env })).code, 0, 'rm works after');
  t.same(fs.readdirSync(path.join(dirs.state, 'kept')).filter((f) => f.startsWith(name)), [], 'nothing of either is left');
});
