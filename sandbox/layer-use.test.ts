/**
 * Unit tests for the layer-use records (layer-use.ts) on a temp run dir: a record counts while its
 * sandbox's uid lease has a live owner, and `warren gc` sweeps it once the owner is gone. The
 * lease owner's liveness is injected, so no process has to die. No root needed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { LeaseSet } from '../lib/leases.js';
import { UID_LEASES } from './defaults.js';
import { forgetLayers, LAYER_RECORDS, layersInUse, recordLayers, sweepLayerRecords } from './layer-use.js';

function tempDir(t: Test): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-layer-use-')));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const alive = () => true;
const dead = () => false;

/** A run dir with two sandboxes leased (as SandboxHost.create does) and recorded, and two layer dirs. */
function setup(t: Test) {
  const root = tempDir(t);
  const run = path.join(root, 'run');
  const layerA = path.join(root, 'layers/a');
  const layerB = path.join(root, 'layers/b');
  fs.mkdirSync(layerA, { recursive: true });
  fs.mkdirSync(layerB, { recursive: true });
  const leases = new LeaseSet(path.join(run, UID_LEASES), 16);
  const one = leases.take('w000000000001');
  const two = leases.take('w000000000002');
  const fileOne = recordLayers(run, 'w000000000001', [layerA, layerB]);
  const fileTwo = recordLayers(run, 'w000000000002', [layerB]);
  return { root, run, layerA, layerB, one, two, fileOne, fileTwo };
}

t.test('a record lists the real paths of its layers, and counts while its lease lives', async (t) => {
  const { root, run, layerA, layerB, fileTwo } = setup(t);
  t.equal(fileTwo, path.join(run, LAYER_RECORDS, 'w000000000002'));
  t.same(JSON.parse(fs.readFileSync(fileTwo, 'utf8')), [layerB]);
  t.same([...layersInUse(run, alive)].sort(), [layerA, layerB]);
  t.same(layersInUse(run, dead), new Set(), 'owners dead: nothing is in use');

  // a layer reached through a symlink is recorded as the dir the mount resolves
  fs.symlinkSync(path.join(root, 'layers'), path.join(root, 'link'));
  const file = recordLayers(run, 'w000000000003', [path.join(root, 'link/a')]);
  t.same(JSON.parse(fs.readFileSync(file, 'utf8')), [layerA]);
  t.same(fs.readdirSync(path.join(run, LAYER_RECORDS)).sort(), ['w000000000001', 'w000000000002', 'w000000000003'], 'no temp file left');
});

t.test('a released sandbox forgets its record: its layers are free again', async (t) => {
  const { run, layerB, one, fileOne } = setup(t);
  forgetLayers(fileOne);
  one.release();
  t.same([...layersInUse(run, alive)], [layerB], 'only the other sandbox remains');
  t.doesNotThrow(() => forgetLayers(fileOne), 'forget is idempotent');
});

t.test('a record whose lease is gone does not count, even before gc sweeps it', async (t) => {
  const { run, layerB, one } = setup(t);
  one.release(); // a crash would leave the lease with a dead owner; a missing lease is the same
  t.same([...layersInUse(run, alive)], [layerB]);
});

t.test('gc sweeps the records, and temp files, of sandboxes no live process holds', async (t) => {
  const { run } = setup(t);
  const records = path.join(run, LAYER_RECORDS);
  fs.writeFileSync(path.join(records, 'w000000000001.tmp'), '["/half'); // a writer that crashed mid-write
  fs.writeFileSync(path.join(records, 'w0000000000ff.tmp'), '[]');
  t.equal(sweepLayerRecords(run, alive), 1, 'only the temp file of a sandbox without a lease');
  t.same(fs.readdirSync(records).sort(), ['w000000000001', 'w000000000001.tmp', 'w000000000002']);
  t.equal(sweepLayerRecords(run, dead), 3, 'owners dead: all go');
  t.same(fs.readdirSync(records), []);
  t.equal(sweepLayerRecords(run, dead), 0, 'a second sweep finds nothing');
});

t.test('a live record that cannot be parsed stops the image gc; a dead one is ignored', async (t) => {
  const { run, fileOne } = setup(t);
  fs.writeFileSync(fileOne, '["/a", 3]\n');
  t.throws(() => layersInUse(run, alive), { code: 'WARREN_LAYER_RECORD_CORRUPT' });
  fs.writeFileSync(fileOne, '{');
  t.throws(() => layersInUse(run, alive), { code: 'WARREN_LAYER_RECORD_CORRUPT', message: `parse layer record '${fileOne}'` });
  t.same(layersInUse(run, dead), new Set(), 'its owner is dead: what it says no longer matters');
});

t.test('a run dir without records is left as it is', async (t) => {
  const run = path.join(tempDir(t), 'run');
  t.same(layersInUse(run), new Set());
  t.equal(sweepLayerRecords(run), 0);
  t.notOk(fs.existsSync(run), 'reading created nothing');
});
