/**
 * `warren serve`'s life (needs root): the demo on a first start; a restart keeps every function;
 * SIGTERM leaves nothing behind; a SIGKILLed server leaves no sandbox running, and after the next
 * start every function it served answers (those it had running are started first) and what it
 * left is swept; two servers with their own ports and dirs run side by side.
 */
import fs from 'node:fs';
import t from 'tap';
import { NEEDS_ROOT } from '../integration/helpers.js';
import { deploy, invoke, ports, processesOf, sandboxCgroups, serveDirs, spawnerOf, startServe, until } from './serve-helpers.js';

const dirs = serveDirs('wrntest-life');
const other = serveDirs('wrntest-life2');

t.test('warren serve: start, restart, SIGKILL, SIGTERM', { skip: NEEDS_ROOT, timeout: 600_000 }, async (t) => {
  t.teardown(() => {
    for (const d of [dirs, other]) fs.rmSync(d.state, { recursive: true, force: true });
  });
  const port = ports(18180);
  let s = await startServe(dirs, port, ['--pool', '1']);
  const hello = await invoke(s, '/hello/');
  t.equal(hello.status, 200, 'the demo answers on a first start');
  t.match(hello.text, /Hello, world!/);
  t.match(s.output(), /curl http:\/\/127\.0\.0\.1:\d+\/hello\//, 'and the start says how to call it');
  t.equal((await deploy(s, 'kept', 'export default { fetch: () => new Response("still here") }')).status, 201);

  await t.test('two servers side by side', async (t) => {
    const s2 = await startServe(other, ports(18280), ['--pool', '0', '--no-demo']);
    t.equal((await deploy(s2, 'kept', 'export default { fetch: () => new Response("the other one") }')).status, 201);
    t.equal((await invoke(s2, '/kept/')).text, 'the other one');
    t.equal((await invoke(s, '/kept/')).text, 'still here', 'each its own functions');
    t.equal(await s2.stop(), 0);
  });

  // a second server on the same state dir is refused
  const clash = await startServe(dirs, ports(18380), ['--pool', '0']).then(
    (x) => x.stop().then(() => 'started'),
    (err: Error) => err.message,
  );
  t.match(clash, /REGISTRY_LOCKED|lock|another/i, 'a second server on one state dir is refused');

  t.equal(await s.stop(), 0, 'SIGTERM: exit 0');
  t.same(processesOf(dirs.cgroupParent), [], 'no sandbox process after SIGTERM');
  t.same(sandboxCgroups(dirs.cgroupParent), [], 'no sandbox cgroup after SIGTERM');

  s = await startServe(dirs, port, ['--pool', '1']);
  t.equal((await invoke(s, '/kept/')).text, 'still here', 'a restart keeps every function');
  t.equal((await invoke(s, '/hello/')).status, 200);

  // a few functions running when it is killed, one with egress (its elements in the table)
  const running: Record<string, string> = { kept: 'still here' };
  for (const name of ['one', 'two', 'three']) {
    t.equal((await deploy(s, name, `export default { fetch: () => new Response("${name} here") }`)).status, 201);
    running[name] = `${name} here`;
  }
  t.equal((await deploy(s, 'out', 'export default { fetch: () => new Response("out here") }', { egress: 'public' })).status, 201);
  running.out = 'out here';
  for (const [name, text] of Object.entries(running)) t.equal((await invoke(s, `/${name}/`)).text, text, `${name} answers before the kill`);

  const spawner = spawnerOf(s.child.pid as number);
  t.equal(spawner.length, 1, 'the server has its spawner');
  await s.kill();
  await until('the sandboxes gone with the server', () => processesOf(dirs.cgroupParent, spawner).length === 0, 10_000);
  t.pass('SIGKILL of warren serve leaves no sandbox running');

  s = await startServe(dirs, port, ['--pool', '1']);
  // asked all at once, as clients that were waiting for it do
  const answers = await Promise.all(Object.keys(running).map((name) => invoke(s, `/${name}/`)));
  for (const [i, [name, text]] of Object.entries(running).entries()) t.equal(answers[i]?.text, text, `after the SIGKILL and a restart, ${name} answers`);
  t.equal((await invoke(s, '/hello/')).status, 200, 'and so does one it had no instance of');
  t.equal(await s.stop(), 0);
  t.same(processesOf(dirs.cgroupParent), [], 'nothing running');
  t.same(sandboxCgroups(dirs.cgroupParent), [], 'and the killed server\'s cgroups were swept');
});
