/**
 * Function bundles as layers: the same bytes are one layer, the module file is read-only for
 * everyone, and GC keeps a bundle layer only while `keep` names it. No root needed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { BUNDLE_FILE, bundlePath, collectLayers, LayerStore, putBundle, readBundle } from './index.js';

function stateDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-bundles-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const MODULE = 'export default { fetch: () => new Response("hi") };\n';

t.test('a bundle is a layer holding the module, named by its content', async (t) => {
  const dir = stateDir(t);
  const old = process.umask(0o077);
  let stored;
  try {
    stored = await putBundle(dir, MODULE);
  } finally {
    process.umask(old);
  }
  t.equal(stored.sizeBytes, Buffer.byteLength(MODULE));
  t.equal(stored.path, path.join(dir, 'layers', stored.digest, BUNDLE_FILE));
  t.equal(bundlePath(dir, stored.digest), stored.path);
  t.equal(fs.statSync(stored.path).mode & 0o777, 0o444, 'readable by any sandbox uid, writable by none');
  t.equal(fs.statSync(path.dirname(stored.path)).mode & 0o777, 0o755);
  t.equal((await readBundle(dir, stored.digest)).toString(), MODULE);
  t.ok(await new LayerStore(dir).verify(stored.digest));

  t.equal((await putBundle(dir, Buffer.from(MODULE))).digest, stored.digest, 'same bytes, same layer, whatever the umask');
  t.not((await putBundle(dir, `${MODULE}// 2\n`)).digest, stored.digest);
  t.equal((await new LayerStore(dir).list()).length, 2);
});

t.test('a missing or malformed bundle digest is a clear error', async (t) => {
  const dir = stateDir(t);
  await t.rejects(readBundle(dir, 'f'.repeat(64)), { code: 'WARREN_LAYER_NOT_FOUND', message: `bundle layer '${'f'.repeat(64)}' is missing` });
  t.throws(() => bundlePath(dir, '../x'), { code: 'WARREN_LAYER_INVALID_DIGEST' });
});

t.test('gc removes a bundle layer nothing names, and keeps one in `keep`', async (t) => {
  const dir = stateDir(t);
  const named = await putBundle(dir, MODULE);
  const free = await putBundle(dir, 'export default {};\n');
  const report = await collectLayers(dir, { graceMs: 0, keep: new Set([named.digest]) });
  t.same(report.removed, [free.digest]);
  t.equal((await readBundle(dir, named.digest)).toString(), MODULE);
});
