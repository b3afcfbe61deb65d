/**
 * The lifecycle commands end to end (needs root): a real `warren serve`, two versions deployed
 * through the control API, then `node bin/warren.js ls|versions|rollback|logs|invoke|secret|rm`
 * run as a user would, finding the server through WARREN_URL/WARREN_TOKEN or through the state
 * dir's server.json and token. What issue 11 lists: rollback returns the previous version's
 * answers; `logs --follow` shows a request's console output with its request id; a secret reaches
 * `env` and is never printed; the exit codes (0 done, 1 refused, 2 usage, 3 warren failed).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ControlClient } from '../../client/index.js';
import { NEEDS_ROOT, WARREN } from '../integration/helpers.js';
import { api, invoke, ports, serveDirs, startServe, until, type Server } from './serve-helpers.js';

const dirs = serveDirs('wrntest-lifecycle-cli');
const SECRET = 'lifecycle-s3cret-6f1d9c';

const app = (version: string) => `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case '/log': console.log('hello from the log route'); return new Response('logged');
      case '/secret': {
        const v = env.API_KEY;
        const digest = v === undefined ? null : Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(v))).toString('hex');
        return Response.json({ has: v !== undefined, sha256: digest });
      }
      case '/echo': return new Response(await request.arrayBuffer(), { headers: { 'x-method': request.method, 'x-test': request.headers.get('x-test') ?? '' } });
      case '/missing': return new Response('not here', { status: 404 });
      default: return new Response('${version}');
    }
  },
};`;

interface Ran {
  code: number | null;
  stdout: Buffer;
  out: string;
  err: string;
}

/** `warren ARGS` as a user runs it, its stdout kept as bytes. */
function cli(args: readonly string[], env: NodeJS.ProcessEnv, input?: string | Buffer): Promise<Ran> {
  const child = spawn(process.execPath, [WARREN, ...args], { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.on('data', (d: Buffer) => (err += d));
  if (input !== undefined) child.stdin?.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({ code, stdout, out: stdout.toString(), err });
    });
  });
}

/** `warren logs NAME --follow ...` left running; stop() sends Ctrl-C and gives its exit code. */
function follow(args: readonly string[], env: NodeJS.ProcessEnv): { out: () => string; err: () => string; ended: Promise<number | null>; stop: () => Promise<number | null> } {
  const child = spawn(process.execPath, [WARREN, 'logs', ...args, '--follow'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const ended = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  void ended.then(() => clearTimeout(killer));
  return {
    out: () => out,
    err: () => err,
    ended,
    stop: () => {
      child.kill('SIGINT');
      return ended;
    },
  };
}

/**
 * `warren ARGS` on a terminal (a pty made by util-linux's `script`); `typed` is typed once `prompt`
 * is on the screen, with Enter. Resolves with its exit code and all the terminal showed.
 */
function onTerminal(args: readonly string[], env: NodeJS.ProcessEnv, prompt: string, typed: string): Promise<{ code: number | null; screen: string }> {
  const child = spawn('script', ['-qec', [process.execPath, WARREN, ...args].join(' '), '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  let sent = false;
  const onData = (d: Buffer) => {
    screen += d;
    if (!sent && screen.includes(prompt)) {
      sent = true;
      child.stdin?.write(`${typed}\r`);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    }),
  );
}

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

t.test('warren ls, versions, rollback, logs, invoke, secret, rm against a real server', { skip: NEEDS_ROOT, timeout: 600_000 }, async (t) => {
  const port = ports(19480);
  let s: Server | undefined = await startServe(dirs, port, ['--pool', '1', '--no-demo']);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-lifecycle-cli-'));
  t.teardown(async () => {
    await s?.stop();
    fs.rmSync(dirs.state, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const server = s;
  const env: NodeJS.ProcessEnv = { ...process.env, WARREN_URL: server.control, WARREN_TOKEN: server.token };
  delete env.WARREN_STATE_DIR;
  const control = new ControlClient({ url: server.control, token: server.token });
  t.equal((await control.deploy('lc', { module: app('v1') })).version, 1);
  t.equal((await control.deploy('lc', { module: app('v2') })).version, 2);

  await t.test('ls and versions, for people and for scripts', async (t) => {
    const [ls, lsJson, versions, versionsJson] = await Promise.all([['ls'], ['ls', '--json'], ['versions', 'lc'], ['versions', 'lc', '--json']].map((a) => cli(a, env))) as [Ran, Ran, Ran, Ran];
    t.equal(ls.code, 0, ls.err);
    t.match(ls.out, /^NAME\s+VERSION\s+DEPLOYED\s+SECRETS\s+URL\n/);
    t.match(ls.out, new RegExp(`\\nlc\\s+2\\s+\\S+ \\S+\\s+0\\s+${server.data}/lc/\\n`));
    const listed = JSON.parse(lsJson.out) as Array<{ name: string; url: string; live: { version: number } }>;
    t.match(listed, [{ name: 'lc', url: `${server.data}/lc/`, live: { version: 2 } }]);

    t.equal(versions.code, 0, versions.err);
    t.match(versions.out, /^VERSION\s+LIVE\s+CREATED\s+SIZE\s+DIGEST\n1\s+\S+ \S+\s+\d/);
    t.match(versions.out, /\n2\s+live\s/);
    const json = JSON.parse(versionsJson.out) as Array<{ version: number; live: boolean }>;
    t.same(json.map((v) => [v.version, v.live]), [[1, false], [2, true]]);
  });

  await t.test('rollback returns the previous version\'s answers', async (t) => {
    t.equal((await cli(['invoke', 'lc'], env)).out, 'v2');
    const back = await cli(['rollback', 'lc'], env);
    t.equal(back.code, 0, back.err);
    t.equal(back.out, `lc: version 1 is live at ${server.data}/lc/\n`);
    t.equal((await cli(['invoke', 'lc'], env)).out, 'v1', 'through warren invoke');
    t.equal((await invoke(server, '/lc/')).text, 'v1', 'and straight on the data plane');
    const forward = await cli(['rollback', 'lc', '2', '--json'], env);
    t.same(JSON.parse(forward.out), { name: 'lc', version: 2, url: `${server.data}/lc/` });
    t.equal((await invoke(server, '/lc/')).text, 'v2');
    const usage = await cli(['rollback', 'lc', 'zero'], env);
    t.equal(usage.code, 2, 'a bad version is a usage error');
    t.match(usage.err, /invalid version 'zero'.*usage: warren rollback/);
    const unknown = await cli(['rollback', 'lc', '9'], env);
    t.equal(unknown.code, 1, 'an unknown version is refused');
    t.match(unknown.err, /^warren: .*9/);
  });

  await t.test('invoke: method, headers, a binary body, -i, and curl\'s exit codes', async (t) => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    fs.writeFileSync(path.join(tmp, 'body.bin'), bytes);
    // one function, five callers at once (the commands are what is tested, not the order)
    const [put, head, missing, failed, asJson] = (await Promise.all([
      cli(['invoke', 'lc', '/echo', '-X', 'PUT', '-H', 'x-test: yes', '--data', `@${path.join(tmp, 'body.bin')}`], env),
      cli(['invoke', 'lc', 'echo', '-i', '-H', 'x-test: shown', '-d', '-'], env, 'from stdin'),
      cli(['invoke', 'lc', '/missing'], env),
      cli(['invoke', 'lc', '/missing', '--fail'], env),
      cli(['invoke', 'lc', '/echo', '--json', '-d', 'hi'], env),
    ])) as [Ran, Ran, Ran, Ran, Ran];
    t.equal(put.code, 0, put.err);
    t.ok(put.stdout.equals(bytes), 'the body comes back byte for byte');
    t.match(head.out, /^HTTP\/1\.1 200 OK\r\n/);
    t.match(head.out, /\r\nx-method: POST\r\n/, '--data makes it a POST');
    t.match(head.out, /\r\nx-test: shown\r\n/);
    t.match(head.out, /\r\nx-request-id: \S+\r\n/);
    t.match(head.out, /\r\n\r\nfrom stdin$/);
    t.same([missing.code, missing.out], [0, 'not here'], 'a 404 from the function is still exit 0, as with curl');
    t.same([failed.code, failed.out], [1, 'not here'], '--fail: exit 1, the body still shown');
    t.match(failed.err, /function 'lc' answered 404/);
    const json = JSON.parse(asJson.out) as { status: number; body: string; headers: Record<string, string> };
    t.match(json, { status: 200, body: 'hi', headers: { 'x-method': 'POST' } });
  });

  await t.test('logs --follow shows a request\'s console output with its request id', async (t) => {
    const f = follow(['lc'], env);
    // the follower is attached once the server answered: lines kept so far come first
    await until('the follower to start', async () => {
      const res = await invoke(server, '/lc/log');
      return f.out().includes(res.headers['x-request-id'] as string);
    }, 30_000);
    const res = await invoke(server, '/lc/log');
    const id = res.headers['x-request-id'] as string;
    t.ok(id, 'the answer has its request id');
    await until('the line in the follower', () => f.out().includes(id));
    const line = f.out().split('\n').find((l) => l.includes(id)) as string;
    t.match(line, /^\d{4}-\d\d-\d\dT\S+Z v2 \S+ \S+ stdout hello from the log route$/);
    t.equal(line.split(' ')[3], id, 'the request id in its column');
    t.equal(await f.stop(), 0, 'Ctrl-C ends it, exit 0');

    const nd = (await cli(['logs', 'lc', '--json'], env)).out.trim().split('\n').map((l) => JSON.parse(l) as { requestId: string; text: string; stream: string; version: number });
    t.match(nd.find((l) => l.requestId === id), { text: 'hello from the log route', stream: 'stdout', version: 2 }, '--json: the NDJSON lines');
  });

  await t.test('a secret reaches env and is never printed', async (t) => {
    t.same((await invoke(server, '/lc/secret')).json(), { has: false, sha256: null });
    const empty = await cli(['secret', 'put', 'lc', 'API_KEY'], env, '');
    t.equal(empty.code, 2, 'an empty value is refused');
    const put = await cli(['secret', 'put', 'lc', 'API_KEY'], env, `${SECRET}\n`);
    t.equal(put.code, 0, put.err);
    t.same((await invoke(server, '/lc/secret')).json(), { has: true, sha256: sha256(SECRET) }, 'the value, its trailing newline dropped');
    t.equal((await cli(['invoke', 'lc', '/log'], env)).code, 0);

    const shown: Array<[string, string]> = [['secret put', put.out + put.err]];
    const commands = [['ls'], ['secret', 'ls', 'lc'], ['ls', '--json'], ['secret', 'ls', 'lc', '--json'], ['logs', 'lc'], ['logs', 'lc', '--json'], ['versions', 'lc', '--json']];
    const ran = await Promise.all(commands.map((args) => cli(args, env)));
    ran.forEach((r, i) => {
      const what = (commands[i] as string[]).join(' ');
      t.equal(r.code, 0, `${what}: ${r.err}`);
      shown.push([what, r.out + r.err]);
    });
    t.match(ran[0]?.out, /\nlc\s+2\s+\S+ \S+\s+1\s/, 'ls: how many');
    t.equal(ran[1]?.out, 'API_KEY\n', 'secret ls: the name');
    for (const p of ['/v1/functions', '/v1/functions/lc', '/v1/functions/lc/versions', '/v1/functions/lc/secrets', '/v1/functions/lc/logs']) {
      shown.push([`GET ${p}`, (await api(server, 'GET', p)).text]);
    }
    shown.push(['the server\'s output', server.output()]);
    for (const [what, text] of shown) t.notOk(text.includes(SECRET), `${what} does not show the value`);

    const typed = await onTerminal(['secret', 'put', 'lc', 'TYPED'], env, 'value of TYPED (not shown): ', 'typed-value-9a8b');
    t.equal(typed.code, 0, typed.screen);
    t.notOk(typed.screen.includes('typed-value-9a8b'), 'on a terminal: asked for with echo off');
    t.match(typed.screen, /lc: secret TYPED set/);
    t.equal((await cli(['secret', 'ls', 'lc'], env)).out, 'API_KEY\nTYPED\n');

    const rm = await cli(['secret', 'rm', 'lc', 'API_KEY'], env);
    t.equal(rm.code, 0, rm.err);
    t.same((await invoke(server, '/lc/secret')).json(), { has: false, sha256: null });
    t.equal((await cli(['secret', 'rm', 'lc', 'API_KEY'], env)).code, 1, 'no such secret: refused');
  });

  await t.test('the server found through the state dir\'s server.json and token', async (t) => {
    const local = { ...process.env };
    delete local.WARREN_URL;
    delete local.WARREN_TOKEN;
    const byFlag = await cli(['ls', '--state-dir', dirs.state], { ...local, WARREN_STATE_DIR: '/nonexistent' });
    t.equal(byFlag.code, 0, byFlag.err);
    t.match(byFlag.out, /\nlc\s+2\s/);
    const byEnv = await cli(['invoke', 'lc'], { ...local, WARREN_STATE_DIR: dirs.state });
    t.same([byEnv.code, byEnv.out], [0, 'v2'], 'WARREN_STATE_DIR, and the data plane reached from the control API\'s host');
  });

  await t.test('a wrong token is refused', async (t) => {
    const r = await cli(['ls'], { ...env, WARREN_TOKEN: 'not-the-token' });
    t.equal(r.code, 1);
    t.match(r.err, /^warren: wrong bearer token \(the control API refused the token: give --token or set WARREN_TOKEN/);
    t.equal((await cli(['ls', '--token', 'nope'], env)).code, 1, 'from the flag too');
  });

  await t.test('rm removes it', async (t) => {
    fs.mkdirSync(path.join(dirs.state, 'kept'), { recursive: true });
    fs.writeFileSync(path.join(dirs.state, 'kept', 'ghost.json'), JSON.stringify({ name: 'ghost', image: 'node', layers: [], uidBase: 0, created: new Date().toISOString() }));
    const ghost = await cli(['rm', 'ghost'], { ...env, WARREN_STATE_DIR: dirs.state });
    t.equal(ghost.code, 1, 'no function ghost');
    t.match(ghost.err, /no function 'ghost'; there is a kept sandbox 'ghost': remove it with `warren kept rm ghost`/);

    const rm = await cli(['rm', 'lc', '--json'], env);
    t.equal(rm.code, 0, rm.err);
    t.same(JSON.parse(rm.out), { removed: ['lc'] });
    const gone = await cli(['invoke', 'lc'], env);
    t.equal(gone.code, 1, 'invoke of a removed function: refused');
    t.match(gone.err, /^warren: .*'lc'/);
    t.equal((await invoke(server, '/lc/')).status, 404, 'the data plane: 404');
    t.equal((await cli(['rm', 'lc'], env)).code, 1, 'a second rm is refused');
    t.equal((await cli(['ls', '--json'], env)).out.trim(), '[]');
  });

  await t.test('no server: exit 3', async (t) => {
    t.equal((await control.deploy('tail', { module: app('t') })).version, 1);
    const f = follow(['tail'], env);
    await until('the follower to attach', async () => {
      await invoke(server, '/tail/log');
      return f.out().includes('hello from the log route');
    }, 30_000);
    const began = Date.now();
    t.equal(await server.stop(), 0);
    s = undefined;
    t.ok(Date.now() - began < 20_000, `a follower does not hold the server's stop for its 30 s drain (${Date.now() - began} ms)`);
    t.equal(await f.ended, 3, 'a follow the server ended: exit 3');
    t.match(f.err(), /log stream/);

    const down = await cli(['ls'], env);
    t.equal(down.code, 3);
    t.match(down.err, new RegExp(`^warren: cannot reach the warren control API at ${server.control}`));
    const local: NodeJS.ProcessEnv = { ...process.env, WARREN_STATE_DIR: dirs.state };
    delete local.WARREN_URL;
    delete local.WARREN_TOKEN;
    const none = await cli(['ls'], local);
    t.equal(none.code, 3, 'no server.json: the same');
    t.match(none.err, /no warren server/);
  });
});
