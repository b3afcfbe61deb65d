/**
 * The start gate (start-gate.ts) between undici and a fake runtime on a unix socket: a start's
 * first request goes out before the start is over, and its answer waits for the start's outcome;
 * a failed start fails the request with the start's error. No root.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Pool } from 'undici';
import { afterStart, startOutcome } from './start-gate.js';

/** A fake runtime that answers every request at once (with `answer`, or 'from the module');
 * `seen` counts them. */
async function runtime(t: Test, answer?: http.RequestListener): Promise<{ pool: Pool; seen: () => number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-gate-'));
  let n = 0;
  const server = http.createServer((req, res) => {
    n++;
    if (answer) answer(req, res);
    else res.end('from the module');
  });
  const sock = path.join(dir, 'http.sock');
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  const pool = new Pool('http://warren', { socketPath: sock });
  t.teardown(async () => {
    await pool.destroy();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { pool, seen: () => n };
}

t.test("a start's first request goes out at once; its answer goes on once the start succeeded", async (t) => {
  const { pool, seen } = await runtime(t);
  const outcome = startOutcome();
  let got = false;
  const answer = afterStart(pool, outcome.done)
    .request({ method: 'GET', path: '/' })
    .then(async (r) => ((got = true), r.body.text()));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(seen(), 1, 'the runtime had the request before the start was over');
  t.notOk(got, 'its answer is held while the start is not over');
  outcome.succeed();
  t.equal(await answer, 'from the module');
});

t.test("a start that failed fails its first request with the start's error, never the function's answer", async (t) => {
  const { pool, seen } = await runtime(t);
  const outcome = startOutcome();
  const answer = afterStart(pool, outcome.done).request({ method: 'GET', path: '/' });
  await new Promise((r) => setTimeout(r, 50));
  t.equal(seen(), 1);
  outcome.fail(Object.assign(new Error('the module did not load'), { code: 'WARREN_RUNTIME_LOAD_FAILED' }));
  await t.rejects(answer, { code: 'WARREN_RUNTIME_LOAD_FAILED' }, "the start's error, not the answer the runtime gave");
  t.ok(outcome.failed);
});

t.test('a request that goes out after the start failed is aborted at once', async (t) => {
  const { pool } = await runtime(t);
  const outcome = startOutcome();
  outcome.fail(Object.assign(new Error('the runtime ended'), { code: 'WARREN_FN_START' }));
  await new Promise((r) => setImmediate(r));
  await t.rejects(afterStart(pool, outcome.done).request({ method: 'GET', path: '/' }), { code: 'WARREN_FN_START' });
});

t.test("a start's first answer's head comes as the runtime sent it: two Set-Cookie stay two", async (t) => {
  const { pool } = await runtime(t, (_req, res) => {
    res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Path=/']);
    res.setHeader('X-Case', 'Kept');
    res.end('ok');
  });
  const outcome = startOutcome();
  // a raw handler, as the router's exchange is (router/proxy.ts): it gets the head's lines
  const got = await new Promise<{ raw: unknown[]; body: string }>((resolve, reject) => {
    let raw: unknown[] = [];
    let body = '';
    afterStart(pool, outcome.done).dispatch(
      { method: 'GET', path: '/' },
      {
        onConnect: () => {},
        onHeaders: (_status: number, headers: Buffer[]) => ((raw = headers), true),
        onData: (chunk: Buffer) => ((body += chunk.toString()), true),
        onComplete: () => resolve({ raw, body }),
        onError: reject,
      },
    );
    outcome.succeed();
  });
  const lines = [];
  for (let i = 0; i < got.raw.length; i += 2) {
    t.ok(Buffer.isBuffer(got.raw[i + 1]), `header ${String(got.raw[i])}: one value, as bytes`);
    lines.push(`${String(got.raw[i])}: ${String(got.raw[i + 1])}`);
  }
  t.same(lines.filter((l) => /^set-cookie:/i.test(l)), ['Set-Cookie: a=1; Path=/', 'Set-Cookie: b=2; Path=/']);
  t.ok(lines.includes('X-Case: Kept'), "the names' case as sent");
  t.equal(got.body, 'ok');
});

t.test('an answer larger than the socket holds, held while the start runs, arrives whole after it', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 'w');
  const { pool } = await runtime(t, (_req, res) => {
    let left = 64; // 4 MiB
    const more = (): void => {
      while (left > 0) {
        left--;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  const outcome = startOutcome();
  const answer = afterStart(pool, outcome.done).request({ method: 'GET', path: '/' });
  await new Promise((r) => setTimeout(r, 100));
  outcome.succeed();
  const r = await answer;
  let bytes = 0;
  for await (const c of r.body) bytes += (c as Buffer).length;
  t.equal(bytes, 64 * chunk.length, 'every byte, in a body read at its own pace');
});
