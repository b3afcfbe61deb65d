/**
 * Save-on-write: a kept sandbox's changes become a new image with `warren commit`, deletions
 * included, and the image it ran on never changes.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { imageLayerPaths } from '../../snapshots/index.js';
import { NEEDS_ROOT, testDirs, testEnv, warren } from './helpers.js';

const dirs = testDirs('wrntest-commit');
const env = testEnv(dirs);
const name = `wrntest-keep-${process.pid}`;
const image = `wrntest-committed-${process.pid}`;

function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d).sort()) {
      const p = path.join(d, e);
      const st = fs.lstatSync(p);
      h.update(`${path.relative(dir, p)} ${st.mode} ${st.uid}\n`);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) h.update(fs.readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

t.test('write, commit, run the new image: changes and deletions are there, the base is unchanged', { skip: NEEDS_ROOT }, async (t) => {
  t.teardown(async () => {
    await warren(['kept', 'rm', name], { env });
    fs.rmSync(path.join(dirs.state, 'images', `${image}.json`), { force: true });
  });
  await warren(['run', '--', 'node', '-e', '0'], { env });
  const base = imageLayerPaths(dirs.state, 'node');
  const before = base.map(treeHash);

  const wrote = await warren(['run', '--name', name, '--keep', '--', 'node', '-e',
    `const fs = require('fs');
     fs.writeFileSync('/etc/motd', 'made inside\\n');
     fs.mkdirSync('/srv/app', { recursive: true });
     fs.writeFileSync('/srv/app/data', 'payload');
     fs.rmSync('/etc/nsswitch.conf');`], { env });
  t.equal(wrote.code, 0, wrote.stderr);
  const again = await warren(['run', '--name', name, '--keep', '--', 'true'], { env });
  t.equal(again.code, 125, 'a kept name is not reused');
  t.match(again.stderr, /exists/);

  const committed = await warren(['commit', name, image], { env });
  t.equal(committed.code, 0, committed.stderr);
  const top = imageLayerPaths(dirs.state, image)[0] as string;
  t.same(['hosts', 'hostname', 'resolv.conf'].filter((f) => fs.existsSync(path.join(top, 'etc', f))), [],
    "warren's own /etc files are not committed (bound over the image's, as Docker does)");
  const seen = await warren(['run', '--image', image, '--', 'node', '-e',
    `const fs = require('fs');
     console.log(JSON.stringify({ motd: fs.readFileSync('/etc/motd', 'utf8'), data: fs.readFileSync('/srv/app/data', 'utf8'),
       owner: fs.statSync('/srv/app/data').uid, nsswitch: fs.existsSync('/etc/nsswitch.conf'), node: process.version }));`], { env });
  t.equal(seen.code, 0, seen.stderr);
  t.same(JSON.parse(seen.stdout), { motd: 'made inside\n', data: 'payload', owner: 0, nsswitch: false, node: process.version },
    'the file is there, owned by root inside; the deleted base file stays deleted');

  const plain = await warren(['run', '--', 'node', '-e', `const fs = require('fs'); console.log(fs.existsSync('/etc/motd'), fs.existsSync('/etc/nsswitch.conf'))`], { env });
  t.equal(plain.stdout.trim(), 'false true', 'the base image is unchanged as a sandbox sees it');
  t.same(base.map(treeHash), before, 'and on disk, byte for byte');

  t.equal((await warren(['kept', 'rm', name], { env })).code, 0);
  t.notOk(fs.existsSync(path.join(dirs.state, 'kept', name)), 'rm drops the changes');
  const gone = await warren(['commit', name, image], { env });
  t.equal(gone.code, 125);
  t.match(gone.stderr, /no kept sandbox named/);
});
