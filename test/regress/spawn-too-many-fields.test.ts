/**
 * Regression: a spawn request with more than 1024 fields (`warren run -- CMD $(seq 1 1100)`) was
 * dropped by the spawner's frame parser without an answer: the runner waited forever for the
 * sandbox, ignored SIGTERM and leaked its cgroup and lease until SIGKILL. Now every refusal is
 * answered (error stage=request under the id the frame named), the limits are 8192 fields and
 * 4096 args, and the runner refuses what is over them itself, with a WarrenError, before sending.
 */
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import t from 'tap';
import { encodeFrame, field, FrameDecoder, type Message } from '../../sandbox/protocol.js';
import { SPAWNER_BINARY } from '../../sandbox/spawner.js';
import { NEEDS_ROOT, testEnv, warren } from '../integration/helpers.js';

/** A frame as a broken or hostile runner would send it: no limit checked on this side. */
function rawFrame(type: string, fields: string[]): Buffer {
  const payload = Buffer.from([type, ...fields].join('\0') + '\0');
  const head = Buffer.alloc(4);
  head.writeUInt32LE(payload.length, 0);
  return Buffer.concat([head, payload]);
}

t.test('the spawner answers a frame it refuses', { skip: NEEDS_ROOT }, async (t) => {
  const child = spawn(SPAWNER_BINARY, [], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'], env: {} });
  t.teardown(() => child.kill('SIGKILL'));
  const ctrl = child.stdio[3] as Socket;
  const decoder = new FrameDecoder();
  const messages: Message[] = [];
  const next = () =>
    new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer in 10 s')), 10_000);
      const look = () => {
        const m = messages.shift();
        if (!m) return setTimeout(look, 10);
        clearTimeout(timer);
        resolve(m);
      };
      look();
    });
  ctrl.on('data', (d: Buffer) => messages.push(...decoder.push(d)));
  t.equal((await next()).type, 'hello', 'hello first');
  const args = Array.from({ length: 9000 }, (_, i) => `arg=${i}`);
  ctrl.write(rawFrame('spawn', ['id=wtoomany0001', ...args]));
  const answer = await next();
  t.equal(answer.type, 'error', '9000 fields: an error, not silence');
  t.equal(field(answer, 'id'), 'wtoomany0001', 'under the id the frame named');
  t.equal(field(answer, 'stage'), 'request', 'stage request');
  ctrl.write(rawFrame('bogus', ['id=wbogus000001']));
  const bogus = await next();
  t.equal(bogus.type, 'error', 'an unknown request type: an error too');
  t.equal(field(bogus, 'id'), 'wbogus000001', 'under its id');
  ctrl.end();
});

t.test('the runner refuses a frame over the limits with a WarrenError', async (t) => {
  t.throws(() => encodeFrame('spawn', Array.from({ length: 9000 }, (_, i) => ['arg', i] as const)), { code: 'WARREN_PROTOCOL_TOO_MANY_FIELDS' });
  t.throws(() => encodeFrame('spawn', [['env', 'A=b\0c']]), { code: 'WARREN_PROTOCOL_NUL' });
  t.throws(() => encodeFrame('spawn', [['arg', 'x'.repeat(1 << 20)]]), { code: 'WARREN_PROTOCOL_FRAME_SIZE' });
});

t.test('warren run with 1100 args runs; with 5000 it is refused at once', { skip: NEEDS_ROOT }, async (t) => {
  const many = Array.from({ length: 1100 }, (_, i) => String(i));
  const r = await warren(['run', '--', 'node', '-e', 'console.log(process.argv.length)', ...many], { env: testEnv(), timeoutMs: 60_000 });
  t.equal(r.code, 0, `1100 args: exit 0 (${r.stderr})`);
  t.equal(r.stdout.trim(), String(1101), 'node saw them all');
  const tooMany = Array.from({ length: 5000 }, (_, i) => String(i));
  const refused = await warren(['run', '--', 'true', ...tooMany], { env: testEnv(), timeoutMs: 30_000 });
  t.equal(refused.code, 125, 'exit 125: warren refused it');
  t.match(refused.stderr, /argv: 5001 entries, at most 4096/, 'and says why');
});
