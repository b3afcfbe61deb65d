/**
 * `warren serve --live-restore` (needs root): a SIGKILLed server's sandboxes keep running, and the
 * next server adopts them. The first request after the restart is a warm start of the very
 * instance that served before (its module state goes on counting), the generic runtime is adopted
 * too, and console output written while no server was there reaches the logs. A SIGTERM still
 * leaves nothing, the spawner included; and a killed server that nobody restarts within the grace
 * leaves nothing running once it passed. (What each sandbox becomes by its record, an old
 * version's destroyed, is test/integration/adopt.test.ts.)
 */
import fs from 'node:fs';
import t from 'tap';
import { NEEDS_ROOT } from '../integration/helpers.js';
import { api, deploy, invoke, ports, processesOf, sandboxCgroups, serveDirs, spawnerOf, startServe, until, type Server } from './serve-helpers.js';

const dirs = serveDirs('wrntest-live-restore');
const port = ports(22480);
// the restart below must come within it: under a full suite's load a 4 s grace was once missed
// (the new server found no spawner and started everything cold)
const GRACE_S = 8;
const FLAGS = ['--pool', '1', '--no-demo', '--live-restore', '--live-restore-grace', `${GRACE_S}s`];

// module state: an instance counts its requests, so a count that goes on is the same instance
const COUNTER = 'let n = 0; export default { fetch: () => { n++; console.log("hit " + n); return new Response(String(n)); } };';
// it answers, then writes a line half a second later (while no server is there, in the test)
const LATE = 'export default { fetch: (req, env, ctx) => { ctx.waitUntil(new Promise((r) => setTimeout(() => { console.log("late line"); r(); }, 500))); return new Response("ok"); } };';

/** Mounts under the run dir (each sandbox's io dir is a tmpfs there). */
function ioMounts(run: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${run}/`));
}

async function sandboxes(s: Server): Promise<Array<{ id: string; fn: string | null; version: number | null; state: string }>> {
  return (await api(s, 'GET', '/v1/sandboxes')).json().sandboxes;
}

async function logText(s: Server, fn: string): Promise<string> {
  return (await api(s, 'GET', `/v1/functions/${fn}/logs`)).text;
}

t.test('warren serve --live-restore: SIGKILL, restart, the same instances serve warm', { skip: NEEDS_ROOT, timeout: 300_000 }, async (t) => {
  t.teardown(() => fs.rmSync(dirs.state, { recursive: true, force: true }));
  let s = await startServe(dirs, port, FLAGS);
  t.teardown(() => s.stop());
  t.equal((await deploy(s, 'count', COUNTER)).status, 201);
  t.equal((await deploy(s, 'late', LATE)).status, 201);
  t.equal((await deploy(s, 'old', 'export default { fetch: () => new Response("v1") }')).status, 201);
  t.equal((await invoke(s, '/count/')).text, '1');
  t.equal((await invoke(s, '/count/')).text, '2');
  t.equal((await invoke(s, '/old/')).text, 'v1');
  const before = await sandboxes(s);
  const counter = before.find((x) => x.fn === 'count');
  t.ok(counter, 'count has an instance');
  t.equal((await invoke(s, '/late/')).text, 'ok');

  const spawner = spawnerOf(s.child.pid as number);
  t.equal(spawner.length, 1, 'the server has its spawner');
  // its stdout and stderr end with it: a supervisor reading them to their end is not kept waiting
  // by the spawner that stays for the grace
  const closed = new Promise<void>((resolve) => s.child.once('close', () => resolve()));
  await s.kill();
  t.ok(processesOf(dirs.cgroupParent).length > 0, 'SIGKILL of serve: its sandboxes keep running');
  await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the killed server\'s output pipes stayed open')), 3000))]);
  t.pass("the killed server's output pipes closed, the spawner waiting on");
  // the late line is written now, while no server reads
  await new Promise((r) => setTimeout(r, 800));

  s = await startServe(dirs, port, FLAGS);
  const again = await invoke(s, '/count/');
  t.equal(again.text, '3', 'the first request after the restart reaches the same instance: its count goes on');
  t.equal(again.headers['x-warren-start'], 'warm', 'a warm start: nothing booted for it');
  const after = await sandboxes(s);
  t.ok(after.some((x) => x.id === counter?.id && x.fn === 'count' && x.state === 'ready'), 'the adopted instance is listed under its own id');
  t.ok(after.some((x) => x.fn === null), 'the generic runtime was adopted too');
  t.match(s.output(), /live restore: adopting \d+ of \d+ sandboxes/, 'serve says what it adopted');
  await until('the logs of the adopted instance', async () => (await logText(s, 'count')).includes('hit 3'), 10_000);
  t.pass('console output of the adopted instance reaches the logs');
  await until('the line written while no server was there', async () => (await logText(s, 'late')).includes('late line'), 10_000);
  t.pass('and so does what it wrote while no server read it');

  // a new version: the adopted instance of the old one drains, and a restart finds no other
  t.equal((await deploy(s, 'old', 'export default { fetch: () => new Response("v2") }')).status, 201);
  t.equal((await invoke(s, '/old/')).text, 'v2');

  t.equal(await s.stop(), 0, 'SIGTERM: exit 0');
  await until('no sandbox and no spawner after SIGTERM', () => processesOf(dirs.cgroupParent, spawner).length === 0, 10_000);
  t.same(sandboxCgroups(dirs.cgroupParent), [], 'no sandbox cgroup after SIGTERM');
  t.same(ioMounts(dirs.run), [], 'no io dir left mounted');
});

t.test('a killed server that nobody restarts within the grace leaves nothing running', { skip: NEEDS_ROOT, timeout: 300_000 }, async (t) => {
  t.teardown(() => fs.rmSync(dirs.state, { recursive: true, force: true }));
  let s = await startServe(dirs, port, FLAGS);
  t.teardown(() => s.stop());
  t.equal((await deploy(s, 'count', COUNTER)).status, 201);
  t.equal((await invoke(s, '/count/')).status, 200);
  const spawner = spawnerOf(s.child.pid as number);
  await s.kill();
  t.ok(processesOf(dirs.cgroupParent).length > 0, 'running during the grace');
  await until('every sandbox and the spawner gone once the grace passed', () => processesOf(dirs.cgroupParent, spawner).length === 0, (GRACE_S + 10) * 1000);
  t.pass(`nothing running ${GRACE_S} s after the kill`);
  // the next start sweeps the host side (with the flag too: nothing waits for it), and starts the
  // function afresh
  s = await startServe(dirs, port, FLAGS);
  t.notMatch(s.output(), /live restore: adopting/, 'nothing to adopt');
  t.equal((await invoke(s, '/count/')).text, '1', 'a fresh instance');
  t.equal(await s.stop(), 0);
  t.same(processesOf(dirs.cgroupParent), [], 'nothing running');
  t.same(sandboxCgroups(dirs.cgroupParent), [], 'no cgroup left');
  t.same(ioMounts(dirs.run), [], 'no io dir left mounted');
});
