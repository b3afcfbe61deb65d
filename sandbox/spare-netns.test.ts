/**
 * SpareNetns's hand-outs, against a fake spawner (no root): a netns some sandbox used goes only to
 * later sandboxes of the same tenant; without a tenant, or dirty, it is dropped.
 */
import t from 'tap';
import { SpareNetns } from './spare-netns.js';
import type { Spawner } from './spawner.js';

function fakeSpawner() {
  const made: string[] = [];
  const deleted: string[] = [];
  const spawner = {
    onNetnsGone: undefined as ((id: string) => void) | undefined,
    addNetns: async (spec: { id: string }) => void made.push(spec.id),
    delNetns: (id: string) => void deleted.push(id),
  };
  return { spawner, made, deleted };
}

const noNetwork = () => Promise.reject(new Error('no bridge in this test'));
const settle = () => new Promise((r) => setImmediate(r));

t.test('a used netns goes back only to its own tenant', async (t) => {
  const f = fakeSpawner();
  const pool = new SpareNetns(f.spawner as unknown as Spawner, noNetwork, 1);
  const a = await pool.take('loopback', 'X');
  await settle();
  pool.give(a, 'clean', 'X');
  const b = await pool.take('loopback', 'Y');
  t.not(b.id, a.id, 'another tenant gets a fresh one');
  const c = await pool.take('loopback', 'X');
  t.equal(c.id, a.id, 'the same tenant gets its own back');
  pool.give(b, 'clean', 'Y');
  pool.give(c, 'clean', 'X');
  t.same(f.deleted, [], 'both kept for their tenants');
  pool.close();
  await settle();
  t.same(f.deleted.sort(), f.made.sort(), 'close drops every one the spawner made');
});

t.test('dropped: used without a tenant, dirty, or given back unused with no room', async (t) => {
  const rows: Array<[what: string, spare: number, outcome: 'clean' | 'dirty' | 'unused', tenant: string | undefined, kept: boolean, delNetns: boolean]> = [
    ['clean, no tenant', 1, 'clean', undefined, false, true],
    ['dirty: the spawner discarded it already', 1, 'dirty', 'X', false, false],
    ['clean, tenant X', 1, 'clean', 'X', true, false],
    ['unused, room among the fresh ones', 1, 'unused', 'X', true, false],
    ['unused, no spares kept (spare 0)', 0, 'unused', 'X', false, true],
  ];
  for (const [what, spare, outcome, tenant, kept, delNetns] of rows) {
    const f = fakeSpawner();
    const pool = new SpareNetns(f.spawner as unknown as Spawner, noNetwork, spare);
    const a = await pool.take('loopback', 'X');
    await settle(); // its replacements are made
    pool.give(a, outcome, tenant);
    const next = await pool.take('loopback', 'X');
    await settle();
    t.equal(next.id === a.id, kept, `${what}: ${kept ? 'handed out again' : 'not handed out again'}`);
    t.equal(f.deleted.includes(a.id), delNetns, `${what}: ${delNetns ? 'deleted in the spawner' : 'not deleted by the pool'}`);
    pool.close();
  }
});

t.test('a netns the spawner dropped after calling it clean is never handed out', async (t) => {
  const f = fakeSpawner();
  const pool = new SpareNetns(f.spawner as unknown as Spawner, noNetwork, 0);
  const a = await pool.take('loopback', 'X');
  f.spawner.onNetnsGone?.(a.id); // its reset failed: it arrives before the sandbox's release
  pool.give(a, 'clean', 'X');
  const b = await pool.take('loopback', 'X');
  t.not(b.id, a.id);
  t.notOk(f.deleted.includes(a.id), 'not deleted again');
  pool.close();
});
