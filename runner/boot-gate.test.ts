import t from 'tap';
import { BootGate } from './boot-gate.js';

t.test('boots take turns: cold starts in order, a refill after them', async (t) => {
  const gate = new BootGate({ coldParallel: 1, patienceMs: 60_000 });
  const order: string[] = [];
  const first = await gate.enter('cold');
  t.equal(first.waitedMs, 0, 'a free slot: at once');
  const second = gate.enter('cold').then((turn) => (order.push('cold'), turn));
  const refill = gate.enter('generic').then((turn) => (order.push('generic'), turn));
  await new Promise((r) => setTimeout(r, 20));
  t.same(order, [], 'the cold start waits for the slot, the refill for the cold start');
  first.release();
  first.release(); // idempotent: it frees one slot only
  const turn = await second;
  await new Promise((r) => setTimeout(r, 5));
  t.same(order, ['cold', 'generic'], 'the waiting cold start first; then the refill, which holds no cold slot');
  t.ok(turn.waitedMs > 0, 'it says it waited');
  const third = gate.enter('cold');
  let went = false;
  void third.then(() => (went = true));
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(went, 'one cold slot: held while the second runs');
  turn.release();
  (await third).release();
  (await refill).release();
});

t.test('a boot past its patience goes whatever runs', async (t) => {
  const gate = new BootGate({ coldParallel: 1, patienceMs: 30 });
  const held = await gate.enter('cold');
  const alive = setTimeout(() => {}, 1000); // the gate's own timer does not hold the process
  const late = await gate.enter('cold');
  clearTimeout(alive);
  t.ok(late.waitedMs >= 29, `went after ${Math.round(late.waitedMs)} ms`);
  held.release();
  late.release();
});
