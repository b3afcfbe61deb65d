/**
 * One sandbox running warren's node runtime, and its life in the pool. Its states are a closed
 * union (DESIGN.md "The pool"); busy is a count, not a state:
 *
 *   booting ──> generic ──> specializing ──> ready ──> draining ──> dead
 *      │           │             │             │                    ^
 *      └───────────┴─────────────┴─────────────┴────────────────────┘ (crash, OOM, destroy)
 *
 *   booting       the sandbox is made and the runtime starts; ready when its control socket
 *                 answers that it warmed its HTTP path (a cold start's: once its sockets accept)
 *   generic       booted, no function: waiting in the generic pool (generics.ts)
 *   specializing  given to one function version: its limits, egress, env and module go in
 *   ready         serves that version's requests, up to its concurrency at once
 *   draining      serves no new request; ends when its last one did
 *   dead          its sandbox ended; `end` says why
 *
 * An instance never serves two functions nor two versions: specialize() happens once.
 *
 * With serve --live-restore, a server adopts what the last one left running (adopt()): a sandbox
 * whose record (sandbox-record.ts) says generic comes back as a generic one, an instance's as
 * ready, once its runtime answered on a new control connection.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { isWarrenError, WarrenError } from '../lib/errors.js';
import { COLD_FLAG, IO_DIR, RuntimeConnection, runtimeArgv, runtimeBinds, type HandoffRequest } from '../runtime/index.js';
import type { Egress, Sandbox, SandboxExit, SandboxHost } from '../sandbox/index.js';
import type { CgroupLimits } from '../sandbox/cgroups/types.js';
import { HandoffChannel, type Closed } from './handoff.js';
import { GENERIC_RECORD, instanceRecord, moduleName } from './sandbox-record.js';

export type InstanceState = 'booting' | 'generic' | 'specializing' | 'ready' | 'draining' | 'dead';

/** The function version an instance serves. */
export interface Owner {
  readonly fn: string;
  readonly version: number;
  /** `fn@version`: the pool's key for it. */
  readonly key: string;
}

/** What specializing needs: the version's limits, egress, env and module. */
export interface Specialization {
  readonly limits: CgroupLimits;
  readonly egress: Egress;
  readonly env: Record<string, string>;
  readonly source: string;
  /** It has cron triggers: a module without scheduled() does not load. */
  readonly needsScheduled?: boolean;
}

/** Phases of a start, in order, ms each. */
export type Phases = Array<[string, number]>;

/** A runtime that has not answered its warm request by then is broken (node boots in tens of ms). */
const BOOT_TIMEOUT_MS = 20_000;
/** How long a scale-to-zero close lets waitUntil work finish before SIGKILL. */
const CLOSE_GRACE_MS = 5_000;
/** How long a broken load waits for the runtime's exit, to tell the module's fault from ours. */
const LOAD_EXIT_WAIT_MS = 2_000;

let counter = 0;

export class Instance {
  readonly sandbox: Sandbox;
  readonly conn: RuntimeConnection;
  readonly bornAt = performance.now();
  #state: InstanceState = 'generic';
  owner: Owner | undefined;
  /** Requests in flight. */
  busy = 0;
  /** performance.now() of the last release; 0 before the first. */
  lastUsed = 0;
  /** Why it ended, as a client reads it ('out of memory'); set once dead. */
  end: string | undefined;
  /** A number for the pool's maps and logs, unique in this process. */
  readonly seq = ++counter;
  /** Its handoff channel (serve --handoff): undefined until asked for, null while it opens or
   * after it failed to (connections are then proxied, as without --handoff). */
  #channel: HandoffChannel | null | undefined;

  /** The cgroup limits it was made with, until its specialization sets a function's. */
  readonly #bootLimits: CgroupLimits;

  private constructor(sandbox: Sandbox, conn: RuntimeConnection, bootLimits: CgroupLimits, owner?: Owner) {
    this.sandbox = sandbox;
    this.conn = conn;
    this.#bootLimits = { ...bootLimits };
    // only adopt() gives an owner: an instance the last server had specialized
    if (owner) {
      this.owner = owner;
      this.#state = 'ready';
    }
  }

  get id(): string {
    return this.sandbox.id;
  }

  get state(): InstanceState {
    return this.#state;
  }

  /**
   * A new sandbox running the runtime with no function, on the bridge with no egress (a
   * function's egress is set when it is specialized), its stdout and stderr pipes left unread
   * until then. Resolves once the runtime answered that it is warm; `phases` gets spawn, boot (to
   * its control socket's name) and warm.
   *
   * `cold`: for a request that waits, to be specialized at once (a cold start). The runtime then
   * skips its warm-up (protocol.ts COLD_FLAG), and this resolves as soon as its sockets accept:
   * no warm phase, and no connection made ahead to its function socket (it would be held there
   * until the load), which the first request opens.
   */
  static async boot(host: SandboxHost, layers: readonly string[], limits: CgroupLimits, phases: Phases, cold = false): Promise<Instance> {
    let t = performance.now();
    const sandbox = await host.create({
      argv: cold ? runtimeArgv(COLD_FLAG) : runtimeArgv(),
      binds: runtimeBinds(),
      layers,
      limits,
      hostname: 'warren',
      io: { dst: IO_DIR },
      net: { egress: 'none' },
      stdio: ['null', 'pipe', 'pipe'],
      record: GENERIC_RECORD,
    });
    const ended = new AbortController();
    void sandbox.exited.then((exit) => ended.abort(new WarrenError('WARREN_FN_START', `the runtime ended (${endReason(exit)}) before it answered`)));
    const signal = AbortSignal.any([ended.signal, AbortSignal.timeout(BOOT_TIMEOUT_MS)]);
    let conn: RuntimeConnection | undefined;
    try {
      await sandbox.ready();
      phases.push(['spawn', lap()]);
      // its control socket's name appears once both sockets accept: no health round trip (the
      // warm answer below is one), and the runtime begins its warm-up then, on its own
      conn = await RuntimeConnection.open(sandbox.ioDir as string, signal, { cold });
      phases.push(['boot', lap()]);
      if (cold) return new Instance(sandbox, conn, limits);
      // the host's connection to the function's socket, open before a request needs it (the
      // runtime answers 503 while no function is loaded; once warm, it holds requests instead,
      // for the load that comes: protocol.ts)
      const res = await conn.http.request({ method: 'GET', path: '/' });
      await res.body.dump();
      // counted ready once warm: a prewarm start must not pay node's lazy compile (7-10 ms)
      await conn.warm();
      phases.push(['warm', lap()]);
      return new Instance(sandbox, conn, limits);
    } catch (err) {
      await conn?.destroy();
      await sandbox.destroy();
      // the sandbox ended first (its runtime or the spawner killed): that says why, not the wait
      // that noticed it (a 503 WARREN_FN_START, where the wait's own error was a bare 500)
      if (ended.signal.aborted) throw ended.signal.reason;
      throw err instanceof WarrenError ? err : new WarrenError('WARREN_FN_START', `runtime in sandbox '${sandbox.id}' did not start`, { cause: err });
    }
    function lap(): number {
      const now = performance.now();
      const ms = now - t;
      t = now;
      return ms;
    }
  }

  /**
   * A sandbox the last server left running (serve --live-restore), as an instance again: a
   * generic runtime (no `owner`), or a ready instance of `owner`. Its runtime must answer on a new
   * control connection within `timeoutMs`, a generic one once warm (which also has it hold
   * requests for the load to come, as after a boot), and say it has loaded what the record says:
   * nothing for a generic, the owner's module for an instance. Otherwise the sandbox is destroyed
   * and this rejects with WARREN_FN_ADOPT. `limits`: those it was made with (generics').
   */
  static async adopt(sandbox: Sandbox, limits: CgroupLimits, owner: Owner | undefined, timeoutMs: number): Promise<Instance> {
    const ended = new AbortController();
    void sandbox.exited.then((exit) => ended.abort(new WarrenError('WARREN_FN_ADOPT', `the runtime of adopted sandbox '${sandbox.id}' ended (${endReason(exit)})`)));
    const signal = AbortSignal.any([ended.signal, AbortSignal.timeout(timeoutMs)]);
    let conn: RuntimeConnection | undefined;
    try {
      if (!sandbox.ioDir) throw new WarrenError('WARREN_FN_ADOPT', `adopted sandbox '${sandbox.id}' has no io dir`);
      conn = await RuntimeConnection.open(sandbox.ioDir, signal);
      const opened = conn;
      const health = await untilAborted(owner ? opened.health() : opened.warm(), signal);
      const want = owner ? moduleName(owner.fn) : null;
      if (health.module !== want) throw new WarrenError('WARREN_FN_ADOPT', `the runtime of adopted sandbox '${sandbox.id}' serves ${health.module ?? 'no module'}, its record says ${want ?? 'none'}`);
      return new Instance(sandbox, opened, limits, owner);
    } catch (err) {
      await conn?.destroy();
      await sandbox.destroy();
      if (err instanceof WarrenError && err.code === 'WARREN_FN_ADOPT') throw err;
      const why = ended.signal.aborted ? ended.signal.reason : signal.aborted ? new WarrenError('WARREN_FN_ADOPT', `the runtime of adopted sandbox '${sandbox.id}' did not answer within ${timeoutMs} ms`) : undefined;
      throw why ?? new WarrenError('WARREN_FN_ADOPT', `the runtime of adopted sandbox '${sandbox.id}' did not answer`, { cause: err });
    }
  }

  /** The pipes the runtime writes its log records to, for the log store once it is specialized. */
  get output(): { stdout: Readable | null; stderr: Readable | null } {
    return { stdout: this.sandbox.stdout, stderr: this.sandbox.stderr };
  }

  /**
   * Makes a generic runtime serve one function version: its limits and egress from the host
   * (cgroup files, nftables elements), then its env and module over the control socket. A
   * module that does not load rejects with WARREN_RUNTIME_LOAD_FAILED (the runtime then exits).
   * On any failure the instance is destroyed.
   *
   * `sent` is called once the load request has left (RuntimeConnection.load): a request sent to
   * the function's socket from then on waits in the runtime for the module, so the first one
   * can go right behind the load (start-gate.ts holds its answer until this resolves). Never
   * earlier: the load goes out only once the limits and egress apply, so no line of the
   * function's code runs without them.
   */
  async specialize(owner: Owner, spec: Specialization, phases: Phases, sent?: () => void): Promise<void> {
    if (this.#state !== 'generic') throw new WarrenError('WARREN_FN_START', `instance '${this.id}' is ${this.#state}, not generic`);
    this.#state = 'specializing';
    this.owner = owner;
    let t = performance.now();
    const lap = (name: string) => {
      const now = performance.now();
      phases.push([name, now - t]);
      t = now;
    };
    try {
      // most functions run with the limits generics are made with: then nothing to write (five
      // cgroup files and a read, ~0.4 ms of a prewarm start)
      if (!sameLimits(this.#bootLimits, spec.limits)) await this.sandbox.setLimits(spec.limits);
      if (spec.egress !== 'none') await this.sandbox.setEgress(spec.egress);
      lap('limits');
      // before the load goes out: from its first line on, the function's code runs here, and a
      // server adopting this sandbox must never take it for a generic one (sandbox-record.ts)
      this.sandbox.setRecord(instanceRecord(owner.fn, owner.version));
      await this.#load(owner, spec, sent);
      lap('load');
    } catch (err) {
      await this.destroy('its specialization failed');
      // its sandbox ended under it (the spawner or its runtime killed): the platform failed, not
      // the function (WARREN_SANDBOX_EXITED is the user's fault when it is their own sandbox)
      if (isWarrenError(err, 'WARREN_SANDBOX_EXITED')) throw new WarrenError('WARREN_FN_START', `the runtime of instance '${this.id}' ended before it took '${owner.fn}'`, { cause: err });
      throw err;
    }
    this.#state = 'ready';
  }

  /**
   * The load request. The module's top-level code runs inside it and can end the runtime before
   * it answers (process.exit, an allocation past the memory cap): then the connection breaks, and
   * that is the module failing to load, not the platform failing to start an instance.
   */
  async #load(owner: Owner, spec: Specialization, sent?: () => void): Promise<void> {
    try {
      await this.conn.load({ source: spec.source, name: moduleName(owner.fn), env: spec.env, ...(spec.needsScheduled && { needsScheduled: true }) }, sent);
    } catch (err) {
      if (isWarrenError(err, 'WARREN_RUNTIME_LOAD_FAILED')) throw err;
      // the spawner reports the exit a moment after the socket closes
      const exit = await Promise.race([this.sandbox.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), LOAD_EXIT_WAIT_MS).unref())]);
      if (exit === undefined) throw err;
      // the spawner's death took it (a SIGKILL too, but not the module's doing): the platform's
      // failure, a 503, not the module failing to load (seen in the soak: a 400 for a spawner kill)
      if (exit.spawnerGone) throw new WarrenError('WARREN_FN_START', `the runtime of instance '${this.id}' ended with its spawner while loading module '${owner.fn}.mjs'`, { cause: err });
      throw new WarrenError('WARREN_RUNTIME_LOAD_FAILED', `the runtime ended (${endReason(exit)}) while loading module '${owner.fn}.mjs'`, { cause: err });
    }
  }

  /**
   * Hands a client's connection to the runtime (runner/handoff.ts); `closed` once it closed there;
   * `stuck` when the runtime's event loop stopped answering (handoff.ts).
   * False when it did not go (the caller still has it): not ready, or the channel is not open
   * yet: the first call opens it, in the background.
   */
  handOff(socket: Socket, config: HandoffRequest, closed: Closed, stuck: () => void): boolean {
    if (this.#state !== 'ready') return false;
    if (this.#channel === undefined) {
      this.#channel = null;
      HandoffChannel.open(this.sandbox.ioDir as string, this.conn, config, stuck).then(
        (c) => {
          if (this.#state === 'ready') this.#channel = c;
          else c.destroy();
        },
        () => {
          // stays null: this instance's connections are proxied
        },
      );
      return false;
    }
    return this.#channel?.send(socket, closed) ?? false;
  }

  /** Serves no new request; ends once the last in flight did (gracefully: waitUntil work ends). */
  drain(): void {
    if (this.#state === 'dead') return;
    this.#channel?.drain();
    this.#state = 'draining';
    if (this.busy === 0) void this.close();
  }

  /** SIGTERM (the runtime finishes in-flight requests and waitUntil work), SIGKILL after a grace. */
  async close(): Promise<void> {
    if (this.#state === 'dead') return;
    this.#state = 'draining';
    await this.conn.close();
    this.died(endReason(await this.sandbox.close(CLOSE_GRACE_MS)));
  }

  /** Kills it now. */
  async destroy(why: string): Promise<void> {
    this.died(why);
    await this.conn.destroy();
    await this.sandbox.destroy();
  }

  /** Marks it dead with the first reason given. */
  died(why: string): void {
    if (this.#state === 'dead') return;
    this.#state = 'dead';
    this.end = why;
    this.#channel?.destroy();
  }
}

/** `work`, or the abort's reason once `signal` aborts first. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Why a sandbox ended, as a client reads it. */
export function endReason(exit: SandboxExit): string {
  if (exit.oomKilled) return 'out of memory';
  if (exit.spawnerGone) return 'its spawner died';
  if (exit.signal !== null) return `killed by signal ${exit.signal}`;
  return `exited with code ${exit.code}`;
}

function sameLimits(a: CgroupLimits, b: CgroupLimits): boolean {
  return a.memoryBytes === b.memoryBytes && a.cpus === b.cpus && a.pids === b.pids;
}
