/**
 * Regression: a function's vars and secrets had no bound but the deploy body's 32 MiB. A deploy
 * with a 31 MiB var was taken, and then no instance could start (the load request, module and env
 * together, and the runtime's memory could not hold it): the control API answered 503 "no instance
 * of 'bigvar' could start", a platform fault, for what was the caller's mistake. Secrets, 64 KiB
 * each but unbounded in number, could do the same to a function already live: every later start
 * would fail, and the data plane answer 503. Now the env (vars and secrets, names and values) is
 * capped at MAX_ENV_BYTES (1 MiB): a deploy or a secret that would pass it is refused with 413
 * WARREN_DEPLOY_ENV_TOO_LARGE, and the live version keeps serving.
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
  const functions = new Functions(registry, bundles, { read: async function* () {}, remove() {} }, { pids: 128, metrics: async () => ({ contentType: 'text/plain', text: '' }) });
  functions.attach({ prepare: async (v: { version: number }) => void prepared.push(v.version), retire() {} } as unknown as Pool);

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

});
