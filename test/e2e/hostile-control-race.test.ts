/**
 * The control API of a real `warren serve` under contention and abuse (needs root): a wrong or
 * missing token, deploys racing each other and rollbacks, and a flood of bad requests while a
 * good deploy goes through. A live function answers throughout, never with a 5xx. What each case
 * attacks is its name.
 */
import fs from 'node:fs';
import t from 'tap';
import { request } from 'undici';
import { NEEDS_ROOT } from '../integration/helpers.js';
import { allOk, liveModule, rssOf, withLive } from './hostile-control-helpers.js';
import { api, deploy, invoke, ports, serveDirs, startServe, type Server } from './serve-helpers.js';

const dirs = serveDirs('wrntest-hostile-race');
const MiB = 1024 * 1024;

interface Version {
  version: number;
  digest: string;
  createdAt: string;
}

/** CPU time (user and system) of a process, ms. */
function cpuOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** Runs `tasks` with at most `width` at once. */
async function bounded<T>(width: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]!();
    }
  }));
  return out;
}

/** A request whose answer is only its status; a failed connection is 0. */
async function status(s: Server, method: string, p: string, headers: Record<string, string>, body?: string): Promise<number> {
  try {
    const res = await request(`${s.control}${p}`, { method: method as 'PUT', headers, body, headersTimeout: 60_000, bodyTimeout: 60_000 });
    await res.body.dump();
    return res.statusCode;
  } catch {
    return 0;
  }
}

t.test('the control API under contention and abuse', { skip: NEEDS_ROOT, timeout: 300_000 }, async (t) => {
  const port = ports(22280);
  const s = await startServe(dirs, port, ['--no-demo', '--pool', '2']);
  t.teardown(async () => {
    await s.stop();
  });
  t.equal((await deploy(s, 'race', liveModule('race 1'))).status, 201);

  t.test('a wrong or missing token: 401 that tells nothing about the token, and the service untouched', async (t) => {
    const wrongs: Record<string, Record<string, string>> = {
      'no header': {},
      'an empty bearer': { authorization: 'Bearer ' },
      'a wrong token of its length': { authorization: `Bearer ${'A'.repeat(s.token.length)}` },
      'its first character wrong': { authorization: `Bearer ${s.token[0] === 'A' ? 'B' : 'A'}${s.token.slice(1)}` },
      'its last character wrong': { authorization: `Bearer ${s.token.slice(0, -1)}${s.token.endsWith('A') ? 'B' : 'A'}` },
      'a prefix of it': { authorization: `Bearer ${s.token.slice(0, 8)}` },
      'it and more': { authorization: `Bearer ${s.token}x` },
      'a long one': { authorization: `Bearer ${'x'.repeat(8000)}` },
      'as Basic': { authorization: `Basic ${s.token}` },
      'as a query parameter': {},
      'in another header': { 'x-api-key': s.token },
    };
    const bodies = new Set<string>();
    for (const [what, headers] of Object.entries(wrongs)) {
      const p = what === 'as a query parameter' ? `/v1/functions/race?token=${s.token}` : '/v1/functions/race';
      const res = await request(`${s.control}${p}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ module: liveModule('stolen') }) });
      const text = await res.body.text();
      t.equal(res.statusCode, 401, `${what}: 401`);
      t.match(res.headers['www-authenticate'], /^Bearer realm="warren"$/, `${what}: says how to authenticate`);
      if (headers.authorization?.startsWith('Bearer ') && headers.authorization.length > 7) bodies.add(text);
    }
    t.equal(bodies.size, 1, `every wrong token gets the same answer: ${[...bodies].join(' | ')}`);
    t.equal((await api(s, 'GET', '/v1/functions/race')).json().live.version, 1, 'nothing deployed');
    t.equal((await invoke(s, '/race/')).text, 'race 1');
  });

  t.test('deploys racing each other and rollbacks: versions unique and in order, the registry consistent, no 5xx', async (t) => {
    const good = Array.from({ length: 8 }, (_, i) => `race ${i + 2}`);
    const tags = ['race 1', ...good];
    const { result, statuses } = await withLive(s, 'race', tags, async () => {
      const jitter = () => new Promise((r) => setTimeout(r, Math.random() * 200));
      const deploys = good.map(async (tag) => {
        await jitter();
        return { tag, answer: await deploy(s, 'race', liveModule(tag)) };
      });
      const bad = Array.from({ length: 2 }, async (_, i) => {
        await jitter();
        return deploy(s, 'race', `throw new Error("bad ${i}"); export default { fetch() {} };`);
      });
      const rollbacks = Array.from({ length: 4 }, async () => {
        await jitter();
        return api(s, 'POST', '/v1/functions/race/rollback');
      });
      return { deploys: await Promise.all(deploys), bad: await Promise.all(bad), rollbacks: await Promise.all(rollbacks) };
    });
    t.ok(allOk(statuses), `the data plane answered 200 throughout, never a 5xx (${statuses.length} requests: ${[...new Set(statuses)].join(',')})`);
    const versionOf = new Map<number, string>([[1, 'race 1']]);
    for (const { tag, answer } of result.deploys) {
      t.equal(answer.status, 201, `${tag}: 201`);
      const v = answer.json<{ version: number }>().version;
      t.notOk(versionOf.has(v), `${tag}: version ${v} given once`);
      versionOf.set(v, tag);
    }
    for (const a of result.bad) t.equal(a.status, 422, `a module that throws at load: 422 (${a.text.slice(0, 100)})`);
    for (const a of result.rollbacks) t.ok([200, 404].includes(a.status), `a rollback: ${a.status} ${a.text.slice(0, 100)}`);

    const versions = (await api(s, 'GET', '/v1/functions/race/versions')).json<{ versions: Version[] }>().versions;
    const numbers = versions.map((v) => v.version);
    t.same(numbers, [...versionOf.keys()].sort((a, b) => a - b), 'the registry holds exactly the versions that loaded: none lost, none of a failed deploy');
    t.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!), 'in increasing order');
    const created = versions.map((v) => Date.parse(v.createdAt));
    t.ok(created.every((c, i) => i === 0 || c >= created[i - 1]!), 'each made after the one before it');
    t.equal(new Set(versions.map((v) => v.digest)).size, versions.length, 'each its own bundle');
    const live = (await api(s, 'GET', '/v1/functions/race')).json<{ live: Version }>().live.version;
    t.ok(versionOf.has(live), `the live version (${live}) is one that loaded`);
    t.equal((await invoke(s, '/race/')).text, versionOf.get(live), 'and it is what the data plane serves');
    const back = await api(s, 'POST', '/v1/functions/race/rollback', { version: 1 });
    t.equal(back.status, 200, 'a rollback to the first version after the race');
    t.equal((await invoke(s, '/race/')).text, 'race 1');
  });

  t.test('a flood of bad requests: each refused, while a good deploy still goes through', async (t) => {
    const auth = { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' };
    const kinds: Array<() => Promise<number>> = [
      () => status(s, 'PUT', '/v1/functions/race', { 'content-type': 'application/json' }, '{}'),
      () => status(s, 'PUT', '/v1/functions/race', { ...auth, authorization: 'Bearer wrong' }, '{}'),
      () => status(s, 'PUT', '/v1/functions/race', auth, '{"module":'),
      () => status(s, 'PUT', '/v1/functions/..%2Fx', auth, '{"module":"x"}'),
      () => status(s, 'POST', '/v1/functions/race/rollback', auth, '{"version":"x"}'),
      () => status(s, 'GET', '/v1/nothing', auth),
      () => status(s, 'PUT', '/v1/functions/race', { ...auth, 'content-length': String(1024 * MiB) }, 'x'.repeat(1024)),
    ];
    const expected = [401, 401, 400, 400, 400, 404, 413];
    const rssBefore = rssOf(s.child.pid as number);
    const cpuBefore = cpuOf(s.child.pid as number);
    const { result, statuses } = await withLive(s, 'race', ['race 1', 'race flood'], async () => {
      const flood = bounded(32, Array.from({ length: 700 }, (_, i) => async () => [i % kinds.length, await kinds[i % kinds.length]!()] as const));
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      const good = await deploy(s, 'race', liveModule('race flood'));
      return { good, goodMs: Date.now() - started, flood: await flood };
    });
    t.equal(result.good.status, 201, `the good deploy went through in ${result.goodMs} ms`);
    t.comment(`warren serve used ${cpuOf(s.child.pid as number) - cpuBefore} ms of CPU for the flood`);
    const wrong = result.flood.filter(([k, st]) => st !== expected[k] && !(k === 6 && st === 0));
    t.same(wrong.slice(0, 5), [], `each of ${result.flood.length} bad requests refused as it should be`);
    t.ok(allOk(statuses), `the live function answered throughout (${statuses.length} requests)`);
    t.equal((await invoke(s, '/race/')).text, 'race flood', 'the good deploy is live');
    const grown = rssOf(s.child.pid as number) - rssBefore;
    t.ok(grown < 200 * MiB, `warren serve grew ${Math.round(grown / MiB)} MiB`);
    t.same((await api(s, 'GET', '/healthz', undefined, null)).json(), { ok: true });
  });
});
