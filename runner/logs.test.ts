/**
 * The host's log store (no root, no sandbox): PassThrough streams stand in for a sandbox's stdout
 * and stderr pipes, a temp dir for the store's dir.
 */
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import type { LogLine } from '../router/control.js';
import { LOG_TRUNCATED, MAX_LOG_TEXT_BYTES } from '../runtime/protocol.js';
import { LogStore, type LogStoreOptions } from './logs.js';

const META = { fn: 'hello', version: 3, instance: 'sb-1' };
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

function store(t: Test, opts: Partial<LogStoreOptions> = {}) {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-logs-'));
  if (!opts.dir) t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const s = new LogStore({ ...opts, dir });
  t.teardown(() => s.close());
  return { s, dir };
}

function pipe(s: LogStore, which: 'stdout' | 'stderr' = 'stdout', meta = META) {
  const p = new PassThrough();
  s.attach(p, which, meta);
  return p;
}

async function kept(s: LogStore, fn = 'hello'): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const line of s.read(fn, { follow: false, signal: new AbortController().signal })) out.push(line);
  return out;
}

const record = (m: string, rid: string | null = null, s = 'stdout') => `${JSON.stringify({ t: Date.now(), rid, s, m })}\n`;

t.test("runtime records keep their request id and stream; any other line is the pipe's text", async (t) => {
  const { s } = store(t);
  const out = pipe(s, 'stdout');
  const err = pipe(s, 'stderr');
  out.write(record('hello from a request', 'req-1'));
  err.write(record('the function threw: Error: x', 'req-2', 'warren'));
  out.write('a raw write\nsplit ');
  out.write('across writes\n');
  const euro = Buffer.from('price: 5€\n');
  out.write(euro.subarray(0, 9)); // the € cut in two
  out.write(euro.subarray(9));
  err.write('{"not": "a record"}\nno newline at the end');
  err.end();
  await settle();
  s.report(META, 'timed out after 30000 ms', 'req-3');
  const lines = await kept(s);
  t.match(lines, [
    { fn: 'hello', version: 3, instance: 'sb-1', requestId: 'req-1', stream: 'stdout', text: 'hello from a request' },
    { requestId: 'req-2', stream: 'warren', text: 'the function threw: Error: x' },
    { requestId: null, stream: 'stdout', text: 'a raw write' },
    { requestId: null, stream: 'stdout', text: 'split across writes' },
    { stream: 'stdout', text: 'price: 5€' },
    { requestId: null, stream: 'stderr', text: '{"not": "a record"}' },
    { requestId: null, stream: 'stderr', text: 'no newline at the end' },
    { requestId: 'req-3', stream: 'warren', text: 'timed out after 30000 ms' },
  ]);
  t.equal(lines.length, 8);
  t.ok(lines.every((l) => !Number.isNaN(Date.parse(l.time))), 'every line has an ISO time');
});

t.test('a line past the cap is cut, never buffered whole, and says how much went', async (t) => {
  const { s } = store(t);
  const out = pipe(s);
  const huge = 'z'.repeat(64 * 1024);
  for (let i = 0; i < 16; i++) out.write(huge); // 1 MiB without a newline
  out.write('\nnext\n');
  await settle();
  const [cut, next] = await kept(s);
  t.ok(cut && Buffer.byteLength(cut.text) <= MAX_LOG_TEXT_BYTES, 'the kept text is within the cap');
  const at = cut?.text.indexOf(LOG_TRUNCATED) ?? -1;
  const m = /^… \[truncated (\d+) bytes]$/.exec(cut?.text.slice(at) ?? '');
  t.ok(at > 0 && m, 'it ends with the marker');
  t.equal(at + Number(m?.[1]), 1024 * 1024, 'kept and dropped add up to the line');
  t.match(next, { text: 'next' }, 'the next line is whole');
});

t.test('a function that logs without end is rotated: at most two files, each within the cap', async (t) => {
  const { s, dir } = store(t, { fileBytes: 16 * 1024, bytesPerSecond: 1e9 });
  const out = pipe(s);
  for (let i = 0; i < 2000; i++) out.write(`line ${i} ${'x'.repeat(40)}\n`);
  await settle();
  s.report(META, 'the last one');
  await settle();
  t.same(fs.readdirSync(dir).sort(), ['hello.ndjson', 'hello.ndjson.1']);
  for (const f of fs.readdirSync(dir)) t.ok(fs.statSync(path.join(dir, f)).size <= 16 * 1024, `${f} is within the cap`);
  const lines = await kept(s);
  t.ok(lines.length > 50 && lines.length < 2000, `the newest lines are kept (${lines.length})`);
  t.equal(lines.at(-1)?.text, 'the last one');
  const nums = lines.slice(0, -1).map((l) => Number(/^line (\d+)/.exec(l.text)?.[1]));
  t.same(nums, nums.map((_, i) => (nums[0] as number) + i), 'in order, without a gap');
  t.equal(nums.at(-1), 1999);
  t.equal(fs.statSync(path.join(dir, 'hello.ndjson')).mode & 0o777, 0o600, 'only the host reads them');
});

t.test('past its rate a function loses lines, and one line says how many', async (t) => {
  let now = 1_000_000;
  const { s } = store(t, { bytesPerSecond: 5000, now: () => now });
  const out = pipe(s);
  for (let i = 0; i < 100; i++) out.write(record(`n${i} ${'y'.repeat(100)}`));
  await settle();
  now += 1000;
  out.write(record('after a second'));
  await settle();
  const lines = await kept(s);
  const logged = lines.filter((l) => l.text.startsWith('n'));
  const drop = lines.find((l) => l.stream === 'warren');
  t.ok(logged.length > 5 && logged.length < 100, `the first lines of the second are kept (${logged.length})`);
  t.match(drop, { requestId: null, text: new RegExp(`^${100 - logged.length} lines \\(\\d+ bytes\\) dropped: the function logged more than 5000 bytes in a second$`) });
  t.equal(lines.at(-1)?.text, 'after a second', 'then lines are kept again');
  t.equal(lines.indexOf(drop as LogLine), logged.length, 'the count stands where the gap is');
});

t.test('a follower gets what is kept, then each new line, until its signal aborts', async (t) => {
  const { s } = store(t);
  const out = pipe(s);
  out.write(record('before', 'r0'));
  await settle();
  const ac = new AbortController();
  const got: string[] = [];
  const reading = (async () => {
    for await (const line of s.read('hello', { follow: true, signal: ac.signal })) got.push(line.text);
  })();
  await settle();
  out.write(record('during 1', 'r1'));
  s.report(META, 'during 2');
  await settle();
  t.same(got, ['before', 'during 1', 'during 2']);
  t.ok(getEventListeners(ac.signal, 'abort').length <= 1, 'a wait leaves no listener behind on the signal');
  ac.abort();
  await reading;
  out.write(record('after'));
  await settle();
  t.same(got, ['before', 'during 1', 'during 2'], 'nothing after the abort');
  // a follower of a function that has no line yet waits for its first
  const ac2 = new AbortController();
  const first = s.read('later', { follow: true, signal: ac2.signal })[Symbol.asyncIterator]().next();
  s.report({ ...META, fn: 'later' }, 'the first');
  t.match(await first, { value: { fn: 'later', text: 'the first' } });
  ac2.abort();
});

t.test('a follower that reads slower than lines come is dropped from, with a marker', async (t) => {
  const { s } = store(t, { followLines: 5 });
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const it = s.read('hello', { follow: true, signal: ac.signal })[Symbol.asyncIterator]();
  const firstP = it.next();
  s.report(META, 'r0');
  t.match(await firstP, { value: { text: 'r0' } });
  for (let i = 1; i <= 20; i++) s.report(META, `r${i}`);
  const got: string[] = [];
  for (let i = 0; i < 6; i++) got.push(((await it.next()).value as LogLine).text);
  t.same(got, ['r1', 'r2', 'r3', 'r4', 'r5', '15 lines dropped: this reader fell more than 5 lines or 1048576 bytes behind']);
  s.report(META, 'r21');
  t.match(await it.next(), { value: { text: 'r21' } }, 'then it follows again');
  t.equal((await kept(s)).length, 22, 'the store itself lost nothing');
  // long lines count by their bytes
  const { s: small } = store(t, { followBytes: 1000 });
  const it2 = small.read('hello', { follow: true, signal: ac.signal })[Symbol.asyncIterator]();
  const firstLong = it2.next();
  small.report(META, 'start');
  await firstLong;
  for (let i = 0; i < 5; i++) small.report(META, 'l'.repeat(400));
  const texts: string[] = [];
  for (let i = 0; i < 3; i++) texts.push(((await it2.next()).value as LogLine).text);
  t.same(texts.map((x) => x.slice(0, 3)), ['lll', 'lll', '3 l'], 'two fit in 1000 bytes, three are dropped');
});

t.test('the logs survive a restart of the store, and go with their function', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-logs-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const first = new LogStore({ dir });
  const out = new PassThrough();
  first.attach(out, 'stdout', META);
  out.write(record('kept across', 'r1'));
  await settle();
  first.report(META, 'written at close');
  first.close();
  first.close(); // idempotent
  const { s } = store(t, { dir });
  t.match(await kept(s), [{ text: 'kept across', requestId: 'r1' }, { text: 'written at close' }]);
  s.report(META, 'after the restart');
  t.equal((await kept(s)).length, 3, 'appended to');

  const ac = new AbortController();
  const following = (async () => {
    const got: string[] = [];
    for await (const line of s.read('hello', { follow: true, signal: ac.signal })) got.push(line.text);
    return got;
  })();
  const again = pipe(s);
  await settle();
  s.remove('hello');
  t.equal((await following).length, 3, 'a follower ends when its function goes');
  again.write(record('from an instance still running'));
  await settle();
  t.same(fs.readdirSync(dir), [], 'its files are gone, and a late line does not bring them back');
  t.same(await kept(s), []);
});

t.test('a name that cannot be a file name is refused', async (t) => {
  const { s } = store(t);
  t.throws(() => s.report({ ...META, fn: '../etc/passwd' }, 'x'), { code: 'WARREN_LOGS_NAME' });
  await t.rejects(kept(s, '.hidden'), { code: 'WARREN_LOGS_NAME' });
});
