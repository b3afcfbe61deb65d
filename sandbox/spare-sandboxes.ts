/**
 * Spare sandboxes (lib/spares.ts): each has its id, uid lease and cgroup, and its child is cloned
 * and already in that cgroup, waiting in the spawner (Spawner.prep; the spawner calls such a child
 * parked). A create() takes a spare whose limits match and hands it the rest of its request;
 * taking one starts its replacement off the request path.
 *
 * Why: on cgroup v1 a task's move into a cgroup waits for an RCU grace period (~10-15 ms here)
 * unless another move happened within the last grace period. At a high spawn rate the moves keep
 * each other fast; at the rate of a pool starting node runtimes (one every few tens of ms) every
 * spawn paid the whole wait. A spare pays it while nobody waits for it. Its clone moves off the
 * request path too.
 *
 * A spare is never given back: once taken, its Sandbox owns it. States (SpareState): making ->
 * free -> taken, or -> dropped (failed, killed while free, or not wanted when made: its cgroup
 * and lease are released here).
 */
import { randomBytes } from 'node:crypto';
import type { LeaseSet, Lease } from '../lib/leases.js';
import { SpareLists, type SpareState } from '../lib/spares.js';
import { limitsKey, type Cgroup, type CgroupDriver, type CgroupLimits } from './cgroups/index.js';
import type { Spawning } from './spawn-request.js';
import type { Spawner } from './spawner.js';

export interface SpareSandbox {
  readonly id: string;
  readonly lease: Lease;
  readonly cgroup: Cgroup;
  readonly spawning: Spawning;
}

interface Entry extends SpareSandbox {
  state: Exclude<SpareState, 'making'>;
  /** Settles once a spare that ended before it was taken released its cgroup and lease. */
  released: Promise<void>;
}

const SIGKILL = 9;
/** Sets of limits that keep spares: the most recently used ones. A platform gives each function
 * its own limits, and spares for every set ever used would pile up. */
const KEYS_MAX = 4;

export class SpareSandboxes {
  readonly #spawner: Spawner;
  readonly #cgroups: CgroupDriver;
  readonly #uids: LeaseSet;
  readonly #spares: SpareLists<Entry>;
  /** Every spare not dropped yet, and the makings in flight, for close(). */
  readonly #all = new Set<Entry>();
  readonly #inFlight = new Set<Promise<void>>();

  constructor(spawner: Spawner, cgroups: CgroupDriver, uids: LeaseSet, spare: number) {
    this.#spawner = spawner;
    this.#cgroups = cgroups;
    this.#uids = uids;
    this.#spares = new SpareLists({ target: spare, maxFree: spare, maxKeys: KEYS_MAX });
  }

  /**
   * A spare sandbox with these limits, or undefined; either way, refills behind it: now, or once
   * `until` settles. SandboxHost.create passes its sandbox's start (its
   * command exec'd, or the create failed): the replacement's cgroup (mkdirs and limit writes,
   * ~1 ms of this thread) and its clone in the spawner, and a bridged netns's veth (2-4 ms of
   * the spawner; spare-netns.ts), then come after that start. Made at the take, they went to the
   * spawner ahead of the spawn that took the spare (4.5 ms of host CPU in create, 2.2 without);
   * made right after its spawn, they slowed its child's setup instead (spawn request to exec,
   * p50 20 ms against 7 when made later, 20 starts each, VM at load 5).
   */
  take(limits: Required<CgroupLimits>, until?: Promise<unknown>): SpareSandbox | undefined {
    const key = limitsKey(limits);
    for (const old of this.#spares.touch(key)) this.#spawner.kill(old.id, SIGKILL); // their exits release them
    let entry = this.#spares.take(key);
    while (entry && entry.state !== 'free') entry = this.#spares.take(key);
    if (entry) entry.state = 'taken';
    const refill = () => this.#refill(key, limits);
    if (until) void until.then(refill, refill);
    else refill();
    return entry;
  }

  #refill(key: string, limits: Required<CgroupLimits>): void {
    for (let n = this.#spares.startMaking(key); n > 0; n--) {
      const making: Promise<void> = this.#make(key, limits)
        .then(
          (entry) => {
            // not wanted any more (closed, or its limits evicted meanwhile): its exit releases it
            if (this.#spares.made(key, entry) === 'drop' && entry) this.#spawner.kill(entry.id, SIGKILL);
          },
          // a spare that cannot be made is no loss: the next create() makes its sandbox itself,
          // and reports the same failure to its caller
          () => void this.#spares.made(key, undefined),
        )
        .finally(() => this.#inFlight.delete(making));
      this.#inFlight.add(making);
    }
  }

  /** A spare, its child parked in the spawner; undefined when closed meanwhile. */
  async #make(key: string, limits: Required<CgroupLimits>): Promise<Entry | undefined> {
    const id = `w${randomBytes(6).toString('hex')}`;
    const lease = this.#uids.take(id);
    let cgroup: Cgroup;
    try {
      cgroup = await this.#cgroups.create(id, limits);
    } catch (err) {
      lease.release();
      throw err;
    }
    if (this.#spares.closed) {
      await cgroup[Symbol.asyncDispose]();
      lease.release();
      return undefined;
    }
    const spawning = this.#spawner.prep(id, cgroup.dirs);
    const entry: Entry = { id, lease, cgroup, spawning, state: 'free', released: Promise.resolve() };
    this.#all.add(entry);
    // before its hand-over, a settled `ready` can only be a failure (or a kill)
    spawning.ready.catch(() => {
      if (entry.state === 'free') entry.state = 'dropped';
    });
    entry.released = spawning.exited.then(async () => {
      this.#all.delete(entry);
      if (entry.state === 'taken') return; // its Sandbox releases what it holds
      entry.state = 'dropped';
      this.#spares.remove(key, entry);
      await cgroup[Symbol.asyncDispose]().catch(() => {});
      lease.release();
    });
    return entry;
  }

  /** Kills every spare and waits until what they held is released. Idempotent. */
  async close(): Promise<void> {
    this.#spares.close();
    // those being made see the close and undo themselves; wait for them first, then kill the rest
    await Promise.all([...this.#inFlight]);
    const spares = [...this.#all].filter((e) => e.state !== 'taken');
    for (const e of spares) this.#spawner.kill(e.id, SIGKILL);
    await Promise.all(spares.map((e) => e.released));
  }

  /** Spares serve no request: nothing waits on them, so destroying is closing. */
  async destroy(): Promise<void> {
    await this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
