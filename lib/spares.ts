/**
 * Spares: things made ahead of the request that needs them, kept free under a key (a set of
 * limits, a kind of network namespace, a tenant), and handed to the next user with that key.
 * Three pools keep spares today (sandbox/spare-sandboxes.ts, sandbox/spare-netns.ts, the v1 cgroup
 * driver's emptied cgroups) and the runner's pool will keep warm runtimes the same way; they
 * share this policy. What a pool does (spawn, mkdir, kill) stays in the pool.
 *
 * The decisions are pure functions over plain data (sparesToMake, touchKey, returnVerdict),
 * tested as tables. SpareLists holds the bookkeeping every pool repeated (free lists by key,
 * counts being made, keys by last use, closed) and applies them; it does no I/O and has no
 * timers: what it hands back (evicted, dropped) the caller disposes of.
 *
 * States of a spare, a closed set:
 *   making -> free (kept)          made, and filed under its key
 *   making -> dropped              made, but not wanted any more (closed, key evicted, list full)
 *   free   -> taken                handed to a user; the pool no longer owns it
 *   free   -> dropped              its key was evicted, the pool closed, or it ended by itself
 *   taken  -> free | dropped       given back by its user (returnVerdict), where a pool reuses
 */
export type SpareState = 'making' | 'free' | 'taken' | 'dropped';

export interface SparePolicy {
  /** Spares made ahead per key in use: a take starts the making of its replacement. 0: only what
   * users give back is kept (reuse without making ahead). */
  readonly target: number;
  /** Free spares one key may hold, made or given back; one more is dropped. */
  readonly maxFree: number;
  /** Keys that keep spares: the most recently used ones; an older key loses its free spares. */
  readonly maxKeys: number;
  /** Spares free or being made across all keys (a budget); none when absent. */
  readonly maxTotal?: number;
}

/** How many to start making for a key: up to the target, counting those being made, and no more
 * than `room` left under a budget across keys. */
export function sparesToMake(have: { free: number; making: number }, target: number, closed: boolean, room = Infinity): number {
  return closed ? 0 : Math.max(0, Math.min(target - have.free - have.making, room));
}

/** `key` was just used: it moves to the end of `recent` (oldest first); the keys beyond `maxKeys`
 * fall out, oldest first. */
export function touchKey(recent: readonly string[], key: string, maxKeys: number): { recent: string[]; evicted: string[] } {
  const next = recent.filter((k) => k !== key);
  next.push(key);
  const evicted = next.splice(0, Math.max(0, next.length - maxKeys));
  return { recent: next, evicted };
}

/** Whether a spare made or given back is kept free under its key. */
export type Verdict = 'keep' | 'drop';

export function returnVerdict(r: { clean: boolean; closed: boolean; keyKept: boolean; free: number; maxFree: number; room?: number }): Verdict {
  return r.clean && !r.closed && r.keyKept && r.free < r.maxFree && (r.room ?? Infinity) > 0 ? 'keep' : 'drop';
}

/** The bookkeeping of one pool's spares; T is the pool's own record of one. */
export class SpareLists<T> {
  readonly policy: SparePolicy;
  readonly #free = new Map<string, T[]>();
  readonly #making = new Map<string, number>();
  #recent: string[] = [];
  #closed = false;

  constructor(policy: SparePolicy) {
    this.policy = policy;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Marks `key` as used; returns the free spares of the keys that fell out, for the caller to
   * drop. */
  touch(key: string): T[] {
    const { recent, evicted } = touchKey(this.#recent, key, this.policy.maxKeys);
    this.#recent = recent;
    return evicted.flatMap((k) => this.#dropKey(k));
  }

  /** The most recently freed spare of `key` (the warmest), or undefined; `take` does not touch. */
  take(key: string): T | undefined {
    const list = this.#free.get(key);
    const spare = list?.pop();
    if (list && !list.length) this.#free.delete(key);
    return spare;
  }

  /** Counts the spares the caller is to start making for `key` now, as being made. */
  startMaking(key: string): number {
    const n = sparesToMake({ free: this.freeCount(key), making: this.makingCount(key) }, this.policy.target, this.#closed, this.#room());
    if (n) this.#making.set(key, this.makingCount(key) + n);
    return n;
  }

  /** One being made is done: `spare` when made, undefined when it failed. 'drop': the caller
   * disposes of it. */
  made(key: string, spare: T | undefined): Verdict {
    const left = this.makingCount(key) - 1;
    if (left > 0) this.#making.set(key, left);
    else this.#making.delete(key);
    return spare === undefined ? 'drop' : this.give(key, spare, true);
  }

  /** A spare comes back (made, or given back after use and `clean`): kept free, or 'drop' for the
   * caller to dispose of. */
  give(key: string, spare: T, clean: boolean): Verdict {
    const verdict = returnVerdict({
      clean,
      closed: this.#closed,
      keyKept: this.#recent.includes(key),
      free: this.freeCount(key),
      maxFree: this.policy.maxFree,
      room: this.#room(),
    });
    if (verdict === 'keep') {
      const list = this.#free.get(key) ?? [];
      list.push(spare);
      this.#free.set(key, list);
    }
    return verdict;
  }

  /** Forgets a free spare that ended by itself; true when it was free here. */
  remove(key: string, spare: T): boolean {
    const list = this.#free.get(key);
    const at = list ? list.indexOf(spare) : -1;
    if (at < 0) return false;
    list!.splice(at, 1);
    if (!list!.length) this.#free.delete(key);
    return true;
  }

  /** Stops keeping spares; returns the free ones, for the caller to drop. Idempotent. */
  close(): T[] {
    this.#closed = true;
    this.#recent = [];
    return [...this.#free.keys()].flatMap((k) => this.#dropKey(k));
  }

  freeCount(key: string): number {
    return this.#free.get(key)?.length ?? 0;
  }

  makingCount(key: string): number {
    return this.#making.get(key) ?? 0;
  }

  /** What the budget leaves. A made one leaves `making` before it is filed, so the room that let
   * it be made is still there for it. */
  #room(): number {
    if (this.policy.maxTotal === undefined) return Infinity;
    let used = 0;
    for (const list of this.#free.values()) used += list.length;
    for (const n of this.#making.values()) used += n;
    return this.policy.maxTotal - used;
  }

  #dropKey(key: string): T[] {
    const list = this.#free.get(key) ?? [];
    this.#free.delete(key);
    return list;
  }
}
