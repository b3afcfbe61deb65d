/**
 * Regression: a function's vars and secrets had no bound but the deploy body's 32 MiB. A deploy
 * with a 31 MiB var was taken, and then no instance could start (the load request, module and env
 * together, and the runtime's memory could not hold it): the control API answered 503 "no instance
 * of 'bigvar' could start", a platform fault, for what was the caller's mistake. Secrets, 64 KiB
 * each but unbounded in number, could do the same to a function already live: every later start
 * would fail, and the data plane answer 503. Now the env (vars and secrets, names and values) is
 * capped at MAX_ENV_BYTES (1 MiB): a deploy or a secret that would pass it is refused with 413
 * WARREN_DEPLOY_ENV_TOO_LARGE, and the live version keeps serving. Two ways past the cap stayed:
 * a secret put while a deploy was going live (each checked against what the other had not yet
 * written), and a rollback to a version whose vars, with the secrets set since, pass it; secrets
 * now wait in the function's queue with its deploys, and a rollback is checked too.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { isWarrenError } from '../../lib/errors.js';
import { openRegistry } from '../../registry/index.js';
import { MAX_ENV_BYTES } from '../../router/control.js';
import { toHttpError } from '../../router/errors.js';
import { Functions, type Bundles } from '../../runner/functions.js';
import type { Pool } from '../../runner/pool.js';

const MOD = 'export default { fetch() { return new Response("ok") } }';

t.test('vars and secrets past MAX_ENV_BYTES are refused, not left to fail every start', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-envcap-'));
  const registry = openRegistry(dir);
  t.teardown(() => {
    registry.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const sources = new Map<string, string>();
  const bundles: Bundles = {
    async put(source) {
      const digest = String(sources.size).padStart(64, '0');
      sources.set(digest, source);
      return { digest, sizeBytes: source.length };
    },
    async read(digest) {
      return sources.get(digest) ?? '';
    },
  };
  const prepared: number[] = [];
  // while set, a version's going live waits here: the moment a racing call can come in
  let hold: { reached: () => void; go: Promise<void> } | null = null;
  const functions = new Functions(registry, bundles, { read: async function* () {}, remove() {} }, { pids: 128, metrics: async () => ({ contentType: 'text/plain', text: '' }) });
  functions.attach({
    prepare: async (v: { version: number }) => {
      prepared.push(v.version);
      if (hold) {
        hold.reached();
        await hold.go;
      }
    },
    retire() {},
  } as unknown as Pool);

  const refused = async (what: string, p: Promise<unknown>) => {
    try {
      await p;
      t.fail(`${what}: taken`);
    } catch (err) {
      t.ok(isWarrenError(err, 'WARREN_DEPLOY_ENV_TOO_LARGE'), `${what}: WARREN_DEPLOY_ENV_TOO_LARGE (${(err as Error).message})`);
      t.match(toHttpError(err, 'control'), { status: 413, fault: 'user' }, `${what}: the caller's 413`);
    }
  };
  await refused('a 31 MiB var', functions.deploy('bigvar', { module: MOD, vars: { BIG: 'x'.repeat(31 << 20) }, limits: {} }));
  const many = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`K${i}`, 'v']));
  await refused('200,000 small vars', functions.deploy('bigvar', { module: MOD, vars: many, limits: {} }));
  t.same(prepared, [], 'neither reached a sandbox');

  t.equal((await functions.deploy('app', { module: MOD, vars: { A: 'x'.repeat(MAX_ENV_BYTES - 1 - 4096) }, limits: {} })).version, 1, 'just under the cap deploys');
  await functions.putSecret('app', 'S1', 'y'.repeat(4000));
  await refused('a secret that passes the cap', functions.putSecret('app', 'S2', 'y'.repeat(200)));
  t.same(await functions.secretNames('app'), ['S1'], 'the refused secret was not kept');
  await refused('a deploy whose vars with the secrets pass it', functions.deploy('app', { module: MOD, vars: { A: 'x'.repeat(MAX_ENV_BYTES - 4000) }, limits: {} }));
  t.equal((await functions.get('app')).live.version, 1, 'the live version is unchanged');

  // a secret put while a deploy is on its way (between its check and its going live) was checked
  // against the live version's vars, the deploy against the secrets before the put: each fit, and
  // together they passed the cap
  const half = MAX_ENV_BYTES / 2;
  await functions.deploy('race', { module: MOD, vars: {}, limits: {} });
  let go = () => {};
  const reached = new Promise<void>((resolve) => (hold = { reached: resolve, go: new Promise<void>((r) => (go = r)) }));
  const deploying = functions.deploy('race', { module: MOD, vars: { V: 'v'.repeat(half) }, limits: {} });
  await reached;
  const secretsPut = Array.from({ length: 9 }, (_, i) => functions.putSecret('race', `S${i}`, 's'.repeat(60 * 1024)));
  await new Promise((r) => setTimeout(r, 50));
  go();
  hold = null;
  const settled = await Promise.allSettled([deploying, ...secretsPut]);
  const secrets = await functions.secretNames('race');
  const fn = await functions.get('race');
  const varBytes = fn.live.version === 2 ? half + 1 : 0;
  const secretBytes = secrets.length * (60 * 1024 + 2);
  t.ok(varBytes + secretBytes <= MAX_ENV_BYTES, `a deploy racing secret puts: the env that went live holds ${varBytes + secretBytes} bytes, within the cap`);
  t.ok(settled.filter((r) => r.status === 'rejected').every((r) => isWarrenError((r as PromiseRejectedResult).reason, 'WARREN_DEPLOY_ENV_TOO_LARGE')), 'what was refused was refused for the cap');

  // a rollback to a version whose vars, with the secrets set since, pass the cap
  await functions.deploy('back', { module: MOD, vars: { V: 'v'.repeat(MAX_ENV_BYTES - 1024) }, limits: {} });
  await functions.deploy('back', { module: MOD, vars: {}, limits: {} });
  await functions.putSecret('back', 'S', 's'.repeat(60 * 1024));
  await refused('a rollback to vars that, with the secrets, pass the cap', functions.rollback('back', 1));
  t.equal((await functions.get('back')).live.version, 2, 'the live version is unchanged');
});
