/**
 * Sandboxes made ahead of their request ("standby"): each has its id, uid lease and cgroup, and
 * its child is cloned and already in that cgroup, parked in the spawner (Spawner.prep). A create()
 * takes one whose limits match and hands it the rest of its request; taking one starts its
 * replacement off the request path.
 *
 * Why: on cgroup v1 a task's move into a cgroup waits for an RCU grace period (~10-15 ms here)
 * unless another move happened within the last grace period. At a high spawn rate the moves keep
 * each other fast; at the rate of a pool starting node runtimes (one every few tens of ms) every
 * spawn paid the whole wait. A parked child pays it while nobody waits for it. Its clone moves
 * off the request path too.
 *
 * States of an entry: parked (in the free list) -> taken (its Sandbox owns it from then on) or
 * ended (failed or killed while parked: its cgroup and lease are released here).
 */
import { randomBytes } from 'node:crypto';
import type { LeaseSet, Lease } from '../lib/leases.js';
import type { Cgroup, CgroupDriver, CgroupLimits } from './cgroups/index.js';
import type { Spawner, Spawning } from './spawner.js';

export interface Standby {
  readonly id: string;
  readonly lease: Lease;
  readonly cgroup: Cgroup;
  readonly spawning: Spawning;
}

interface Entry extends Standby {
  key: string;
  taken: boolean;
  ended: boolean;
  /** Settles once a parked entry that ended released its cgroup and lease. */
  released: Promise<void>;
}

const SIGKILL = 9;
/** Sets of limits kept parked at once: the most recently used ones. A platform gives each
 * function its own limits, and a parked sandbox for every set ever used would pile up. */
const KEYS_MAX = 4;

export function limitsKey(l: Required<CgroupLimits>): string {
  return `${l.memoryBytes}/${l.cpus}/${l.pids}`;
}

export class StandbyPool {
  readonly #spawner: Spawner;
  readonly #cgroups: CgroupDriver;
  readonly #uids: LeaseSet;
  readonly #spare: number;
  /** Parked entries by limits key, and entries still being made, so a refill never overshoots. */
  readonly #free = new Map<string, Entry[]>();
  readonly #making = new Map<string, number>();
  readonly #all = new Set<Entry>();
  readonly #inFlight = new Set<Promise<void>>();
  /** Keys by last use, oldest first. */
  readonly #recent: string[] = [];
  #closed = false;

  constructor(spawner: Spawner, cgroups: CgroupDriver, uids: LeaseSet, spare: number) {
    this.#spawner = spawner;
    this.#cgroups = cgroups;
    this.#uids = uids;
    this.#spare = spare;
  }

  /** A parked sandbox with these limits, or undefined; either way, refills behind it. */
  take(limits: Required<CgroupLimits>): Standby | undefined {
    const key = limitsKey(limits);
    const list = this.#free.get(key) ?? [];
    let entry: Entry | undefined;
    while (!entry && list.length) {
      const e = list.shift() as Entry;
      if (!e.ended) entry = e;
    }
    if (entry) entry.taken = true;
    this.#touch(key);
    this.#refill(key, limits);
    return entry;
  }

  /** Marks `key` as just used; the least recently used beyond KEYS_MAX loses its parked ones. */
  #touch(key: string): void {
    const at = this.#recent.indexOf(key);
    if (at >= 0) this.#recent.splice(at, 1);
    this.#recent.push(key);
    while (this.#recent.length > KEYS_MAX) {
      const old = this.#recent.shift() as string;
      for (const e of this.#free.get(old) ?? []) this.#spawner.kill(e.id, SIGKILL); // their exits release them
      this.#free.delete(old);
    }
  }

  #refill(key: string, limits: Required<CgroupLimits>): void {
    const have = (this.#free.get(key)?.length ?? 0) + (this.#making.get(key) ?? 0);
    for (let i = have; i < this.#spare && !this.#closed; i++) {
      this.#making.set(key, (this.#making.get(key) ?? 0) + 1);
      const making: Promise<void> = this.#make(key, limits)
        .catch(() => {
          // a standby that cannot be made is no loss: the next create() makes its sandbox itself,
          // and reports the same failure to its caller
        })
        .finally(() => {
          this.#making.set(key, (this.#making.get(key) ?? 1) - 1);
          this.#inFlight.delete(making);
        });
      this.#inFlight.add(making);
    }
  }

  async #make(key: string, limits: Required<CgroupLimits>): Promise<void> {
    const id = `w${randomBytes(6).toString('hex')}`;
    const lease = this.#uids.take(id);
    let cgroup: Cgroup;
    try {
      cgroup = await this.#cgroups.create(id, limits);
    } catch (err) {
      lease.release();
      throw err;
    }
    if (this.#closed) {
      await cgroup[Symbol.asyncDispose]();
      lease.release();
      return;
    }
    const spawning = this.#spawner.prep(id, cgroup.dirs);
    const entry: Entry = { id, lease, cgroup, spawning, key, taken: false, ended: false, released: Promise.resolve() };
    this.#all.add(entry);
    // before its hand-over, a settled `ready` can only be a failure (or a kill by close())
    spawning.ready.catch(() => (entry.ended = true));
    entry.released = spawning.exited.then(async () => {
      entry.ended = true;
      this.#all.delete(entry);
      if (entry.taken) return; // its Sandbox releases what it holds
      const list = this.#free.get(key) ?? [];
      if (list.includes(entry)) list.splice(list.indexOf(entry), 1);
      await cgroup[Symbol.asyncDispose]().catch(() => {});
      lease.release();
    });
    if (!this.#recent.includes(key)) {
      // evicted while it was being made: not kept
      this.#spawner.kill(id, SIGKILL);
      return;
    }
    const list = this.#free.get(key) ?? [];
    list.push(entry);
    this.#free.set(key, list);
  }

  /** Kills every parked sandbox and waits until what they held is released. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    // those being made see #closed and undo themselves; wait for them first, then kill the rest
    await Promise.all([...this.#inFlight]);
    const parked = [...this.#all].filter((e) => !e.taken);
    for (const e of parked) this.#spawner.kill(e.id, SIGKILL);
    await Promise.all(parked.map((e) => e.released));
    this.#free.clear();
  }
}
