/**
 * Unit tests for tarball import: good archives from the system `tar` (GNU
 * and pax, plain and gzip) import to one stable digest; crafted malicious
 * ones are refused naming the entry and leave the store as it was. No root
 * needed; ownership from headers is checked only as root (only root can chown).
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { importImage } from './import.js';
import { readImage } from './image.js';
import { LayerStore, removeTree } from './store.js';
import { readTar } from './tar.js';
import { fixChecksum, paxRecord, tar, tarHeader as header, type TarTestEntry as Entry } from '../test/tar-writer.js';

const isRoot = process.geteuid?.() === 0;

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'warren-import-'));
  // removeTree: a layer may hold a 0555 dir, which a non-root rm -rf cannot empty.
  t.teardown(() => removeTree(dir));
  return dir;
}

// --- the store, before and after ---

function listing(state: string): string[] {
  const list = (d: string) => (existsSync(join(state, d)) ? readdirSync(join(state, d)).map((n) => `${d}/${n}`) : []);
  return [...list('layers'), ...list('images')].sort();
}

const LONG = `${'deep/'.repeat(25)}name-longer-than-a-ustar-header-holds.txt`;

/** A tree with every kind of entry import supports. */
function goodTree(root: string): void {
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'etc/ro'), { recursive: true });
  mkdirSync(join(root, LONG, '..'), { recursive: true });
  writeFileSync(join(root, 'bin/tool'), '#!/bin/sh\necho tool\n');
  chmodSync(join(root, 'bin/tool'), 0o4755);
  writeFileSync(join(root, 'etc/ro/conf'), 'x=1\n');
  chmodSync(join(root, 'etc/ro'), 0o555);
  writeFileSync(join(root, LONG), 'long');
  linkSync(join(root, 'bin/tool'), join(root, 'bin/tool-hardlink'));
  symlinkSync('tool', join(root, 'bin/rel'));
  symlinkSync('/etc/ro/conf', join(root, 'bin/abs'));
  symlinkSync(`/${LONG}`, join(root, 'bin/long-target'));
  // A symlink to the host's root is fine as long as nothing goes through it.
  symlinkSync('/', join(root, 'hostroot'));
}

function systemTar(src: string, out: string, format: string): string {
  execFileSync('tar', [`--format=${format}`, '-C', src, '-cf', out, '.']);
  return out;
}

t.test('good archives import, and to the same digest', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src');
  goodTree(src);
  const state = join(dir, 'state');
  const gnu = systemTar(src, join(dir, 'gnu.tar'), 'gnu');
  const pax = systemTar(src, join(dir, 'pax.tar'), 'pax');
  const gz = join(dir, 'gnu.tar.gz');
  writeFileSync(gz, gzipSync(readFileSync(gnu)));
  // Or a non-root teardown could not remove what is inside.
  chmodSync(join(src, 'etc/ro'), 0o755);

  const first = await importImage(state, 'good', gnu);
  const [digest] = first.image.layers;
  if (!digest) throw new Error('no layer');
  t.equal(first.image.layers.length, 1, 'one layer');
  t.same(readImage(state, 'good'), first.image, 'the manifest is written');
  const layer = new LayerStore(state).path(digest);

  t.equal(readFileSync(join(layer, 'bin/tool'), 'utf8'), '#!/bin/sh\necho tool\n');
  t.equal(statSync(join(layer, 'bin/tool')).mode & 0o7777, 0o755, 'setuid is stripped');
  t.equal(statSync(join(layer, 'bin/tool-hardlink')).ino, statSync(join(layer, 'bin/tool')).ino, 'a hard link is a hard link');
  t.equal(readlinkSync(join(layer, 'bin/rel')), 'tool');
  t.equal(readlinkSync(join(layer, 'bin/abs')), '/etc/ro/conf');
  t.equal(readlinkSync(join(layer, 'hostroot')), '/');
  t.equal(readlinkSync(join(layer, 'bin/long-target')), `/${LONG}`, 'a link target of more than 100 bytes');
  t.equal(statSync(join(layer, 'etc/ro')).mode & 0o7777, 0o555, 'a read-only dir keeps its mode');
  t.equal(readFileSync(join(layer, 'etc/ro/conf'), 'utf8'), 'x=1\n');
  t.equal(readFileSync(join(layer, LONG), 'utf8'), 'long', 'a name of more than 100 bytes');
  t.equal(statSync(join(layer, 'bin/tool')).mtimeMs, statSync(join(src, 'bin/tool')).mtimeMs - (statSync(join(src, 'bin/tool')).mtimeMs % 1000), 'mtime from the header');
  for (const [d, mode] of [['proc', 0o555], ['sys', 0o555], ['dev', 0o755], ['tmp', 0o1777], ['etc', 0o755]] as const) {
    t.ok(lstatSync(join(layer, d)).isDirectory(), `/${d} is made`);
    t.equal(lstatSync(join(layer, d)).mode & 0o7777, mode, `/${d} is ${mode.toString(8)}`);
  }
  if (isRoot) t.equal(statSync(join(layer, 'bin/tool')).uid, statSync(join(src, 'bin/tool')).uid, 'owner from the header');

  const again = await importImage(state, 'again', gnu);
  t.equal(again.image.layers[0], digest, 'importing twice gives the same digest');
  t.equal((await importImage(state, 'pax', pax)).image.layers[0], digest, 'pax format: same tree, same digest');
  t.equal((await importImage(state, 'gz', gz)).image.layers[0], digest, 'gzip: same digest');
  t.equal(await new LayerStore(state).verify(digest), true);
  t.same(readdirSync(join(state, 'layers')), [digest], 'one layer, no temp dirs');

  const replaced = await importImage(state, 'good', gz);
  t.not(replaced.image.created, first.image.created, 'importing over a name replaces its manifest');
});

t.test('a bare archive gets the dirs a sandbox needs; a symlinked /etc is left as it is', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'bare.tar'), tar([{ name: 'etc', type: '2', link: 'usr/etc' }, { name: 'usr/etc/', type: '5' }]));
  const { image } = await importImage(join(dir, 'state'), 'bare', join(dir, 'bare.tar'));
  const layer = new LayerStore(join(dir, 'state')).path(image.layers[0] as string);
  t.same(readdirSync(layer).sort(), ['dev', 'etc', 'proc', 'sys', 'tmp', 'usr']);
  t.equal(readlinkSync(join(layer, 'etc')), 'usr/etc', 'written after pivot_root, so it resolves inside the sandbox');
});

t.test('ownership comes from the header', { skip: isRoot ? false : 'only root can chown' }, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'own.tar');
  writeFileSync(file, tar([
    { name: 'd/', type: '5', uid: 1234, gid: 5678, mode: 0o2750 },
    { name: 'd/f', data: 'x', uid: 4321, gid: 8765, mode: 0o6640 },
    { name: 'l', type: '2', link: 'd/f', uid: 99, gid: 98 },
  ]));
  const { image } = await importImage(join(dir, 'state'), 'own', file);
  const layer = new LayerStore(join(dir, 'state')).path(image.layers[0] as string);
  t.match(statSync(join(layer, 'd')), { uid: 1234, gid: 5678 });
  t.equal(statSync(join(layer, 'd')).mode & 0o7777, 0o750, 'setgid stripped from a dir');
  t.match(statSync(join(layer, 'd/f')), { uid: 4321, gid: 8765 });
  t.equal(statSync(join(layer, 'd/f')).mode & 0o7777, 0o640);
  t.match(lstatSync(join(layer, 'l')), { uid: 99, gid: 98 }, 'a symlink is lchowned, its target untouched');
});

t.test('malicious archives are refused, naming the entry, and leave nothing', async (t) => {
  const dir = tempDir(t);
  const state = join(dir, 'state');
  const outside = join(dir, 'outside');
  mkdirSync(outside);
  // A good image first, so "unchanged" means something.
  writeFileSync(join(dir, 'ok.tar'), tar([{ name: 'ok', data: 'ok' }]));
  await importImage(state, 'ok', join(dir, 'ok.tar'));
  const before = listing(state);

  const cases: Array<[string, Entry[], string, RegExp]> = [
    ['dotdot', [{ name: '../evil', data: 'x' }], 'UNSAFE', /^refusing entry '\.\.\/evil': '\.\.' escapes the root$/],
    ['dotdot inside', [{ name: './a/../../evil', data: 'x' }], 'UNSAFE', /^refusing entry '\.\/a\/\.\.\/\.\.\/evil': '\.\.' escapes the root$/],
    ['absolute', [{ name: '/abs', data: 'x' }], 'UNSAFE', /^refusing entry '\/abs': absolute path/],
    ['through a symlink to /', [{ name: 'link', type: '2', link: '/' }, { name: 'link/etc/passwd', data: 'root::0:0::/:/bin/sh\n' }],
      'UNSAFE', /^refusing entry 'link\/etc\/passwd': goes through symlink 'link'$/],
    ['through a symlink outside', [{ name: 'out', type: '2', link: outside }, { name: 'out/pwned', data: 'x' }],
      'UNSAFE', /^refusing entry 'out\/pwned': goes through symlink 'out'$/],
    ['through a symlink to ..', [{ name: 'd', type: '2', link: '..' }, { name: 'd/x', data: 'x' }],
      'UNSAFE', /^refusing entry 'd\/x': goes through symlink 'd'$/],
    ['dir through a symlink', [{ name: 'd', type: '2', link: outside }, { name: 'd/sub/', type: '5' }],
      'UNSAFE', /^refusing entry 'd\/sub\/': goes through symlink 'd'$/],
    ['a dir over a symlink', [{ name: 'd', type: '2', link: outside }, { name: 'd/', type: '5' }],
      'UNSAFE', /^refusing entry 'd\/': an earlier entry of this path is not a directory$/],
    ['hard link to a host file', [{ name: 'shadow', type: '1', link: '/etc/shadow' }],
      'UNSAFE', /^refusing entry 'shadow': hard link to '\/etc\/shadow': absolute path/],
    ['hard link up', [{ name: 'h', type: '1', link: '../outside/f' }], 'UNSAFE', /^refusing entry 'h': hard link to '\.\.\/outside\/f': '\.\.' escapes/],
    ['hard link to nothing', [{ name: 'h', type: '1', link: 'nope' }],
      'UNSAFE', /^refusing entry 'h': hard link to 'nope', which is not a regular file extracted earlier$/],
    ['hard link through a symlink', [{ name: 'e', type: '2', link: '/etc' }, { name: 'h', type: '1', link: 'e/passwd' }],
      'UNSAFE', /^refusing entry 'h': goes through symlink 'e'$/],
    ['hard link to a dir', [{ name: 'd/', type: '5' }, { name: 'h', type: '1', link: 'd' }], 'UNSAFE', /which is not a regular file/],
    ['char device', [{ name: 'dev/', type: '5' }, { name: 'dev/mem', type: '3' }], 'UNSAFE', /^refusing entry 'dev\/mem': device node$/],
    ['block device', [{ name: 'sda', type: '4' }], 'UNSAFE', /^refusing entry 'sda': device node$/],
    ['fifo', [{ name: 'p', type: '6' }], 'UNSAFE', /^refusing entry 'p': fifo$/],
    ['unknown type', [{ name: 'v', type: 'V' }], 'UNSAFE', /^refusing entry 'v': unsupported entry type 'V'$/],
    ['file over a dir', [{ name: 'x/', type: '5' }, { name: 'x', data: 'y' }], 'UNSAFE', /^refusing entry 'x': would replace a directory$/],
    ['file as a parent', [{ name: 'f', data: 'y' }, { name: 'f/g', data: 'z' }], 'UNSAFE', /^refusing entry 'f\/g': 'f' is not a directory$/],
    ['mount point a symlink', [{ name: 'dev', type: '2', link: '/etc' }], 'UNSAFE', /^refusing entry 'dev': the sandbox mounts on it/],
    ['truncated', [{ name: 'f', data: 'x', size: 4096 }], 'CORRUPT', /truncated in the data of 'f'/],
  ];
  for (const [what, entries, code, message] of cases) {
    const file = join(dir, 'evil.tar');
    let archive = tar(entries);
    if (what === 'truncated') archive = archive.subarray(0, 512 + 512);
    writeFileSync(file, archive);
    await t.rejects(importImage(state, 'evil', file), { code: `WARREN_IMAGE_IMPORT_${code}`, message }, what);
    t.same(listing(state), before, `${what}: no layer, temp dir or manifest left`);
  }
  t.same(readdirSync(outside), [], 'nothing was written outside');

  const junk = join(dir, 'junk.tar');
  writeFileSync(junk, Buffer.alloc(2048, 'a'));
  await t.rejects(importImage(state, 'evil', junk), { code: 'WARREN_IMAGE_IMPORT_CORRUPT', message: /bad header checksum at offset 0/ });
  writeFileSync(junk, Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2]));
  await t.rejects(importImage(state, 'evil', junk), { code: 'WARREN_IMAGE_IMPORT_UNSUPPORTED', message: /compressed with xz/ });
  writeFileSync(junk, Buffer.concat([gzipSync(tar([{ name: 'f', data: 'x' }])).subarray(0, 30)]));
  await t.rejects(importImage(state, 'evil', junk), { code: 'WARREN_IMAGE_IMPORT_CORRUPT', message: /not valid gzip/ });
  t.same(listing(state), before, 'still unchanged');
});

t.test('archives over the size limit are refused', async (t) => {
  const dir = tempDir(t);
  const state = join(dir, 'state');
  const mib = 1024 * 1024;
  const big = tar([{ name: 'small', data: 'x' }, { name: 'big', data: Buffer.alloc(2 * mib) }]);
  writeFileSync(join(dir, 'big.tar'), big);
  await t.rejects(importImage(state, 'big', join(dir, 'big.tar'), { maxBytes: mib }), {
    code: 'WARREN_IMAGE_IMPORT_TOO_LARGE',
    message: /archive '.*big\.tar' \(\d+ bytes\) exceeds the import limit of 1 MiB/,
  }, 'the file itself is larger');

  // Compresses to a few KiB: only the uncompressed count can catch it.
  writeFileSync(join(dir, 'bomb.tar.gz'), gzipSync(big));
  await t.rejects(importImage(state, 'bomb', join(dir, 'bomb.tar.gz'), { maxBytes: mib }), {
    code: 'WARREN_IMAGE_IMPORT_TOO_LARGE',
    message: "entry 'big': the archive exceeds the import limit of 1 MiB",
  }, 'a gzip bomb is refused at the entry that passes the limit');
  t.same(listing(state), [], 'nothing left');

  await importImage(state, 'fits', join(dir, 'bomb.tar.gz'), { maxBytes: 3 * mib });
  t.equal(listing(state).length, 2, 'a larger limit lets it in');
});

async function* chunked(chunks: Buffer[]): AsyncGenerator<Buffer> {
  yield* chunks;
}

t.test('readTar: GNU base-256 numbers, ustar prefix, pax values', async (t) => {
  const h = header({ name: 'name', uid: 0 }, 'name', 0);
  // A uid of 2^33 does not fit 7 octal digits: GNU tar stores it base-256.
  const uid = Buffer.alloc(8);
  uid[0] = 0x80;
  uid.writeUIntBE(2 ** 33, 2, 6);
  uid.copy(h, 108);
  h.write('some/prefix', 345, 'latin1');
  fixChecksum(h);
  const entries = [];
  for await (const e of readTar(chunked([Buffer.concat([h, Buffer.alloc(1024)])]))) entries.push(e);
  t.match(entries, [{ path: 'some/prefix/name', uid: 2 ** 33, type: 'file', size: 0 }]);

  const chunks = [...tar([{ name: `${'x'.repeat(150)}/f`, data: 'abc' }, { name: 'g', data: 'd' }])].map((b) => Buffer.from([b]));
  const seen: string[] = [];
  // One byte per chunk: every read spans chunks.
  for await (const e of readTar(chunked(chunks))) {
    let body = '';
    for await (const c of e.body) body += c.toString();
    seen.push(`${e.path}=${body}`);
  }
  t.same(seen, [`${'x'.repeat(150)}/f=abc`, 'g=d']);

  // node-tar decodes each written piece of a pax header on its own: a character split between two
  // writes used to drop the record, and the entry took the header's truncated 100-byte name.
  const wide = `${'é'.repeat(200)}/${'ü'.repeat(200)}`;
  const names: string[] = [];
  for await (const e of readTar(chunked([...tar([{ name: wide, data: 'x' }])].map((b) => Buffer.from([b]))))) names.push(e.path);
  t.same(names, [wide], 'a pax name of 800 bytes, one byte per chunk');

  // A ustar prefix left in the header of an entry with a pax path: the pax path is the whole name.
  const paxed = tar([{ name: 'PaxHeader', type: 'x', data: paxRecord('path', 'real/name') }, { name: 'short', data: 'x' }]);
  paxed.write('ignored/prefix', 1024 + 345, 'latin1');
  fixChecksum(paxed.subarray(1024, 1536));
  const read: string[] = [];
  for await (const e of readTar(chunked([paxed]))) read.push(e.path);
  t.same(read, ['real/name'], 'a pax path replaces the ustar name and prefix');
});

async function refusal(archive: Buffer | Buffer[]): Promise<unknown> {
  try {
    for await (const e of readTar(chunked(Array.isArray(archive) ? archive : [archive]))) for await (const _ of e.body);
  } catch (err) {
    return err;
  }
  return null;
}

t.test('readTar refuses what the parser would read leniently', async (t) => {
  const bad = tar([{ name: 'ok', data: 'x' }, { name: 'n-m', data: 'y' }]);
  bad[1024] = 0xff; // the second header's name: not UTF-8, so a lossy decode could merge two names
  fixChecksum(bad.subarray(1024, 1536));
  t.match(await refusal(bad), { code: 'WARREN_IMAGE_IMPORT_UNSUPPORTED', message: /^the name of the entry at offset 1024 is not valid utf-8/ });

  const cut = tar([{ name: 'a', data: 'x' }, { name: 'b', data: 'y' }]).subarray(0, 1024);
  t.match(await refusal(cut), { code: 'WARREN_IMAGE_IMPORT_CORRUPT', message: /ends without its end-of-archive blocks/ }, 'cut between two entries');

  const sparse = tar([{ name: 'PaxHeader', type: 'x', data: paxRecord('GNU.sparse.major', '1') }, { name: 'f', data: 'x' }]);
  t.match(await refusal(sparse), { code: 'WARREN_IMAGE_IMPORT_UNSUPPORTED', message: /^sparse files are not supported/ });
  t.match(await refusal(tar([{ name: 'old-sparse', type: 'S' }])), { code: 'WARREN_IMAGE_IMPORT_UNSUPPORTED', message: /^sparse files are not supported: 'old-sparse'/ });

  const checksum = tar([{ name: 'a', data: 'x' }, { name: 'b', data: 'y' }]);
  checksum[1100] = 0x41; // a byte of the second header, its checksum left as it was
  t.match(await refusal(checksum), { code: 'WARREN_IMAGE_IMPORT_CORRUPT', message: /^bad header checksum at offset 1024/ }, 'the offset of the damaged header');

  const dir = tempDir(t);
  writeFileSync(join(dir, 'twice.tar.gz'), gzipSync(gzipSync(tar([{ name: 'f', data: 'x' }]))));
  await t.rejects(importImage(join(dir, 'state'), 'twice', join(dir, 'twice.tar.gz')), {
    code: 'WARREN_IMAGE_IMPORT_CORRUPT',
    message: /gzip inside gzip/,
  }, 'node-tar would gunzip the inner gzip, past the byte count of the outer one');
});
