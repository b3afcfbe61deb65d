/**
 * Regression: a sandbox's io dir had no size or inode cap. It was a plain dir under the host's run
 * dir (/run: a small tmpfs shared by the whole host on most machines), bind-mounted read-write into
 * the sandbox, so a sandbox with `--tmpfs 8m --memory 64m` wrote 201 MiB into it. The io dir is now
 * a tmpfs of its own, capped (1 MiB and 64 inodes by default), mounted by the host before the spawn
 * and unmounted at release. This test fills it from inside sandboxes, fresh and made ahead (the
 * standby pool: their mount namespace was copied before the io tmpfs existed), and checks each
 * write past the cap fails with ENOSPC, the host sees what was written inside the cap, and nothing
 * (dir or mount) is left after.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { IO_DIR } from '../../runtime/index.js';
import { SandboxHost } from '../../sandbox/index.js';
import { UID_BASE_DEFAULT } from '../../sandbox/defaults.js';
import { makeIoDir } from '../../sandbox/io-dir.js';
import { ensureNodeImage } from '../../cli/wiring.js';
import { imageLayerPaths, NODE_IMAGE } from '../../snapshots/index.js';
import { NEEDS_ROOT, testDirs } from '../integration/helpers.js';

const dirs = testDirs('wrntest-regress-io');

/** Run inside: fill the io dir past its bytes, then past its inodes; report the errors there. */
const FILL = `
const fs = require('fs');
const io = ${JSON.stringify(IO_DIR)};
const out = { bytes: 0, bytesErr: null, files: 0, filesErr: null };
const fd = fs.openSync(io + '/big', 'w');
try {
  const chunk = Buffer.alloc(64 * 1024, 1);
  for (let i = 0; i < 256; i++) { fs.writeSync(fd, chunk); out.bytes += chunk.length; }
} catch (e) { out.bytesErr = e.code; }
fs.closeSync(fd); // else its blocks stay allocated after the rm
fs.rmSync(io + '/big', { force: true });
try {
  for (let i = 0; i < 1000; i++) { fs.writeFileSync(io + '/f' + i, ''); out.files++; }
} catch (e) { out.filesErr = e.code; }
for (let i = 0; i < out.files; i++) fs.rmSync(io + '/f' + i);
fs.writeFileSync(io + '/result.tmp', JSON.stringify(out));
fs.renameSync(io + '/result.tmp', io + '/result.json');
setInterval(() => {}, 1000);
`;

function mountsAt(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === dir);
}

async function waitForFile(file: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!fs.existsSync(file)) {
    if (Date.now() > end) throw new Error(`no '${file}' after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

t.test('a sandbox cannot write past its io dir cap, fresh or made ahead, and leaves nothing', { skip: NEEDS_ROOT }, async (t) => {
  await ensureNodeImage(dirs.state);
  const host = await SandboxHost.open({ dirs, spare: 1 });
  t.teardown(() => host.close());
  // the first is cloned on request; the others are taken from the standby pool its create refilled
  for (let round = 0; round < 3; round++) {
    const sandbox = await host.create({
      argv: ['/usr/local/bin/node', '-e', FILL],
      layers: imageLayerPaths(dirs.state, NODE_IMAGE),
      stdio: ['null', 'null', 'null'],
      io: { dst: IO_DIR },
    });
    const ioDir = sandbox.ioDir as string;
    await waitForFile(path.join(ioDir, 'result.json'), 30_000);
    const seen = JSON.parse(fs.readFileSync(path.join(ioDir, 'result.json'), 'utf8')) as Record<string, unknown>;
    t.match(seen, { bytesErr: 'ENOSPC', filesErr: 'ENOSPC' }, `round ${round}: writes past the cap fail with ENOSPC`);
    t.ok((seen.bytes as number) <= 1024 * 1024, `round ${round}: at most 1 MiB went in (${String(seen.bytes)})`);
    t.ok((seen.files as number) < 64, `round ${round}: fewer than 64 files went in (${String(seen.files)})`);
    const st = fs.statSync(ioDir);
    t.ok(st.uid >= UID_BASE_DEFAULT && (st.mode & 0o777) === 0o700, `round ${round}: owned by the sandbox's root, mode 0700`);
    t.equal(mountsAt(ioDir).length, 1, `round ${round}: the host sees one tmpfs on the io dir`);
    t.match(mountsAt(ioDir)[0], / - tmpfs /);
    await sandbox.destroy();
    t.notOk(fs.existsSync(ioDir), `round ${round}: the io dir is gone`);
    t.same(mountsAt(ioDir), [], `round ${round}: its mount is gone`);
  }
});

t.test('a cap that is not a positive integer is refused before anything is made', async (t) => {
  for (const cap of [{ sizeBytes: '1,uid=0' as unknown as number }, { inodes: 0 }, { sizeBytes: 1.5 }]) {
    t.throws(() => makeIoDir('/nonexistent-wrntest', 'w0', 0, cap), { name: 'WarrenError', code: 'WARREN_IO_BAD_CAP' }, JSON.stringify(cap));
  }
});
