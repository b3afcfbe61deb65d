import t from 'tap';
import { SpareLists, returnVerdict, sparesToMake, touchKey, type Verdict } from './spares.js';

t.test('sparesToMake: up to the target, counting those being made', async (t) => {
  const rows: Array<[free: number, making: number, target: number, closed: boolean, make: number, room?: number]> = [
    [0, 0, 2, false, 2],
    [0, 0, 2, false, 1, 1], // the budget across keys leaves room for one
    [0, 0, 2, false, 0, 0],
    [0, 0, 2, false, 0, -1], // over budget (a lower one set): never negative
    [1, 0, 2, false, 1],
    [0, 1, 2, false, 1],
    [1, 1, 2, false, 0],
    [3, 0, 2, false, 0], // more than the target (given back): never negative
    [0, 0, 0, false, 0], // reuse only
    [0, 0, 2, true, 0], // closed: nothing more
  ];
  for (const [free, making, target, closed, make, room] of rows)
    t.equal(sparesToMake({ free, making }, target, closed, room), make, `free ${free}, making ${making}, target ${target}${closed ? ', closed' : ''}${room !== undefined ? `, room ${room}` : ''}`);
});

t.test('touchKey: least recently used keys fall out beyond the max', async (t) => {
  const rows: Array<[recent: string[], key: string, max: number, next: string[], evicted: string[]]> = [
    [[], 'a', 2, ['a'], []],
    [['a'], 'b', 2, ['a', 'b'], []],
    [['a', 'b'], 'a', 2, ['b', 'a'], []], // used again: newest, nothing falls out
    [['a', 'b'], 'c', 2, ['b', 'c'], ['a']],
    [['a', 'b', 'c'], 'd', 1, ['d'], ['a', 'b', 'c']], // a lower max: all the older ones go
    [['a'], 'b', 0, [], ['a', 'b']], // no key kept at all
  ];
  for (const [recent, key, max, next, evicted] of rows) {
    const before = [...recent];
    t.same(touchKey(recent, key, max), { recent: next, evicted }, `[${recent}] + ${key}, max ${max}`);
    t.same(recent, before, 'the input is not changed');
  }
});

t.test('returnVerdict: kept only when clean, open, its key kept and its list not full', async (t) => {
  const ok: Parameters<typeof returnVerdict>[0] = { clean: true, closed: false, keyKept: true, free: 0, maxFree: 2 };
  const rows: Array<[change: Partial<typeof ok>, verdict: Verdict]> = [
    [{}, 'keep'],
    [{ free: 1 }, 'keep'],
    [{ free: 2 }, 'drop'],
    [{ clean: false }, 'drop'],
    [{ closed: true }, 'drop'],
    [{ keyKept: false }, 'drop'],
    [{ maxFree: 0 }, 'drop'],
    [{ room: 1 }, 'keep'],
    [{ room: 0 }, 'drop'], // the budget across keys is spent
  ];
  for (const [change, verdict] of rows) t.equal(returnVerdict({ ...ok, ...change }), verdict, JSON.stringify(change));
});

t.test('SpareLists: a take starts its replacement; a made one is kept up to the target', async (t) => {
  const s = new SpareLists<string>({ target: 2, maxFree: 2, maxKeys: 2 });
  t.same(s.touch('a'), []);
  t.equal(s.take('a'), undefined, 'nothing made yet');
  t.equal(s.startMaking('a'), 2);
  t.equal(s.startMaking('a'), 0, 'two being made: no more');
  t.equal(s.made('a', 'a1'), 'keep');
  t.equal(s.made('a', undefined), 'drop', 'a failed one');
  t.equal(s.startMaking('a'), 1, 'the failed one is made again');
  t.equal(s.made('a', 'a2'), 'keep');
  t.equal(s.take('a'), 'a2', 'the most recently made');
  t.equal(s.freeCount('a'), 1);
  t.equal(s.startMaking('a'), 1);
});

t.test('SpareLists: an evicted key hands back its free spares; one made after is dropped', async (t) => {
  const s = new SpareLists<string>({ target: 1, maxFree: 4, maxKeys: 2 });
  s.touch('a');
  s.startMaking('a');
  s.made('a', 'a1');
  s.touch('b');
  s.startMaking('b');
  t.same(s.touch('c'), ['a1'], "a fell out: its spare is the caller's to drop");
  t.equal(s.freeCount('a'), 0);
  t.same(s.touch('d'), [], 'b had none free yet');
  t.equal(s.made('b', 'b1'), 'drop', 'b was evicted while its spare was being made');
});

t.test('SpareLists: a budget across keys caps what is made and kept', async (t) => {
  const s = new SpareLists<string>({ target: 2, maxFree: 4, maxKeys: 4, maxTotal: 3 });
  s.touch('a');
  s.touch('b');
  t.equal(s.startMaking('a'), 2);
  t.equal(s.startMaking('b'), 1, 'one left in the budget');
  t.equal(s.made('a', 'a1'), 'keep', 'a made one keeps the room it was made in');
  t.equal(s.made('a', 'a2'), 'keep');
  t.equal(s.made('b', 'b1'), 'keep');
  t.equal(s.give('b', 'b2', true), 'drop', 'given back over the budget');
  t.equal(s.take('a'), 'a2');
  t.equal(s.give('b', 'b2', true), 'keep', 'room again after a take');
});

t.test('SpareLists: given back after use, kept when clean and room is left', async (t) => {
  const s = new SpareLists<string>({ target: 0, maxFree: 1, maxKeys: 4 });
  t.equal(s.startMaking('x'), 0, 'target 0: reuse only');
  t.equal(s.give('x', 'x1', true), 'drop', 'a key never used keeps nothing');
  s.touch('x');
  t.equal(s.give('x', 'x1', false), 'drop', 'not clean');
  t.equal(s.give('x', 'x2', true), 'keep');
  t.equal(s.give('x', 'x3', true), 'drop', 'full');
  t.ok(s.remove('x', 'x2'), 'ended by itself: forgotten');
  t.notOk(s.remove('x', 'x2'));
  t.equal(s.take('x'), undefined);
});

t.test('SpareLists: close hands back every free spare, keeps nothing after, and is idempotent', async (t) => {
  const s = new SpareLists<string>({ target: 1, maxFree: 2, maxKeys: 4 });
  for (const k of ['a', 'b']) {
    s.touch(k);
    s.startMaking(k);
    s.made(k, `${k}1`);
  }
  s.startMaking('a');
  t.same(s.close().sort(), ['a1', 'b1']);
  t.same(s.close(), []);
  t.ok(s.closed);
  t.equal(s.made('a', 'a2'), 'drop', 'made after the close');
  t.equal(s.startMaking('a'), 0);
  t.equal(s.give('a', 'a3', true), 'drop');
});
