import t from 'tap';
import { parseHead, parseServerTiming } from './server-timing.js';

t.test('server-timing phases, in order, with their durations', async (t) => {
  const cases: Array<[string | undefined, Array<[string, number]>]> = [
    [undefined, []],
    ['', []],
    ['take;dur=0.12, read;dur=0.05, limits;dur=1.5, load;dur=2', [['take', 0.12], ['read', 0.05], ['limits', 1.5], ['load', 2]]],
    ['spawn;dur=12.3,boot;dur=80', [['spawn', 12.3], ['boot', 80]]],
    ['load;desc="module";dur=3.25', [['load', 3.25]]],
    ['cache', [['cache', 0]]],
    ['take;dur="0.5"', [['take', 0.5]]],
    ['bad name;dur=1, take;dur=1', [['take', 1]]],
    ['take;dur=abc', [['take', 0]]],
  ];
  for (const [value, want] of cases) t.same(parseServerTiming(value), want, JSON.stringify(value));
});

t.test('the head of an answer', async (t) => {
  t.same(parseHead('HTTP/1.1 200 OK\r\nX-Warren-Start: prewarm\r\nServer-Timing: take;dur=1\r\n\r\nhello'), {
    status: 200,
    headers: { 'x-warren-start': 'prewarm', 'server-timing': 'take;dur=1' },
  });
  t.same(parseHead('HTTP/1.1 503 Service Unavailable\r\n'), { status: 503, headers: {} }, 'a head cut short still has its status');
  t.equal(parseHead('SSH-2.0-OpenSSH\r\n'), undefined, 'not HTTP');
  t.equal(parseHead(''), undefined, 'nothing');
});
