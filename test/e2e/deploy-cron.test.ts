/**
 * Issue 11's cron case end to end (needs root): a TypeScript worker with a `scheduled` handler and
 * a cron trigger in its wrangler.toml, deployed with `warren deploy` as a user would, runs on its
 * schedule (croner's six-field form, every second: the short schedule the issue allows), and what
 * it logs is in `warren logs`, with the run's own id.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { NEEDS_ROOT, warren } from '../integration/helpers.js';
import { invoke, ports, serveDirs, startServe, until } from './serve-helpers.js';

const dirs = serveDirs('wrntest-deploy-cron');

const WORKER = `interface Env { GREETING: string }
interface Controller { cron: string; scheduledTime: number }

export default {
  async scheduled(controller: Controller, env: Env): Promise<void> {
    console.log(\`\${env.GREETING} from cron \${controller.cron}\`);
  },
  async fetch(): Promise<Response> {
    return new Response('fetch too');
  },
};
`;

const WRANGLER = `name = "ticker"
main = "src/worker.ts"
compatibility_date = "2025-01-01"

[vars]
GREETING = "tick"

[triggers]
crons = ["* * * * * *"]
`;

t.test('a TypeScript worker with a cron trigger runs on schedule, and its output is in warren logs', { skip: NEEDS_ROOT, timeout: 300_000 }, async (t) => {
  const s = await startServe(dirs, ports(20080), ['--pool', '1', '--no-demo']);
  t.teardown(async () => {
    await s.stop();
    fs.rmSync(dirs.state, { recursive: true, force: true });
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-deploy-cron-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(path.join(dir, 'src', 'worker.ts'), WORKER);
  fs.writeFileSync(path.join(dir, 'wrangler.toml'), WRANGLER);
  const env = { ...process.env, WARREN_URL: s.control, WARREN_TOKEN: s.token };

  const d = await warren(['deploy', dir], { env, timeoutMs: 120_000 });
  t.equal(d.code, 0, d.stderr);
  t.equal((await invoke(s, '/ticker/')).text, 'fetch too');

  const lines = async () => {
    const r = await warren(['logs', 'ticker', '--json'], { env, timeoutMs: 30_000 });
    return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { text: string; requestId: string | null; stream: string });
  };
  let ticks: Array<{ text: string; requestId: string | null }> = [];
  await until('two scheduled runs in warren logs', async () => {
    ticks = (await lines()).filter((l) => l.text.includes('tick from cron * * * * * *'));
    return ticks.length >= 2;
  }, 30_000);
  t.ok(ticks.every((l) => /^cron-/.test(l.requestId ?? '')), `each run's output carries its run id (${ticks.map((l) => l.requestId).join(', ')})`);
  t.not(ticks[0]?.requestId, ticks[1]?.requestId, 'a new id per run');
  const human = await warren(['logs', 'ticker'], { env, timeoutMs: 30_000 });
  t.match(human.stdout, /tick from cron/, 'and in the human-readable form');
});
