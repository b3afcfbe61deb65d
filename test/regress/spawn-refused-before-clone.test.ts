/**
 * Regression: a spawn the spawner gave up on before cloning anything (a seccomp file it could not
 * read, a user namespace it could not make, a pooled netns that was unknown or busy, a failed
 * clone) was reported as an error of that stage and nothing else. The runner waits for an exit
 * after any error but a refused request, so `exited` never settled: destroy() hung, and the
 * sandbox's cgroup and uid lease stayed taken until `warren gc`. The spawner now says the exit at
 * once (pid 0). Here a spawn names a pooled netns that does not exist.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SpawnError } from '../../sandbox/spawn-request.js';
import { Spawner } from '../../sandbox/spawner.js';
import { bareSpawnRequest, NEEDS_ROOT } from '../integration/helpers.js';

t.test('a spawn refused before any clone still ends', { skip: NEEDS_ROOT }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-refused-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  await using spawner = await Spawner.start();
  const spawning = spawner.spawn(bareSpawnRequest(tmp, 'wrefused0001', { netns: 'no-such-netns' }));
  const err = await spawning.ready.then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof SpawnError && err.stage === 'netns', `the spawn fails at its netns (${String(err)})`);
  const timeout = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref());
  const exit = await Promise.race([spawning.exited, timeout]);
  t.not(exit, 'hung', 'its exit is reported, so whoever waits for it goes on');
  t.same(exit, { code: null, signal: null }, 'no code, no signal: nothing ran');
});
