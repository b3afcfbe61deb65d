import t from 'tap';
import { decodePayload, encodeFrame, field, FrameDecoder } from './protocol.js';

t.test('a frame round-trips, repeated keys kept in order, values may hold = and spaces', async (t) => {
  const frame = encodeFrame('spawn', [['id', 'a'], ['arg', 'node'], ['arg', '-e'], ['arg', 'x = 1'], ['env', 'A=B=C']]);
  t.equal(frame.readUInt32LE(0), frame.length - 4);
  const m = decodePayload(frame.subarray(4));
  t.equal(m.type, 'spawn');
  t.same(m.fields.get('arg'), ['node', '-e', 'x = 1']);
  t.equal(field(m, 'env'), 'A=B=C');
});

t.test('the decoder splits a stream at any byte boundary', async (t) => {
  const stream = Buffer.concat([encodeFrame('hello', [['version', 1]]), encodeFrame('exit', [['id', '7'], ['code', 3]])]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new FrameDecoder();
    const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
    t.same(got.map((m) => m.type), ['hello', 'exit'], `cut at ${cut}`);
  }
});

t.test('a NUL inside a field is refused, not sent truncated', async (t) => {
  t.throws(() => encodeFrame('spawn', [['arg', 'a\0b']]), /NUL/);
});

t.test('an oversized frame length is refused', async (t) => {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(1 << 30, 0);
  t.throws(() => new FrameDecoder().push(head), /over/);
});
