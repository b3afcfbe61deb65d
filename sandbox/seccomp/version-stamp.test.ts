import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { libseccompVersionStamped, mappedLibseccomp } from './version-stamp.js';

t.test('the library is loaded once, then only when its file changes', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-stamp-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const lib = path.join(dir, 'libseccomp.so.2.5.4');
  fs.writeFileSync(lib, 'v1');
  const stamp = path.join(dir, 'cache', 'libseccomp.json');
  let loads = 0;
  const loader = (version: string) => () => {
    loads++;
    return { version, path: lib };
  };
  t.equal(libseccompVersionStamped(stamp, loader('2.5.4')), '2.5.4');
  t.equal(libseccompVersionStamped(stamp, loader('never asked')), '2.5.4', 'the stamp answers');
  t.equal(loads, 1);
  // an upgrade replaces the file
  fs.rmSync(lib);
  fs.writeFileSync(lib, 'v2, longer');
  t.equal(libseccompVersionStamped(stamp, loader('2.5.5')), '2.5.5', 'a changed file is loaded again');
  t.equal(loads, 2);
  fs.writeFileSync(stamp, 'not json');
  t.equal(libseccompVersionStamped(stamp, loader('2.5.5')), '2.5.5', 'a broken stamp is replaced');
  t.equal(loads, 3);
});

t.test('the mapped libseccomp is read from a maps file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-maps-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const maps = path.join(dir, 'maps');
  fs.writeFileSync(maps, [
    '7f0000000000-7f0000001000 r--p 00000000 fe:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6',
    '7f0000002000-7f0000003000 r--p 00000000 fe:01 456 /usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4',
    '',
  ].join('\n'));
  t.equal(mappedLibseccomp(maps), '/usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4');
  fs.writeFileSync(maps, '7f0000000000-7f0000001000 r--p 00000000 fe:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6\n');
  t.equal(mappedLibseccomp(maps), undefined);
});
