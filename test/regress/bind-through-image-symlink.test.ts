/**
 * Regression: a bind mount's target was joined to the new root's host path and created with
 * mkdir/open before pivot_root, following symlinks in the image. An image holding `/evil ->
 * /run/wrntest-escape` (an absolute symlink, which a committed or imported image can hold) and a
 * run with `-v SRC:/evil/x` made /run/wrntest-escape/x on the host, as root. (Here the link is
 * `/evil -> /run`, a dir both the host and the image have, and the bind goes to /evil/<name>.) Binds are now taken
 * with open_tree before pivot_root and attached after it, so the target resolves inside the
 * sandbox's root. This test builds such an image by commit and checks the host stays untouched.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { NEEDS_ROOT, testDirs, testEnv, warren } from '../integration/helpers.js';

const env = testEnv(testDirs('wrntest-regress'));
const leaf = `wrntest-escape-${process.pid}`;
const escape = `/run/${leaf}`;

t.test('a bind target through an image symlink stays inside the sandbox', { skip: NEEDS_ROOT }, async (t) => {
  const name = `wrntest-evil-${process.pid}`;
  const image = `wrntest-evil-${process.pid}`;
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-src-'));
  fs.chmodSync(src, 0o755); // readable by the sandbox's root, an unprivileged uid on the host
  fs.writeFileSync(path.join(src, 'file'), 'from the host');
  t.teardown(async () => {
    await warren(['kept', 'rm', name], { env });
    await warren(['image', 'rm', image], { env });
    fs.rmSync(src, { recursive: true, force: true });
    fs.rmSync(escape, { recursive: true, force: true });
  });
  fs.rmSync(escape, { recursive: true, force: true });
  const made = await warren(['run', '--name', name, '--keep', '--', 'node', '-e', `require('fs').symlinkSync('/run', '/evil')`], { env });
  t.equal(made.code, 0, made.stderr);
  t.equal((await warren(['commit', name, image], { env })).code, 0);

  const r = await warren(['run', '--image', image, '-v', `${src}:/evil/${leaf}:ro`, '--', 'node', '-e',
    `console.log(require('fs').readFileSync('/run/${leaf}/file', 'utf8'))`], { env });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), 'from the host', 'the bind is at /run inside the sandbox, where the link points in its own root');
  t.notOk(fs.existsSync(escape), `nothing was made on the host at ${escape}`);
});
