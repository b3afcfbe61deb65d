/**
 * Layer GC with a registry in the state dir, as `warren image gc` runs it: a bundle layer that a
 * version names stays (live or not yet live), one no version names any more goes. No root needed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { collectLayers, putBundle } from '../snapshots/index.js';
import { openRegistry, registryBundleDigests, type NewVersion } from './index.js';

const version = (digest: string): NewVersion => ({
  digest,
  sizeBytes: 1,
  limits: { memoryBytes: 1 << 27, cpus: 1, timeoutMs: 1000, concurrency: 1 },
  egress: 'none',
  vars: {},
});

t.test('gc keeps the bundles the registry names and removes the others', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-registry-gc-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = openRegistry(dir);
  t.teardown(() => r.close());
  const live = await putBundle(dir, 'export default { fetch() { return new Response("1") } };');
  const loading = await putBundle(dir, 'export default { fetch() { return new Response("2") } };');
  const removed = await putBundle(dir, 'export default { fetch() { return new Response("3") } };');
  r.addVersion('a', version(live.digest));
  r.setLive('a', 1, 'deploy');
  r.addVersion('a', version(loading.digest));
  r.addVersion('b', version(removed.digest));
  r.setLive('b', 1, 'deploy');
  r.removeFunction('b');

  // the server keeps running: gc reads its registry beside it
  const report = await collectLayers(dir, { graceMs: 0, keep: registryBundleDigests(dir) });
  t.same(report.removed, [removed.digest]);
  t.ok(fs.existsSync(live.path), 'the live version keeps its bundle');
  t.ok(fs.existsSync(loading.path), 'a version still loading keeps its bundle');
});
