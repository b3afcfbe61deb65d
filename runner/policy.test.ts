import t from 'tap';
import { adoptAs, bytesToFree, genericTarget, nextBoot, pick, prestartOrder, route, type BootWait, type InstanceView, type RouteInput } from './policy.js';
import { GENERIC_RECORD, instanceRecord, parseSandboxRecord } from './sandbox-record.js';

const ready = (id: string, busy: number, lastUsed = 0): InstanceView => ({ id, state: 'ready', busy, lastUsed });
const starting = (id: string): InstanceView => ({ id, state: 'starting', busy: 0, lastUsed: 0 });
const draining = (id: string, busy: number): InstanceView => ({ id, state: 'draining', busy, lastUsed: 0 });

t.test('route', async (t) => {
  const base: RouteInput = { instances: [], concurrency: 2, queued: 0, maxInstances: 3, queueCap: 4 };
  const rows: Array<[string, Partial<RouteInput>, ReturnType<typeof route>]> = [
    ['no instance: start one', {}, { kind: 'start' }],
    ['an instance with room: use it', { instances: [ready('a', 1)] }, { kind: 'use', id: 'a' }],
    ['all full: start another', { instances: [ready('a', 2)] }, { kind: 'start' }],
    ['one starting takes this request: wait for it', { instances: [ready('a', 2), starting('b')] }, { kind: 'queue' }],
    ['one starting, as many waiting as it serves: start another', { instances: [ready('a', 2), starting('b')], queued: 2 }, { kind: 'start' }],
    ['at the maximum: queue', { instances: [ready('a', 2), ready('b', 2), ready('c', 2)] }, { kind: 'queue' }],
    ['at the maximum and the queue full: refuse', { instances: [ready('a', 2), ready('b', 2), ready('c', 2)], queued: 4 }, { kind: 'refuse' }],
    ['draining instances do not count toward the maximum', { instances: [draining('x', 1), draining('y', 1), draining('z', 1)] }, { kind: 'start' }],
    ['draining instances never serve', { instances: [draining('x', 0)] }, { kind: 'start' }],
    ['those a starting instance will take do not fill the queue', { instances: [ready('a', 2), starting('b'), starting('c')], queued: 7 }, { kind: 'queue' }],
    ['beyond them the queue fills', { instances: [ready('a', 2), starting('b'), starting('c')], queued: 8 }, { kind: 'refuse' }],
    ['a queue of 0 refuses at once', { instances: [ready('a', 2), ready('b', 2), ready('c', 2)], queueCap: 0 }, { kind: 'refuse' }],
  ];
  for (const [name, input, want] of rows) t.same(route({ ...base, ...input }), want, name);
});

t.test('pick packs requests onto the busiest instance with room', async (t) => {
  const rows: Array<[string, InstanceView[], string | undefined]> = [
    ['none', [], undefined],
    ['busiest with room', [ready('a', 0), ready('b', 3), ready('c', 1)], 'b'],
    ['full ones skipped', [ready('a', 4), ready('b', 1)], 'b'],
    ['equal busy: most recently used', [ready('a', 1, 10), ready('b', 1, 30), ready('c', 1, 20)], 'b'],
    ['starting and draining never picked', [starting('a'), draining('b', 0)], undefined],
  ];
  for (const [name, instances, want] of rows) t.equal(pick(instances, 4), want, name);
});

t.test('genericTarget follows cold starts up to the cap, back to the floor after the TTL', async (t) => {
  const sizing = { floor: 2, cap: 5, ttlMs: 1000 };
  const rows: Array<[string, number[], number, number]> = [
    ['no cold starts: the floor', [], 5000, 2],
    ['two recent cold starts: floor + 2', [4500, 4900], 5000, 4],
    ['many: the cap', [4100, 4200, 4300, 4400, 4500, 4600], 5000, 5],
    ['older than the TTL: forgotten', [3000, 3999], 5000, 2],
  ];
  for (const [name, colds, now, want] of rows) t.equal(genericTarget(sizing, colds, now), want, name);
});

t.test('bytesToFree', async (t) => {
  t.equal(bytesToFree(100, 50, 200), 0, 'fits');
  t.equal(bytesToFree(180, 50, 200), 30, 'frees the overflow');
});

t.test('nextBoot: cold starts first, a few at a time, in order; refills once none waits', async (t) => {
  const limits = { coldParallel: 2, patienceMs: 3000 };
  const cold = (since: number): BootWait => ({ kind: 'cold', since });
  const generic = (since: number): BootWait => ({ kind: 'generic', since });
  const rows: Array<[string, BootWait[], number, number | undefined, number?]> = [
    ['nothing waits', [], 0, undefined],
    ['a cold start with a slot free goes', [cold(0)], 1, 0],
    ['the oldest cold start first', [cold(0), cold(1)], 0, 0],
    ['no cold slot free: it waits', [cold(0)], 2, undefined],
    ['a refill waits behind a cold start', [generic(0), cold(1)], 0, 1],
    ['a refill waits while a cold start waits for a slot', [generic(0), cold(1)], 2, undefined],
    ['a refill goes when no cold start waits, whatever runs', [generic(0)], 2, 0],
    ['past its patience a boot goes anyway', [cold(10), generic(0)], 2, 1, 3000],
  ];
  for (const [name, waiting, running, want, now = 100] of rows) t.equal(nextBoot(waiting, running, limits, now), want, name);
});

t.test('prestartOrder: the busiest first, within the count and the memory budget', async (t) => {
  const f = (fn: string, score: number, memoryBytes = 100) => ({ fn, score, memoryBytes });
  t.same(prestartOrder([], 8, 1000), []);
  t.same(prestartOrder([f('a', 1), f('b', 30), f('c', 5)], 8, 1000), ['b', 'c', 'a']);
  t.same(prestartOrder([f('a', 1), f('b', 30), f('c', 5)], 2, 1000), ['b', 'c'], 'at most max');
  t.same(prestartOrder([f('a', 1, 300), f('b', 30, 600), f('c', 5, 600)], 8, 1000), ['b', 'a'], 'one that does not fit is passed over for a smaller one');
});

t.test('adoptAs: what a sandbox the last server left running becomes', async (t) => {
  const live: Record<string, number> = { api: 3, cron: 1 };
  const liveVersion = (fn: string) => live[fn];
  const rows: Array<[string, Readonly<Record<string, unknown>> | undefined, ReturnType<typeof adoptAs>]> = [
    ['a generic runtime stays one', { kind: 'generic' }, GENERIC_RECORD],
    ['an instance of the live version serves it again', { kind: 'instance', fn: 'api', version: 3 }, instanceRecord('api', 3)],
    ['an older version (it was draining) goes', { kind: 'instance', fn: 'api', version: 2 }, { kind: 'destroy', why: "version 2 of 'api' is no longer live (3 is)" }],
    ['a removed function goes', { kind: 'instance', fn: 'gone', version: 1 }, { kind: 'destroy', why: "function 'gone' is no longer deployed" }],
    ['no record (not the runner\'s) goes', undefined, { kind: 'destroy', why: "its record is not a runner's" }],
    ['a record of another shape goes', { kind: 'instance', fn: 'api' }, { kind: 'destroy', why: "its record is not a runner's" }],
    ['an unknown kind goes', { kind: 'kept' }, { kind: 'destroy', why: "its record is not a runner's" }],
    ['a version that is no whole number goes', { kind: 'instance', fn: 'api', version: 2.5 }, { kind: 'destroy', why: "its record is not a runner's" }],
  ];
  for (const [name, stored, want] of rows) t.same(adoptAs(parseSandboxRecord(stored), liveVersion), want, name);
});
