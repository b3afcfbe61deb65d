/**
 * The pool: per-function instances over the generic runtimes, and the router's Invoker.
 *
 * A request of function F goes to F's live version's group (its instances, its queue). policy.ts
 * route() decides: use a ready instance with room (a warm start), or start one more and wait
 * for it, or wait in the bounded queue, or refuse (429). A start takes a generic runtime and
 * specializes it (prewarm), or boots one on the request path when none is free (cold). Idle
 * instances sit in an LRU (lru-cache) with the keep-alive as its TTL: its end closes them
 * (scale to zero), and a start that would pass the memory budget evicts the least recently
 * used first. A timed-out, crashed or OOM-killed instance is destroyed; the next request of
 * that function gets a fresh one, and nothing of another function's is touched.
 */
import type { Socket } from 'node:net';
import { LRUCache } from 'lru-cache';
import { WarrenError } from '../lib/errors.js';
import type { Invocation, Invoker, Outcome, Start, StartLabel } from '../router/invoker.js';
import type { SandboxInfo } from '../router/control.js';
import type { Generics } from './generics.js';
import { endReason, type Instance, type Owner, type Phases } from './instance.js';
import type { Logs, PoolObserver, PoolOptions, Version, Versions } from './pool-parts.js';
import { group, views, waitInQueue, type Group, type Waiter } from './group.js';
import { bytesToFree, pickFrom, route } from './policy.js';
import { runScheduled, type ScheduledResult, type ScheduledRun } from './scheduled-run.js';
import { afterStart, startOutcome, type StartOutcome } from './start-gate.js';

/** A start's replacement generic runtime boots at the latest this long after it (ms). */
const REFILL_DELAY_MS = 250;
/** ...or this long after the answer of the request it was for ended (ms): see #start. */
const REFILL_AFTER_ANSWER_MS = 20;

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    f();
  };
}

/** How long a broken exchange waits for its sandbox's end, to say why (OOM) rather than guess. */
const EXIT_WAIT_MS = 2_000;

/** A cron firing has no client to go away: it waits in the queue until its timeout. */
const NO_CLIENT = new AbortController().signal;
/** A warm start's phases (it has none), and the answer of a release with nothing to say: shared,
 * not made per request. */
const NO_PHASES: Start['phases'] = Object.freeze([]);
const NO_REASON: Promise<string | undefined> = Promise.resolve(undefined);

export class Pool implements Invoker {
  readonly #generics: Generics;
  readonly #versions: Versions;
  readonly #logs: Logs;
  readonly #observer: PoolObserver;
  readonly #opts: PoolOptions;
  readonly #groups = new Map<string, Group>();
  readonly #idle: LRUCache<number, Instance>;
  /** Memory limits of the instances being started (not yet in a group), for the budget. */
  #startingBytes = 0;
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  constructor(generics: Generics, versions: Versions, logs: Logs, observer: PoolObserver, opts: PoolOptions) {
    this.#generics = generics;
    this.#versions = versions;
    this.#logs = logs;
    this.#observer = observer;
    this.#opts = opts;
    // Idle instances, least recently used first. No `max`: lru-cache preallocates arrays of that
    // size and clears them whenever it empties, which a function with one instance does on every
    // request (~2 ms each with max 100 000); nor ttlAutopurge, a timer per set (~10 us). Their
    // memory limits are the size, bounded by the budget; the keep-alive's end is found by a sweep.
    this.#idle = new LRUCache<number, Instance>({
      ttl: opts.keepAliveMs,
      maxSize: opts.memoryBudgetBytes,
      sizeCalculation: (inst) => Math.min(opts.memoryBudgetBytes, Math.max(1, inst.sandbox.memoryBytes)),
      dispose: (inst, _seq, reason) => {
        if (reason === 'expire') this.#retire(inst, `idle for ${opts.keepAliveMs} ms`);
        else if (reason === 'evict') this.#retire(inst, 'evicted under the memory budget');
      },
    });
    this.#sweep = setInterval(() => this.#idle.purgeStale(), Math.max(10, Math.min(opts.keepAliveMs / 4, 1000))).unref();
  }

  async acquire(fn: string, signal: AbortSignal): Promise<Invocation> {
    if (this.#closed) throw new WarrenError('WARREN_HOST_CLOSED', 'warren is shutting down');
    const t0 = performance.now();
    const version = this.#versions.live(fn);
    if (!version) throw new WarrenError('WARREN_FN_NOT_FOUND', `no function '${fn}'`);
    const g = this.#group(version);
    // route() would pick this same instance first; asked directly, a warm request (most of them)
    // allocates no views
    const inst = pickFrom(g.instances, version.concurrency);
    if (inst) return this.#use(g, inst, { label: 'warm', ms: performance.now() - t0, phases: NO_PHASES });
    // so route() answers start, queue or refuse here (requests handed to starting instances count
    // as queued)
    const decision = route({ instances: views(g), concurrency: version.concurrency, queued: g.queue.length + g.handed, maxInstances: this.#opts.maxInstances, queueCap: this.#opts.queueCap });
    if (decision.kind === 'refuse') {
      this.#observer.refused(fn, 'queue-full');
      throw Object.assign(new WarrenError('WARREN_FN_QUEUE_FULL', `function '${fn}' has ${g.queue.length} requests waiting already`), { retryAfterS: 1 });
    }
    const waiting = this.#wait(g, signal, t0);
    if (decision.kind === 'start') void this.#start(g);
    return waiting;
  }

  /** Runs `fn`'s scheduled() for one cron firing on an instance taken and released as a request's
   * is (scheduled-run.ts). Rejects as acquire() does when no instance could take it. */
  async scheduled(fn: string, run: ScheduledRun): Promise<ScheduledResult> {
    const inv = await this.acquire(fn, NO_CLIENT);
    let inst: Instance | undefined;
    for (const g of this.#groups.values()) for (const i of g.instances) if (i.id === inv.instance) inst = i;
    if (!inst) {
      // it ended between its hand-over and now
      const why = (await inv.release('broken')) ?? 'it ended';
      return { outcome: 'error', error: `the instance ended before the run began: ${why}`, ms: 0 };
    }
    // a run that ends after its function was removed must not start a new log for the name
    const report: Logs['report'] = (...a) => void (this.#versions.live(fn) && this.#logs.report(...a));
    return runScheduled(inv, inst.conn, run, { report });
  }

  /** Starts an instance of `version` now and keeps it idle (a deploy proves its module loads
   * this way, and the first request then finds it warm). Rejects as the start did. */
  async prepare(version: Version): Promise<void> {
    const started = await this.#start(this.#group(version));
    if ('error' in started) throw started.error;
  }

  /** Starts an instance of each version, in this order, unless it has one or one is starting: a
   * restarted server's functions that were running before (cli/serve.ts). Their boots take turns
   * at the boot gate in this order, and requests that come meanwhile wait for them. */
  prestart(versions: readonly Version[]): void {
    for (const v of versions) {
      const g = this.#group(v);
      if (g.instances.size === 0 && g.starting === 0) void this.#start(g, true);
    }
  }

  /**
   * A ready instance of `version` that the last server left running (serve --live-restore:
   * adopt.ts), once `adopted` resolves. Counted as starting until then, so that a request that
   * comes first waits for it rather than start another, and a prestart skips the function.
   * Resolves false when it did not come (its runtime did not answer: the waiters then start one),
   * or came too late (the pool closed, or another version went live meanwhile: it is closed).
   */
  async adopt(version: Version, adopted: Promise<Instance>): Promise<boolean> {
    const g = this.#group(version);
    g.starting++;
    let inst: Instance;
    try {
      inst = await adopted;
    } catch {
      g.starting--;
      if (!this.#closed) this.#pump(g);
      return false;
    }
    g.starting--;
    if (this.#closed || this.#versions.live(version.fn) !== version) {
      await inst.destroy(this.#closed ? 'warren shut down' : `version ${version.version} of '${version.fn}' is no longer live`);
      return false;
    }
    this.#join(g, inst);
    this.#logs.report({ fn: version.fn, version: version.version, instance: inst.id }, 'the instance was adopted from the last server (live restore)');
    this.#pump(g, inst);
    return true;
  }

  /** Functions with instances, ready or starting (live-record.ts). */
  *live(): Iterable<string> {
    for (const g of this.#groups.values()) if (g.instances.size > 0 || g.starting > 0) yield g.version.fn;
  }

  /** Traffic of `fn` now goes to `live` (or nowhere): instances of its other versions drain, and
   * their waiters move to the live version's queue. */
  retire(fn: string, live?: Version): void {
    const next = live ? this.#group(live) : undefined;
    for (const g of [...this.#groups.values()]) {
      if (g.version.fn !== fn || g === next) continue;
      this.#groups.delete(g.key);
      for (const inst of g.instances) {
        this.#idle.delete(inst.seq);
        inst.drain();
      }
      const waiters = g.queue.splice(0);
      if (next) {
        next.queue.push(...waiters);
        this.#pump(next);
      } else for (const w of waiters) w.reject(new WarrenError('WARREN_FN_NOT_FOUND', `function '${fn}' was removed`));
    }
  }

  /** Every function instance and generic runtime, for GET /v1/sandboxes. */
  sandboxes(): SandboxInfo[] {
    const now = performance.now();
    const info = (inst: Instance): SandboxInfo => ({
      id: inst.id,
      fn: inst.owner?.fn ?? null,
      version: inst.owner?.version ?? null,
      state: inst.state,
      ageMs: Math.round(now - inst.bornAt),
      memoryBytes: memoryUse(inst),
      busy: inst.busy,
    });
    return [...[...this.#groups.values()].flatMap((g) => [...g.instances]), ...this.#generics.free].map(info);
  }

  /** Instances by state, for the metrics. */
  counts(): Record<string, number> {
    const counts: Record<string, number> = { generic: this.#generics.free.length, booting: this.#generics.booting };
    for (const g of this.#groups.values()) for (const i of g.instances) counts[i.state] = (counts[i.state] ?? 0) + 1;
    return counts;
  }

  #group(version: Version): Group {
    const key = version.key;
    let g = this.#groups.get(key);
    if (!g) this.#groups.set(key, (g = group(version)));
    return g;
  }

  /** `held`: the request goes out before the start is over (#start), its answer waits for it. */
  #use(g: Group, inst: Instance, start: Start, onRelease?: () => void, held?: StartOutcome): Invocation {
    if (start.label === 'warm') this.#observer.warm();
    const handedAt = performance.now();
    // only an instance with nothing to do sits in the idle LRU
    if (inst.busy === 0) this.#idle.delete(inst.seq);
    inst.busy++;
    const owner = inst.owner as Owner;
    let released = false;
    const handoff = this.#opts.handoff;
    const release = (outcome: Outcome): Promise<string | undefined> => {
      if (released) return NO_REASON;
      released = true;
      // a start that failed was counted and its instance destroyed where it failed
      if (held?.failed) return NO_REASON;
      onRelease?.();
      const now = performance.now();
      this.#observer.finished(g.version.fn, outcome === 'broken' ? 'error' : outcome, now - handedAt);
      if (outcome !== 'ok') {
        inst.busy--;
        inst.lastUsed = now;
        return this.#releaseFailed(g, inst, outcome);
      }
      this.#free(g, inst);
      return NO_REASON;
    };
    return {
      ...(handoff && { handOff: (socket: Socket) => this.#handOff(g, inst, socket, handoff, release) }),
      dispatcher: held ? afterStart(inst.conn.http, held.done) : inst.conn.http,
      fn: owner.fn,
      version: owner.version,
      instance: inst.id,
      start,
      timeoutMs: g.version.timeoutMs,
      release,
    };
  }

  /** A slot of `inst` is free again: a draining instance with none busy ends, a ready one serves
   * the queue. */
  #free(g: Group, inst: Instance): void {
    inst.busy--;
    inst.lastUsed = performance.now();
    if (inst.state === 'draining' && inst.busy === 0) void inst.close();
    else if (inst.state === 'ready') this.#pump(g, inst);
  }

  /**
   * The client's connection goes to the instance: the invocation is released as answered, and
   * the connection takes a slot of its own until the runtime reports it closed. The slot is
   * taken first, so the release cannot give it to a waiter in between.
   */
  #handOff(g: Group, inst: Instance, socket: Socket, handoff: NonNullable<PoolOptions['handoff']>, release: (o: Outcome) => Promise<string | undefined>): boolean {
    const fn = g.version.fn;
    const config = { timeoutMs: g.version.timeoutMs, keepAliveMs: handoff.keepAliveMs, host: `${fn}.${handoff.domain}` };
    inst.busy++;
    const closed = (requests: number, ms: number) => {
      // one count per request it served there, each with the mean time (the runtime sums them)
      for (let i = 0; i < requests; i++) this.#observer.finished(fn, 'ok', ms / requests);
      this.#free(g, inst);
    };
    const stuck = () => {
      const why = `blocked its event loop past ${g.version.timeoutMs} ms`;
      this.#observer.finished(fn, 'timeout', g.version.timeoutMs);
      this.#logs.report({ fn, version: g.version.version, instance: inst.id }, `a request on a handed-over connection ${why}: the instance is destroyed`);
      this.#forget(g, inst);
      void inst.destroy(why);
    };
    const sent = inst.handOff(socket, config, closed, stuck);
    if (!sent) inst.busy--;
    void release('ok');
    return sent;
  }

  /** A release after a timeout or a broken exchange: the instance is destroyed. */
  async #releaseFailed(g: Group, inst: Instance, outcome: 'timeout' | 'broken'): Promise<string | undefined> {
    const meta = { fn: g.version.fn, version: g.version.version, instance: inst.id };
    if (outcome === 'timeout') {
      const why = `timed out after ${g.version.timeoutMs} ms`;
      this.#logs.report(meta, `the request ${why}: the instance is destroyed`);
      this.#forget(g, inst);
      await inst.destroy(why);
      return undefined;
    }
    // broken: the socket broke first; the sandbox's end (an OOM kill) is known a moment later
    const exit = await Promise.race([inst.sandbox.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), EXIT_WAIT_MS).unref())]);
    const why = inst.end ?? (exit ? endReason(exit) : 'its connection broke');
    // its end was logged already when the exit came first
    if (inst.state !== 'dead') this.#logs.report(meta, `the instance ended: ${why}`);
    this.#forget(g, inst);
    await inst.destroy(why);
    return why;
  }

  /** Hands free room to waiters in order; an instance left with nothing to do goes idle. */
  #pump(g: Group, freed?: Instance): void {
    while (g.queue.length > 0) {
      const inst = pickFrom(g.instances, g.version.concurrency);
      if (!inst) break;
      const w = g.queue.shift() as Waiter;
      w.resolve(this.#use(g, inst, { label: 'warm', ms: performance.now() - w.since, phases: NO_PHASES }));
    }
    if (g.queue.length > 0 && g.starting === 0) void this.#start(g);
    if (freed && freed.busy === 0 && freed.state === 'ready') this.#idle.set(freed.seq, freed);
  }

  #wait(g: Group, signal: AbortSignal, since: number): Promise<Invocation> {
    return waitInQueue(g, signal, since, () => this.#observer.refused(g.version.fn, 'queue-timeout'));
  }

  /**
   * One more instance for `g`: a generic runtime specialized (prewarm), or one booted now
   * (cold). It serves the first waiter, with this start's label and phases; with no waiter it
   * goes idle. A prestart (a restart's) does not raise the generic pool's target as a cold start
   * does. A failed start fails the first waiter (the one that asked for it), and every
   * waiter when nothing else of `g` could serve them. Never rejects: resolves with the error.
   */
  async #start(g: Group, prestart = false): Promise<{ inst: Instance } | { error: WarrenError }> {
    g.starting++;
    const t0 = performance.now();
    const phases: Phases = [];
    let inst: Instance | undefined;
    let label: StartLabel = 'prewarm';
    // the replacement of what this start took boots a moment after the answer of the request it
    // was for (or REFILL_DELAY_MS after the start): begun at the release, its synchronous part
    // ran before the connection's end left and its CPU (spawner, node: tens of ms) delayed the
    // client reading the answer: 13-18 ms from the answer's head to its end here, 2.6-4.4 later
    const refill = once(() => this.#generics.fill());
    const refillSoon = () => void setTimeout(refill, REFILL_AFTER_ANSWER_MS).unref();
    // the first waiter's request goes out right behind the load, not after its answer (one round
    // trip to the runtime less); its answer waits for this start's outcome (start-gate.ts)
    let first: { w: Waiter; start: Start } | undefined;
    const outcome = startOutcome();
    let reserved = false;
    try {
      this.#makeRoom(g.version.memoryBytes);
      this.#startingBytes += g.version.memoryBytes;
      reserved = true;
      inst = this.#generics.take();
      if (inst) phases.push(['take', performance.now() - t0]);
      else {
        label = 'cold';
        // a restart's prestarts are no burst of demand for the generic pool to follow
        if (!prestart) this.#generics.coldStart();
        inst = await this.#generics.boot(phases);
      }
      const owner: Owner = { fn: g.version.fn, version: g.version.version, key: g.key };
      const t1 = performance.now();
      const spec = await g.version.specialization();
      phases.push(['read', performance.now() - t1]);
      const taken = inst;
      await inst.specialize(owner, spec, phases, () => {
        const w = g.queue.shift();
        if (!w) return;
        // its ms and the load's phase are filled in before its answer's head is read
        first = { w, start: { label, ms: 0, phases } };
        g.handed++;
        w.resolve(this.#use(g, taken, first.start, refillSoon, outcome));
      });
    } catch (err) {
      g.starting--;
      if (reserved) this.#startingBytes -= g.version.memoryBytes;
      if (first) g.handed--;
      this.#generics.fill();
      this.#observer.refused(g.version.fn, 'start-failed');
      const error = err instanceof WarrenError ? err : new WarrenError('WARREN_FN_START', `no instance of '${g.version.fn}' could start`, { cause: err });
      const meta = { fn: g.version.fn, version: g.version.version, instance: inst?.id ?? '-' };
      this.#logs.report(meta, `an instance did not start: ${error.message}`);
      // the first waiter's request went out already: it fails with this error where it waits
      outcome.fail(error);
      if (!first) g.queue.shift()?.reject(error);
      if (g.instances.size === 0 && g.starting === 0) for (const w of g.queue.splice(0)) w.reject(error);
      if (g.queue.length === 0 && g.instances.size === 0 && g.starting === 0 && this.#versions.live(g.version.fn) !== g.version) this.#groups.delete(g.key);
      return { error };
    }
    g.starting--;
    this.#startingBytes -= g.version.memoryBytes;
    if (first) g.handed--;
    const start: Start = { label, ms: performance.now() - t0, phases };
    this.#observer.started(g.version.fn, start);
    this.#join(g, inst);
    setTimeout(refill, REFILL_DELAY_MS).unref();
    const w = first ? undefined : g.queue.shift();
    if (first) first.start.ms = performance.now() - first.w.since;
    else if (w) w.resolve(this.#use(g, inst, { ...start, ms: performance.now() - w.since }, refillSoon));
    else refill();
    outcome.succeed();
    this.#pump(g, inst);
    return { inst };
  }

  /** An instance joins its group: its output goes to the logs, its end is watched. */
  #join(g: Group, inst: Instance): void {
    const meta = { fn: g.version.fn, version: g.version.version, instance: inst.id };
    const { stdout, stderr } = inst.output;
    if (stdout) this.#logs.attach(stdout, 'stdout', meta);
    if (stderr) this.#logs.attach(stderr, 'stderr', meta);
    g.instances.add(inst);
    void inst.sandbox.exited.then((exit) => {
      const why = inst.end ?? endReason(exit);
      // a close or destroy of ours is no news; anything else ended it (a crash, an OOM kill)
      const unexpected = inst.state === 'ready' || inst.state === 'specializing';
      inst.died(why);
      this.#forget(g, inst);
      if (unexpected) this.#logs.report(meta, `the instance ended: ${why}`);
      if (g.queue.length > 0 && !this.#closed) this.#pump(g);
    });
  }

  #forget(g: Group, inst: Instance): void {
    g.instances.delete(inst);
    this.#idle.delete(inst.seq);
  }

  #retire(inst: Instance, why: string): void {
    const g = inst.owner && this.#groups.get(inst.owner.key);
    if (g) g.instances.delete(inst);
    if (inst.owner) this.#logs.report({ fn: inst.owner.fn, version: inst.owner.version, instance: inst.id }, `the instance is closed: ${why}`);
    void inst.close();
  }

  /** Evicts idle instances, least recently used first, until `need` more bytes fit the budget. */
  #makeRoom(need: number): void {
    // instances still starting count: their first request may be answered (and the next start
    // come) before they join their group
    let used = this.#startingBytes;
    for (const g of this.#groups.values()) for (const i of g.instances) used += i.sandbox.memoryBytes;
    let free = bytesToFree(used, need, this.#opts.memoryBudgetBytes);
    while (free > 0) {
      const inst = this.#idle.pop(); // dispose: 'evict', which retires it
      if (!inst) break;
      free -= inst.sandbox.memoryBytes;
    }
  }

  /** Refuses new requests, fails the waiting ones, destroys every instance. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweep);
    const closing = new WarrenError('WARREN_HOST_CLOSED', 'warren is shutting down');
    const all: Instance[] = [];
    for (const g of this.#groups.values()) {
      for (const w of g.queue.splice(0)) w.reject(closing);
      all.push(...g.instances);
    }
    this.#groups.clear();
    this.#idle.clear();
    // the router drained its own requests before this; connections handed over (serve --handoff)
    // still hold their instances' slots: those instances close gracefully (the runtime answers
    // what is in flight on them, within the instance's close grace), the rest go now
    const end = (i: Instance) => (i.busy > 0 && this.#opts.handoff ? i.close() : i.destroy('warren shut down'));
    await Promise.all([...all.map(end), this.#generics.close()]);
  }
}

function memoryUse(inst: Instance): number {
  try {
    return inst.sandbox.stats().memoryCurrentBytes ?? 0;
  } catch {
    return 0;
  }
}
