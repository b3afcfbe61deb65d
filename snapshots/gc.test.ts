/**
 * Unit tests for layer GC and image removal: what is referenced stays, what
 * is young stays (an import may be about to write its manifest), the rest
 * goes. No root needed.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectLayers, referencedLayers } from './gc.js';
import { imageUsers, listImages, removeImage, writeImage } from './image.js';
import { LayerStore } from './store.js';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'warren-gc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const HOUR_AGO = new Date(Date.now() - 3600_000);

async function layer(store: LayerStore, content: string, old: boolean): Promise<string> {
  const digest = await store.add(async (dir) => writeFileSync(join(dir, 'f'), content));
  if (old) utimesSync(store.path(digest), HOUR_AGO, HOUR_AGO);
  return digest;
}

t.test('gc removes unreferenced layers older than the grace, and dead temp dirs', async (t) => {
  const state = tempDir(t);
  const store = new LayerStore(state);
  const used = await layer(store, 'used', true);
  const young = await layer(store, 'young', false);
  const old = await layer(store, 'old', true);
  await writeImage(state, { name: 'app', layers: [used], created: new Date().toISOString() });
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  mkdirSync(join(store.dir, `.tmp-${dead}-abc`));
  t.same([...referencedLayers(state)], [used]);

  const first = await collectLayers(state);
  t.same(first, { removed: [old], young: [young], mounted: [], temps: 1 });
  t.same(readdirSync(store.dir).sort(), [used, young].sort(), 'the old one and the temp dir are gone');

  const now = await collectLayers(state, { graceMs: 0 });
  t.same(now, { removed: [young], young: [], mounted: [], temps: 0 }, 'graceMs 0 takes young layers too');
  t.same(readdirSync(store.dir), [used], 'a referenced layer always stays');
});

t.test('a layer a running sandbox has mounted stays, even with no manifest and no grace', async (t) => {
  const state = tempDir(t);
  const store = new LayerStore(state);
  const mounted = await layer(store, 'mounted', true);
  const free = await layer(store, 'free', true);
  // what a sandbox records: the real path of each lower dir (the temp dir may sit behind a symlink)
  const inUse = new Set([realpathSync(store.path(mounted)), '/elsewhere/not-a-layer']);
  const report = await collectLayers(state, { graceMs: 0, inUse });
  t.same(report, { removed: [free], young: [], mounted: [mounted], temps: 0 });
  t.same(readdirSync(store.dir), [mounted]);
  t.same((await collectLayers(state, { graceMs: 0 })).removed, [mounted], 'once its sandbox has ended, it goes');
});

t.test('a layer reused by add() counts as new again', async (t) => {
  const state = tempDir(t);
  const store = new LayerStore(state);
  const digest = await layer(store, 'same', true);
  t.ok(statSync(store.path(digest)).mtimeMs < Date.now() - 60_000);
  t.equal(await layer(store, 'same', false), digest, 'same content, same layer');
  t.ok(statSync(store.path(digest)).mtimeMs > Date.now() - 10_000, 'add() touched it');
  // An import reusing it writes its manifest next; until then the grace keeps it.
  t.same((await collectLayers(state)).young, [digest]);
  t.ok(store.has(digest));
});

t.test('remove() keeps a young layer and reports a missing one', async (t) => {
  const store = new LayerStore(tempDir(t));
  const digest = await layer(store, 'x', false);
  t.equal(await store.remove(digest, 60_000), false);
  t.ok(store.has(digest));
  t.equal(await store.remove(digest, 0), true);
  t.notOk(store.has(digest));
  t.equal(await store.remove(digest, 0), false, 'already gone');
  t.same(readdirSync(store.dir), [], 'no temp dir left');
});

t.test('gc stops at an unreadable manifest rather than guess', async (t) => {
  const state = tempDir(t);
  const store = new LayerStore(state);
  const digest = await layer(store, 'x', true);
  mkdirSync(join(state, 'images'));
  writeFileSync(join(state, 'images/broken.json'), '{');
  await t.rejects(collectLayers(state, { graceMs: 0 }), { code: 'WARREN_IMAGE_CORRUPT' });
  t.ok(store.has(digest), 'nothing removed');
});

t.test('removeImage', async (t) => {
  const state = tempDir(t);
  const store = new LayerStore(state);
  const digest = await layer(store, 'x', false);
  await writeImage(state, { name: 'node', layers: [digest], created: new Date().toISOString() });
  await writeImage(state, { name: 'app', layers: [digest], created: new Date().toISOString() });
  t.same(imageUsers(state, 'app'), [], 'nothing keeps sandboxes yet');
  await removeImage(state, 'app');
  t.same(listImages(state).map((i) => i.name), ['node']);
  t.ok(existsSync(store.path(digest)), 'its layers stay until gc');
  await removeImage(state, 'node');
  t.same(listImages(state), [], 'the built-in node can go: it is rebuilt when needed');
  await t.rejects(removeImage(state, 'app'), { code: 'WARREN_IMAGE_NOT_FOUND', message: "unknown image 'app'" });
  await t.rejects(removeImage(state, '../x'), { code: 'WARREN_IMAGE_INVALID_NAME' });
});
