/**
 * The registry as the function service uses it: deploys, failed deploys, rollbacks, removal and
 * secrets, and that a restart (close, open again) keeps all of it. No root needed: each test has
 * its own temp state dir. The files, the lock and damage are in open.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { FunctionInfo, VersionInfo } from '../router/control.js';
import { openRegistry, rollbackTarget, type Deployment, type NewVersion, type Registry, type StoredFunction, type StoredVersion } from './index.js';

function stateDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-registry-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(t: Test, dir = stateDir(t)): Registry {
  const registry = openRegistry(dir);
  t.teardown(() => registry.close());
  return registry;
}

const digest = (c: string) => c.repeat(64);

function spec(c: string, extra: Partial<NewVersion> = {}): NewVersion {
  return {
    digest: digest(c),
    sizeBytes: 100,
    limits: { memoryBytes: 128 << 20, cpus: 0.5, timeoutMs: 30_000, concurrency: 16 },
    egress: 'none',
    vars: {},
    ...extra,
  };
}

/** A deploy that loaded: add, then live. */
function deploy(r: Registry, fn: string, c: string): StoredVersion {
  const v = r.addVersion(fn, spec(c));
  return r.setLive(fn, v.version, 'deploy');
}

// what the control API hands out must be what router/control.ts promises, field for field
const asInfo = (f: StoredFunction): FunctionInfo => f;
const asVersion = (v: StoredVersion): VersionInfo => v;

t.test('rollbackTarget walks back the line of deploys, never forward', async (t) => {
  const d = (kind: Deployment['kind'], to: number): Deployment => ({ at: '', kind, from: null, to });
  const cases: [string, Deployment[], number | null][] = [
    ['nothing deployed', [], null],
    ['one deploy', [d('deploy', 1)], null],
    ['two deploys', [d('deploy', 1), d('deploy', 2)], 1],
    ['deploy 1 2 3, rollback to 2', [d('deploy', 1), d('deploy', 2), d('deploy', 3), d('rollback', 2)], 1],
    ['then rollback to 1', [d('deploy', 1), d('deploy', 2), d('deploy', 3), d('rollback', 2), d('rollback', 1)], null],
    ['a deploy after a rollback', [d('deploy', 1), d('deploy', 2), d('rollback', 1), d('deploy', 4)], 1],
    ['straight back to 1 from 3', [d('deploy', 1), d('deploy', 2), d('deploy', 3), d('rollback', 1)], null],
    ['forward again to one rolled back past', [d('deploy', 1), d('deploy', 2), d('deploy', 3), d('rollback', 2), d('rollback', 3)], 2],
    ['a rollback to the live one changes nothing', [d('deploy', 1), d('deploy', 2), d('rollback', 2)], 1],
  ];
  for (const [name, history, want] of cases) t.equal(rollbackTarget(history), want, name);
});

t.test('versions count 1, 2, 3 per function and a new one is not live', async (t) => {
  const r = open(t);
  const first = r.addVersion('hello', spec('a', { egress: ['10.0.0.0/8'], vars: { GREETING: 'hi' } }));
  t.match(first, { fn: 'hello', version: 1, digest: digest('a'), sizeBytes: 100, egress: ['10.0.0.0/8'], vars: { GREETING: 'hi' } });
  t.ok(Date.parse(first.createdAt) > 0, 'createdAt is an ISO time');
  t.throws(() => r.getFunction('hello'), { code: 'WARREN_FN_NOT_FOUND', message: "no function named 'hello'" }, 'not there until live');
  t.same(r.listFunctions(), []);
  t.same(r.version('hello', 1), first, 'the deploy can read its version');

  r.setLive('hello', 1, 'deploy');
  t.equal(r.addVersion('other', spec('b')).version, 1, 'numbers are per function');
  const second = r.addVersion('hello', spec('c'));
  t.equal(second.version, 2);
  t.equal(r.getFunction('hello').live.version, 1, 'an added version is not live');
  t.same(r.versions('hello').map((v) => v.version), [1, 2]);
  const fn = asInfo(r.getFunction('hello'));
  t.same(fn.live, asVersion(first));
  t.same(fn.secrets, []);
  t.same(r.bundleDigests(), new Set([digest('a'), digest('b'), digest('c')]), 'a version not live yet keeps its bundle too');
});

t.test('a failed first deploy leaves nothing; a failed later one leaves the live version', async (t) => {
  const r = open(t);
  const v = r.addVersion('broken', spec('a'));
  r.discardVersion('broken', v.version);
  t.same(r.listFunctions(), []);
  t.throws(() => r.version('broken', 1), { code: 'WARREN_FN_NOT_FOUND' });
  t.same(r.bundleDigests(), new Set());
  t.equal(r.addVersion('broken', spec('b')).version, 2, 'its number is not given again');

  deploy(r, 'app', 'c');
  const bad = r.addVersion('app', spec('d'));
  r.discardVersion('app', bad.version);
  t.equal(r.getFunction('app').live.version, 1);
  t.same(r.versions('app').map((v) => v.version), [1]);
  t.throws(() => r.version('app', 2), { code: 'WARREN_FN_VERSION_NOT_FOUND', message: "function 'app' has no version 2" });
  t.throws(() => r.discardVersion('app', 1), { code: 'WARREN_REGISTRY_DEPLOYED' }, 'a version that went live stays in history');
  t.equal(r.addVersion('app', spec('e')).version, 3);
});

t.test('two first deploys at once: one failing does not take the other', async (t) => {
  const r = open(t);
  const a = r.addVersion('race', spec('a'));
  const b = r.addVersion('race', spec('b'));
  r.discardVersion('race', a.version);
  r.setLive('race', b.version, 'deploy');
  t.equal(r.getFunction('race').live.version, 2);
});

t.test('deploy, deploy, deploy, then rollback until there is nowhere to go', async (t) => {
  const r = open(t);
  const steps: [string, () => StoredVersion, number, number | null][] = [
    ['deploy 1', () => deploy(r, 'fn', 'a'), 1, null],
    ['deploy 2', () => deploy(r, 'fn', 'b'), 2, 1],
    ['deploy 3', () => deploy(r, 'fn', 'c'), 3, 2],
    ['rollback', () => r.setLive('fn', r.rollbackTarget('fn')!.version, 'rollback'), 2, 1],
    ['rollback', () => r.setLive('fn', r.rollbackTarget('fn')!.version, 'rollback'), 1, null],
    ['rollback to 3 by number', () => r.setLive('fn', 3, 'rollback'), 3, 1],
    ['deploy 4', () => deploy(r, 'fn', 'd'), 4, 3],
  ];
  for (const [name, act, live, target] of steps) {
    t.equal(act().version, live, `${name}: returns the live version`);
    t.equal(r.getFunction('fn').live.version, live, `${name}: live`);
    t.equal(r.rollbackTarget('fn')?.version ?? null, target, `${name}: rollback target`);
  }
  t.same(
    r.deployments('fn').map((d) => [d.kind, d.from, d.to]),
    [['deploy', null, 1], ['deploy', 1, 2], ['deploy', 2, 3], ['rollback', 3, 2], ['rollback', 2, 1], ['rollback', 1, 3], ['deploy', 3, 4]],
  );
  t.ok(r.deployments('fn').every((d) => Date.parse(d.at) > 0));
  t.throws(() => r.setLive('fn', 9, 'rollback'), { code: 'WARREN_FN_VERSION_NOT_FOUND' });
  t.throws(() => r.setLive('nope', 1, 'deploy'), { code: 'WARREN_FN_NOT_FOUND' });
});

t.test('remove takes versions, deployments and secrets; the name starts over without reusing numbers', async (t) => {
  const r = open(t);
  deploy(r, 'gone', 'a');
  deploy(r, 'gone', 'b');
  deploy(r, 'kept', 'c');
  r.putSecret('gone', 'TOKEN', 's3cret');
  r.removeFunction('gone');
  t.same(r.listFunctions().map((f) => f.name), ['kept']);
  t.same(r.bundleDigests(), new Set([digest('c')]), 'its bundles are free for GC');
  for (const call of [() => r.getFunction('gone'), () => r.versions('gone'), () => r.secretNames('gone'), () => r.removeFunction('gone')]) {
    t.throws(call, { code: 'WARREN_FN_NOT_FOUND' });
  }
  const again = deploy(r, 'gone', 'd');
  t.equal(again.version, 3, 'a new function of the same name never shows an old version number');
  t.same(r.secretNames('gone'), [], 'old secrets do not come back');
  t.same(r.deployments('gone').map((d) => [d.from, d.to]), [[null, 3]]);
  t.equal(r.rollbackTarget('gone'), null);
});

t.test('secrets: names are listed, values only come from secrets()', async (t) => {
  const r = open(t);
  deploy(r, 'fn', 'a');
  t.throws(() => r.putSecret('nofn', 'K', 'v'), { code: 'WARREN_FN_NOT_FOUND' });
  r.putSecret('fn', 'B_KEY', 'b-value');
  r.putSecret('fn', 'A_KEY', 'first');
  r.putSecret('fn', 'A_KEY', 'second');
  t.same(r.secretNames('fn'), ['A_KEY', 'B_KEY']);
  t.same(r.getFunction('fn').secrets, ['A_KEY', 'B_KEY']);
  t.same(r.listFunctions()[0]?.secrets, ['A_KEY', 'B_KEY']);
  const shown = JSON.stringify([r.getFunction('fn'), r.listFunctions(), r.versions('fn'), r.deployments('fn')]);
  t.notMatch(shown, /b-value|second/, 'no value in anything but secrets()');
  t.same(r.secrets('fn'), { A_KEY: 'second', B_KEY: 'b-value' });
  t.equal(r.deleteSecret('fn', 'A_KEY'), true);
  t.equal(r.deleteSecret('fn', 'A_KEY'), false, 'false when absent');
  t.same(r.secrets('fn'), { B_KEY: 'b-value' });
});

t.test('a restart keeps every function, version, deployment and secret', async (t) => {
  const dir = stateDir(t);
  const before = openRegistry(dir);
  deploy(before, 'hello', 'a');
  deploy(before, 'hello', 'b');
  before.setLive('hello', 1, 'rollback');
  before.putSecret('hello', 'KEY', 'value');
  deploy(before, 'other', 'c');
  const fns = before.listFunctions();
  const versions = before.versions('hello');
  const deployments = before.deployments('hello');
  before.close();
  before.close();
  t.throws(() => before.listFunctions(), { code: 'WARREN_REGISTRY_CLOSED' }, 'closed is closed');

  const after = open(t, dir);
  t.same(after.listFunctions(), fns);
  t.same(after.versions('hello'), versions);
  t.same(after.deployments('hello'), deployments);
  t.same(after.secrets('hello'), { KEY: 'value' });
  t.equal(after.rollbackTarget('hello'), null, 'history survives: 1 is the first deploy');
  t.equal(after.addVersion('hello', spec('d')).version, 3, 'numbering goes on');
});

t.test('a bundle digest must be a layer digest', async (t) => {
  const r = open(t);
  t.throws(() => r.addVersion('fn', spec('a', { digest: '../../etc' })), { code: 'WARREN_LAYER_INVALID_DIGEST' });
  t.same(r.listFunctions(), []);
});
