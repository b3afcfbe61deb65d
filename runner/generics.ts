/**
 * The generic warm runtimes: sandboxes with the runtime booted and warmed, no function loaded,
 * made ahead so that a function's first request specializes one (a prewarm start, a few ms)
 * instead of spawning (a cold start). How many to keep follows demand (policy.ts genericTarget:
 * each cold start raises the target for a TTL, up to a cap; then back to the floor); how many to
 * start now is lib/spares.ts sparesToMake, the policy the sandbox layer's spares share. Taking
 * one starts its replacement off the request path. Every boot, a cold start's too, takes its turn
 * at the boot gate (boot-gate.ts): cold starts a few at a time, refills behind them.
 */
import os from 'node:os';
import { sparesToMake } from '../lib/spares.js';
import type { CgroupLimits } from '../sandbox/cgroups/types.js';
import { WarrenError } from '../lib/errors.js';
import type { SandboxHost } from '../sandbox/index.js';
import { BootGate } from './boot-gate.js';
import { Instance, type Phases } from './instance.js';
import { genericTarget, recentColdStarts, type BootLimits, type GenericSizing } from './policy.js';

export interface GenericsOptions extends GenericSizing {
  /** The limits a generic runtime boots with (a function's own are set when it is specialized). */
  readonly limits: CgroupLimits;
  /** Generic boots at once at most (a boot is CPU work: node starting). */
  readonly parallel: number;
  /** Cold boots at once, and how long a boot waits for its turn at most (policy.ts nextBoot);
   * DEFAULT_BOOT_LIMITS when not given. */
  readonly boots?: BootLimits;
}

/** Two cold boots per core at once: a boot also waits (on the spawner, on node's socket, on nft),
 * and another fills that time. Measured with the soak's serve and spawner kills on 2 cores
 * (bench/soak, --faults): two at once left the last function to start waiting for three rounds
 * (a spawner kill's recovery 5.1-5.8 s at load 11, where ten at once took 3.8-5.5 s); four at
 * once took 1.6-2.1 s at load 5.5, and a serve restart 2.2-2.4 s at load 3.8. */
export const DEFAULT_BOOT_LIMITS: BootLimits = { coldParallel: 2 * os.availableParallelism(), patienceMs: 3000 };

export interface GenericsEvents {
  /** A boot failed (logged by the caller; the pool tries again on the next refill). */
  bootFailed(err: unknown): void;
}

export class Generics {
  readonly #host: SandboxHost;
  readonly #layers: () => Promise<readonly string[]>;
  readonly #opts: GenericsOptions;
  readonly #events: GenericsEvents;
  readonly #free: Instance[] = [];
  #booting = 0;
  #coldStarts: number[] = [];
  #failures = 0;
  /** After a failed boot, none before then (performance.now()): a broken image does not spin. */
  #retryAt = 0;
  readonly #boots = new Set<Promise<unknown>>();
  readonly #gate: BootGate;
  #closed = false;
  readonly #sweep: NodeJS.Timeout;

  constructor(host: SandboxHost, layers: () => Promise<readonly string[]>, opts: GenericsOptions, events: GenericsEvents) {
    this.#host = host;
    this.#layers = layers;
    this.#opts = opts;
    this.#events = events;
    this.#gate = new BootGate(opts.boots ?? DEFAULT_BOOT_LIMITS);
    // the TTL's end lowers the target: retire the extra ones then
    this.#sweep = setInterval(() => this.#resize(), Math.max(250, Math.min(opts.ttlMs / 4, 10_000))).unref();
  }

  /** The target now (policy.ts genericTarget). */
  get target(): number {
    this.#coldStarts = recentColdStarts(this.#coldStarts, this.#opts.ttlMs, performance.now());
    return genericTarget(this.#opts, this.#coldStarts, performance.now());
  }

  get free(): readonly Instance[] {
    return this.#free;
  }

  get booting(): number {
    return this.#booting;
  }

  /** Starts booting up to the target. */
  fill(): void {
    this.#resize();
  }

  /** A generic runtime, or undefined when none is free (the caller then starts cold and says so
   * with coldStart()). Its replacement is the caller's to start with fill(), once the start it
   * is taken for is off the request path: a boot's synchronous part (cgroup files, the spawn
   * frame) on the same event loop would otherwise run between the steps of that start. */
  take(): Instance | undefined {
    return this.#free.shift();
  }

  /** A request found no generic runtime: keep more for a while. */
  coldStart(): void {
    this.#coldStarts.push(performance.now());
  }

  /** Boots one on the request path (a cold start), outside the pool's count, to be specialized at
   * once: without the warm-up (Instance.boot's `cold`). `phases` gets `wait` first when it
   * waited for its turn. */
  async boot(phases: Phases): Promise<Instance> {
    return this.#boot('cold', phases);
  }

  async #boot(kind: 'cold' | 'generic', phases: Phases): Promise<Instance> {
    const turn = await this.#gate.enter(kind);
    try {
      if (turn.waitedMs > 0) phases.push(['wait', turn.waitedMs]);
      if (kind === 'generic' && this.#closed) throw new WarrenError('WARREN_HOST_CLOSED', 'the generic pool closed');
      return await Instance.boot(this.#host, await this.#layers(), this.#opts.limits, phases, kind === 'cold');
    } finally {
      turn.release();
    }
  }

  #resize(): void {
    if (this.#closed) return;
    const target = this.target;
    // past the target: the oldest free ones go (they would be the last taken)
    while (this.#free.length > target) void this.#free.shift()?.destroy('the generic pool shrank');
    if (performance.now() < this.#retryAt) return;
    // after failures, one boot at a time until one succeeds
    const parallel = this.#failures > 0 ? 1 : this.#opts.parallel;
    const n = Math.min(sparesToMake({ free: this.#free.length, making: this.#booting }, target, this.#closed), parallel - this.#booting);
    for (let i = 0; i < n; i++) this.#bootOne();
  }

  /** The limits generic runtimes are made with. */
  get limits(): CgroupLimits {
    return this.#opts.limits;
  }

  /** A generic runtime the last server left running (serve --live-restore: adopt.ts), free once
   * `adopted` resolves; counted as booting until then, so the pool does not boot one for it. */
  adopt(adopted: Promise<Instance>): void {
    this.#booting++;
    this.#track(
      adopted.then(
        (inst) => {
          this.#booting--;
          return this.#join(inst);
        },
        () => {
          // not adopted (it was destroyed): the pool boots one in its place
          this.#booting--;
          this.#resize();
        },
      ),
    );
  }

  /** A booted or adopted generic runtime joins the free list. */
  #join(inst: Instance): Promise<void> | undefined {
    if (this.#closed) return inst.destroy('the pool closed');
    // a generic that dies while it waits leaves the free list
    void inst.sandbox.exited.then(() => {
      const at = this.#free.indexOf(inst);
      if (at < 0) return; // taken: its end is the pool's business
      this.#free.splice(at, 1);
      inst.died('it ended while generic');
      this.#resize();
    });
    this.#free.push(inst);
    this.#resize();
    return undefined;
  }

  #track(work: Promise<unknown>): void {
    this.#boots.add(work);
    void work.finally(() => this.#boots.delete(work));
  }

  #bootOne(): void {
    this.#booting++;
    const boot = this.#boot('generic', []).then(
      (inst) => {
        this.#booting--;
        this.#failures = 0;
        return this.#join(inst);
      },
      (err: unknown) => {
        this.#booting--;
        if (this.#closed) return;
        this.#failures++;
        this.#events.bootFailed(err);
        // back off: the next try after a pause that grows with the failures, capped
        const pause = Math.min(30_000, 200 * 2 ** Math.min(this.#failures, 8));
        this.#retryAt = performance.now() + pause;
        if (!this.#closed) setTimeout(() => this.#resize(), pause).unref();
      },
    );
    this.#track(boot);
  }

  /** Destroys every free generic runtime; those still booting are destroyed when they finish. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweep);
    await Promise.all([...this.#free.splice(0).map((inst) => inst.destroy('the pool closed')), ...this.#boots]);
  }
}
