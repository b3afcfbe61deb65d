/**
 * Opening the registry: its files are 0600 (secrets are in them) whatever the umask; one writer
 * per state dir; a damaged or too-new file is a clear error, not a crash; a reader beside the
 * writer sees its data; a crashed deploy's leftovers go at the next open. No root needed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { openRegistry, registryBundleDigests, type NewVersion } from './index.js';
import { openDatabase } from './sqlite.js';

function stateDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-registry-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const spec = (c: string): NewVersion => ({
  digest: c.repeat(64),
  sizeBytes: 1,
  limits: { memoryBytes: 1 << 27, cpus: 1, timeoutMs: 1000, concurrency: 1 },
  egress: 'public',
  vars: {},
});

const mode = (file: string) => fs.statSync(file).mode & 0o777;

t.test('the db, its -wal and -shm are 0600 even with umask 0', async (t) => {
  const dir = path.join(stateDir(t), 'state');
  const old = process.umask(0);
  let r;
  try {
    r = openRegistry(dir);
  } finally {
    process.umask(old);
  }
  t.teardown(() => r.close());
  r.addVersion('fn', spec('a'));
  const file = path.join(dir, 'registry.db');
  for (const f of [file, `${file}-wal`, `${file}-shm`, path.join(dir, 'registry.lock')]) t.equal(mode(f), 0o600, path.basename(f));
  t.equal(mode(dir), 0o700, 'a state dir it makes is private too');
});

t.test('a db some earlier run left readable by others is made 0600', async (t) => {
  const dir = stateDir(t);
  openRegistry(dir).close();
  const file = path.join(dir, 'registry.db');
  fs.chmodSync(file, 0o644);
  const r = openRegistry(dir);
  t.teardown(() => r.close());
  t.equal(mode(file), 0o600);
  t.equal(mode(`${file}-wal`), 0o600);
});

t.test('a second writer on one state dir is refused until the first closes', async (t) => {
  const dir = stateDir(t);
  const first = openRegistry(dir);
  t.teardown(() => first.close());
  t.throws(() => openRegistry(dir), {
    code: 'WARREN_REGISTRY_LOCKED',
    message: `state dir '${dir}' is in use by another warren serve (it holds '${path.join(dir, 'registry.lock')}'): give each server its own --state-dir`,
  });
  first.addVersion('fn', spec('a'));
  first.setLive('fn', 1, 'deploy');
  first.addVersion('fn', spec('b'));

  // warren image gc reads beside a running server
  t.same(registryBundleDigests(dir), new Set(['a'.repeat(64), 'b'.repeat(64)]));
  const reader = openRegistry(dir, { readonly: true });
  t.equal(reader.getFunction('fn').live.version, 1);
  t.throws(() => reader.putSecret('fn', 'K', 'v'), { code: 'WARREN_REGISTRY_IO' }, 'a reader cannot write');
  reader.close();
  t.equal(first.version('fn', 2).digest, 'b'.repeat(64), 'the reader did not sweep the writer\'s deploy in progress');

  first.close();
  const second = openRegistry(dir);
  second.close();
  t.pass('the lock goes with close');
});

t.test('no registry: no digests, and nothing made', async (t) => {
  const dir = stateDir(t);
  t.same(registryBundleDigests(dir), new Set());
  t.same(fs.readdirSync(dir), []);
});

t.test('a damaged file is WARREN_REGISTRY_CORRUPT, and the lock is let go', async (t) => {
  const dir = stateDir(t);
  const file = path.join(dir, 'registry.db');
  fs.writeFileSync(file, Buffer.alloc(8192, 0x5a), { mode: 0o600 });
  const err = t.throws(() => openRegistry(dir), { code: 'WARREN_REGISTRY_CORRUPT' }) as Error;
  t.match(err.message, `registry '${file}' is damaged or not a sqlite database`);
  t.match(err.message, 'move it away');
  t.throws(() => registryBundleDigests(dir), { code: 'WARREN_REGISTRY_CORRUPT' }, 'gc stops rather than guess');
  fs.rmSync(file);
  openRegistry(dir).close();
  t.pass('a fresh open works: the failed one released its lock');
});

t.test('a row damaged behind its back is WARREN_REGISTRY_CORRUPT', async (t) => {
  const dir = stateDir(t);
  const r = openRegistry(dir);
  r.addVersion('fn', spec('a'));
  r.setLive('fn', 1, 'deploy');
  r.close();
  const raw = openDatabase(path.join(dir, 'registry.db'), false);
  raw.exec(`UPDATE versions SET vars = '{nope'`);
  raw.close();
  const again = openRegistry(dir);
  t.teardown(() => again.close());
  t.throws(() => again.getFunction('fn'), { code: 'WARREN_REGISTRY_CORRUPT', message: /vars of version 1 of 'fn' is not JSON/ });
});

t.test('a registry of a newer schema is refused, not changed', async (t) => {
  const dir = stateDir(t);
  openRegistry(dir).close();
  const raw = openDatabase(path.join(dir, 'registry.db'), false);
  raw.pragma('user_version = 7');
  raw.close();
  t.throws(() => openRegistry(dir), { code: 'WARREN_REGISTRY_OPEN', message: /schema version 7, this warren knows up to 2: a newer warren made it/ });
});

t.test('an open after a crash forgets deploys that never finished', async (t) => {
  const dir = stateDir(t);
  const crashed = openRegistry(dir);
  crashed.addVersion('new', spec('a'));
  crashed.addVersion('old', spec('b'));
  crashed.setLive('old', 1, 'deploy');
  crashed.addVersion('old', spec('c'));
  // no setLive nor discard: the server died while the modules loaded
  crashed.close();

  const r = openRegistry(dir);
  t.teardown(() => r.close());
  t.same(r.listFunctions().map((f) => f.name), ['old']);
  t.same(r.versions('old').map((v) => v.version), [1]);
  t.same(r.bundleDigests(), new Set(['b'.repeat(64)]), 'their bundles are free for GC');
  t.equal(r.addVersion('new', spec('d')).version, 2, 'their numbers stay used');
  t.equal(r.addVersion('old', spec('e')).version, 3);
});

t.test('a state dir that cannot be made is WARREN_REGISTRY_OPEN naming it', async (t) => {
  const dir = path.join(stateDir(t), 'file');
  fs.writeFileSync(dir, '');
  t.throws(() => openRegistry(path.join(dir, 'state')), { code: 'WARREN_REGISTRY_OPEN', message: /ENOTDIR.*file\/state/ });
});
