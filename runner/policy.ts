/**
 * The pool's decisions, pure functions over plain data (STYLE rule 4), tested as tables in
 * policy.test.ts; pool.ts and generics.ts do what they say. OpenWhisk's ContainerPool is the
 * model: `schedule` picks a container, the rest follows from counts.
 *
 *   route        a request of a function: use a ready instance with room, start one more and
 *                wait for it, wait in the function's queue, or refuse (429)
 *   pick         which ready instance with room: the busiest, so that the others go idle and
 *                their keep-alive ends (packing); among equals the most recently used
 *   genericTarget how many generic runtimes to keep: the floor, plus one per cold start seen
 *                within the TTL (OpenWhisk's reactive prewarm), up to the cap
 *   bytesToFree  how much idle memory to evict before an instance of `need` bytes starts
 *   nextBoot     which waiting runtime boot goes now: cold starts first, a few at a time, in
 *                the order they came; the generic pool's refills once no cold start waits
 *   prestartOrder which functions a restarted server starts before anything asks: those that
 *                had instances when the last one died, busiest first, within a count and budget
 *   adoptAs      what a sandbox the last server left running becomes (serve --live-restore): a
 *                generic runtime, an instance of its function's live version, or destroyed
 */
import type { SandboxRecord } from './sandbox-record.js';

/** What routing knows of one instance of the function's live version. */
export interface InstanceView {
  readonly id: string;
  /** Only 'ready' instances serve; the others are counted as starting or ignored. */
  readonly state: 'ready' | 'starting' | 'draining';
  readonly busy: number;
  /** performance.now() of its last release, 0 when never used. */
  readonly lastUsed: number;
}

export interface RouteInput {
  readonly instances: readonly InstanceView[];
  /** Requests each instance serves at once. */
  readonly concurrency: number;
  /** Requests already waiting in the function's queue (not counting this one). */
  readonly queued: number;
  readonly maxInstances: number;
  readonly queueCap: number;
}

export type Route = { kind: 'use'; id: string } | { kind: 'start' } | { kind: 'queue' } | { kind: 'refuse' };

/** Where a request of one function goes. A start is also a wait: the request waits for it in the
 * queue. Another start only once the ones under way cannot take every waiter. */
export function route(input: RouteInput): Route {
  // the queue is served first as instances free up, so a request that finds room finds no queue
  const id = pick(input.instances, input.concurrency);
  if (id !== undefined) return { kind: 'use', id };
  const live = input.instances.filter((i) => i.state !== 'draining');
  const starting = live.filter((i) => i.state === 'starting').length;
  if (live.length < input.maxInstances && input.queued + 1 > starting * input.concurrency) return { kind: 'start' };
  // the queue's bound counts those waiting beyond what the starting instances will take: the
  // function holds instances x concurrency in service plus queueCap waiting
  if (input.queued - starting * input.concurrency < input.queueCap) return { kind: 'queue' };
  return { kind: 'refuse' };
}

/** The ready instance with room that is busiest; among equals the most recently used. */
export function pick(instances: readonly InstanceView[], concurrency: number): string | undefined {
  return pickFrom(instances, concurrency)?.id;
}

/** What pick() reads of an instance. */
export interface Pickable {
  readonly state: string;
  readonly busy: number;
  readonly lastUsed: number;
}

/** pick() over any instances that say their state, busy and lastUsed, giving the instance
 * itself: the pool's warm path calls it with its own instances, on every request, so that a
 * request with room allocates no views and searches nothing twice. */
export function pickFrom<T extends Pickable>(instances: Iterable<T>, concurrency: number): T | undefined {
  let best: T | undefined;
  for (const i of instances) {
    if (i.state !== 'ready' || i.busy >= concurrency) continue;
    if (!best || i.busy > best.busy || (i.busy === best.busy && i.lastUsed > best.lastUsed)) best = i;
  }
  return best;
}

export interface GenericSizing {
  /** Generic runtimes kept when no cold start happened lately. */
  readonly floor: number;
  readonly cap: number;
  /** How long a cold start keeps the target raised. */
  readonly ttlMs: number;
}

/** The number of generic runtimes to keep at `now`, given the times of recent cold starts. */
export function genericTarget(sizing: GenericSizing, coldStarts: readonly number[], now: number): number {
  const recent = coldStarts.filter((t) => now - t < sizing.ttlMs).length;
  return Math.min(sizing.cap, sizing.floor + recent);
}

/** Cold starts still inside the TTL (older ones no longer count and are forgotten). */
export function recentColdStarts(coldStarts: readonly number[], ttlMs: number, now: number): number[] {
  return coldStarts.filter((t) => now - t < ttlMs);
}

/** Bytes of idle instances to evict so that `need` more fits under `budget`; 0 when it fits. */
export function bytesToFree(used: number, need: number, budget: number): number {
  return Math.max(0, used + need - budget);
}

/** A runtime boot waiting for its turn (boot-gate.ts): a cold start, which a request waits on, or
 * a generic runtime for the pool, which nothing waits on. */
export interface BootWait {
  readonly kind: 'cold' | 'generic';
  /** performance.now() when it began to wait. */
  readonly since: number;
}

export interface BootLimits {
  /** Cold boots at once at most. */
  readonly coldParallel: number;
  /** A boot that waited this long goes whatever runs (a gate that held boots long, behind a
   * wedged one, would be worse than none). */
  readonly patienceMs: number;
}

/**
 * The index in `waiting` (oldest first) of the boot to start now, or undefined: none goes. A boot
 * is mostly CPU (the spawner's setup, node starting), so on a small machine ten at once each take
 * about ten times as long, and the first is answered no sooner than the last; a few at a time
 * answers the first ones early and the last no later. Cold starts go first, in order, up to
 * `coldParallel`; a generic only when no cold start waits; anything past its patience goes.
 */
export function nextBoot(waiting: readonly BootWait[], coldRunning: number, limits: BootLimits, now: number): number | undefined {
  const overdue = waiting.findIndex((w) => now - w.since >= limits.patienceMs);
  if (overdue >= 0) return overdue;
  const cold = waiting.findIndex((w) => w.kind === 'cold');
  if (cold >= 0) return coldRunning < limits.coldParallel ? cold : undefined;
  return waiting.length > 0 ? 0 : undefined;
}

/** A function that had instances when the last server died, with how busy it was then. */
export interface LiveBefore {
  readonly fn: string;
  /** Requests lately (a decaying count: live-record.ts). */
  readonly score: number;
  /** Its live version's memory limit, bytes. */
  readonly memoryBytes: number;
}

/** Which functions to start at a restart, in order: the busiest first (they are the likeliest to
 * be asked first, and by the most clients), at most `max`, their memory limits within `budget`. */
export function prestartOrder(before: readonly LiveBefore[], max: number, budget: number): string[] {
  const out: string[] = [];
  let bytes = 0;
  for (const f of [...before].sort((a, b) => b.score - a.score)) {
    if (out.length >= max) break;
    if (bytes + f.memoryBytes > budget) continue;
    bytes += f.memoryBytes;
    out.push(f.fn);
  }
  return out;
}

/** What an adopted sandbox becomes: the pool's generic runtime, a ready instance of its function's
 * live version, or destroyed, with why. */
export type Adoption = { readonly kind: 'generic' } | { readonly kind: 'instance'; readonly fn: string; readonly version: number } | { readonly kind: 'destroy'; readonly why: string };

/**
 * A sandbox the last server left running, by its record (undefined: none of the runner's), given
 * the live version of each function now (undefined: no such function). Only the live version's
 * instances serve: one of an older version was draining when the server died, or was rolled back
 * from; a deleted function's is gone.
 */
export function adoptAs(record: SandboxRecord | undefined, liveVersion: (fn: string) => number | undefined): Adoption {
  if (!record) return { kind: 'destroy', why: 'its record is not a runner\'s' };
  if (record.kind === 'generic') return record;
  const live = liveVersion(record.fn);
  if (live === undefined) return { kind: 'destroy', why: `function '${record.fn}' is no longer deployed` };
  if (live !== record.version) return { kind: 'destroy', why: `version ${record.version} of '${record.fn}' is no longer live (${live} is)` };
  return record;
}
