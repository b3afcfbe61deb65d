import t from 'tap';
import { failuresError, messageOf, runSteps, Undo } from './cleanup.js';
import { WarrenError } from './errors.js';

t.test('runSteps runs every step and names each failure, in order', async (t) => {
  const ran: string[] = [];
  const failed = await runSteps([
    { name: 'a', run: () => ran.push('a') },
    { name: 'b', run: () => { ran.push('b'); throw new Error('b broke'); } },
    { name: 'c', run: async () => { ran.push('c'); throw new Error('c broke'); } },
    { name: 'd', run: () => ran.push('d') },
  ]);
  t.same(ran, ['a', 'b', 'c', 'd'], 'all ran');
  t.same(failed.map((f) => f.name), ['b', 'c']);
  const err = failuresError('WARREN_SANDBOX_RELEASE', 'sandbox w1: release', failed);
  t.equal(err?.code, 'WARREN_SANDBOX_RELEASE');
  t.equal(err?.message, 'sandbox w1: release: b: b broke; c: c broke');
  t.ok(err?.cause instanceof AggregateError, 'the errors themselves are kept');
  t.equal(failuresError('WARREN_SANDBOX_RELEASE', 'y', []), undefined, 'nothing failed: no error');
});

t.test('Undo runs last first, once', async (t) => {
  const ran: string[] = [];
  const undo = new Undo();
  undo.push('lease', () => ran.push('lease'));
  undo.push('cgroup', () => ran.push('cgroup'));
  t.same(await undo.run(), []);
  t.same(ran, ['cgroup', 'lease']);
  await undo.run();
  t.same(ran, ['cgroup', 'lease'], 'not twice');
});

t.test('messageOf shows the causes a message would hide', async (t) => {
  const errno = Object.assign(new Error("ENOSPC: no space left on device, mkdir '/run/x'"), { code: 'ENOSPC' });
  t.equal(messageOf(new WarrenError('WARREN_SANDBOX_CREATE', 'make run dir', { cause: errno })), "make run dir: ENOSPC: no space left on device, mkdir '/run/x'");
  t.equal(messageOf(new WarrenError('WARREN_SANDBOX_CREATE', 'a: boom', { cause: new Error('boom') })), 'a: boom', 'a cause already quoted is not repeated');
  t.equal(messageOf('text'), 'text');
});
