/**
 * The TypeScript client of warren-spawner (protocol.ts draws the protocol). One Spawner is one
 * long-lived C process that clones sandboxes on request: a spawn costs a frame each way, not a
 * fork of Node. close() ends the control socket, on which the spawner kills what it started.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import path from 'node:path';
import { packageRoot } from '../lib/package-root.js';
import { closePid, openPid, signalPid } from '../lib/pidfd.js';
import { WarrenError, errnoOf, isWarrenError } from '../lib/errors.js';
import { encodeFrame, field, FrameDecoder, PROTOCOL_VERSION, type Message } from './protocol.js';
import { refused, requestFields, SpawnError, type ExitInfo, type Held, type NetnsSpec, type SpawnRequest, type Spawning, type Started } from './spawn-request.js';

/** Built by the package's install script; found from the package root, whether this module runs
 * from its source or from dist/. */
export const SPAWNER_BINARY = path.join(packageRoot(import.meta.url), 'sandbox/native/build/warren-spawner');

interface Pending {
  resolve(s: Started): void;
  reject(e: Error): void;
  settled: boolean;
  exit(e: ExitInfo): void;
  spawning?: Spawning;
}

/** How long an attach waits for the spawner's hello and held list. */
const ATTACH_TIMEOUT_MS = 10_000;

export interface SpawnerOptions {
  binary?: string;
  /** Live restore: outlive this process, waiting `graceMs` on the socket `path` for the next
   * one (Spawner.attach) when it dies without close(). */
  attach?: { path: string; graceMs: number };
}

export class Spawner {
  readonly pid: number;
  readonly #kill: () => void;
  #ctrl: Socket;
  #pending = new Map<string, Pending>();
  #netns = new Map<string, { resolve(): void; reject(e: Error): void }>();
  /** Called when the spawner dropped a pooled netns it had reported reusable (its reset failed). */
  onNetnsGone: ((id: string) => void) | undefined;
  #closed = false;
  #dead = false;
  #failure: WarrenError | undefined;
  #gone: Promise<void>;
  /** Lets go of what an attached spawner's kill holds, once it is closed or destroyed. */
  readonly #release: () => void;

  /** Live restore: what the spawner held when this process attached (empty otherwise). */
  readonly held: readonly Held[];

  /** `gone` settles with how the spawner ended (or this connection to it did). */
  private constructor(pid: number, ctrl: Socket, kill: () => void, gone: Promise<string>, attached?: { decoder: FrameDecoder; held: Message[]; rest: Message[]; release: () => void }) {
    this.#kill = kill;
    this.#release = attached?.release ?? (() => {});
    this.#ctrl = ctrl;
    this.pid = pid;
    const decoder = attached?.decoder ?? new FrameDecoder();
    const ended = new Set((attached?.rest ?? []).filter((m) => m.type === 'exit').map((m) => field(m, 'id')));
    this.held = (attached?.held ?? []).map((m) => this.#adopt(m, ended.has(field(m, 'id'))));
    for (const m of attached?.rest ?? []) this.#onMessage(m);
    ctrl.on('data', (chunk: Buffer) => {
      let messages: Message[];
      try {
        messages = decoder.push(chunk);
      } catch (err) {
        // a spawner that breaks the protocol cannot be trusted with another request
        this.#failure = new WarrenError('WARREN_SPAWNER_PROTOCOL', 'the spawner sent a broken frame', { cause: err });
        kill();
        return;
      }
      for (const m of messages) this.#onMessage(m);
    });
    ctrl.on('error', () => {}); // the exit below reports it
    this.#gone = gone.then((how) => {
      this.#dead = true;
      this.#failAll(this.#failure ?? new WarrenError('WARREN_SPAWNER_GONE', `the spawner (pid ${this.pid}) ${how}`));
    });
  }

  /** A held sandbox as a spawn that is running: its exit comes as any other's. */
  #adopt(m: Message, exited: boolean): Held {
    const id = field(m, 'id') ?? '';
    const pid = Number(field(m, 'pid'));
    const spawning = this.#register(id);
    const p = this.#pending.get(id) as Pending;
    p.settled = true;
    p.resolve({ pid, setupUs: 0 });
    const fd = (name: string) => (field(m, name) === undefined ? {} : { [name]: Number(field(m, name)) });
    const netns = field(m, 'netns');
    return { id, pid, ...(netns ? { netns } : {}), ...fd('stdout'), ...fd('stderr'), exited, spawning };
  }

  /**
   * Live restore: connects to a spawner that outlived its runner and waits on `socketPath`, and
   * becomes its runner; `held` says what it holds. Undefined when none waits there, or the one
   * there closed the connection without a word (it refused).
   */
  static async attach(socketPath: string): Promise<Spawner | undefined> {
    const ctrl = net.createConnection(socketPath);
    try {
      await once(ctrl, 'connect');
    } catch (err) {
      ctrl.destroy();
      // refused: a dead spawner's socket, or one between its bind and its listen (so the file is
      // left alone: a spawner unlinks a stale one before it binds its own); reset: the spawner
      // closed its socket, its grace window over, with this connection in its backlog
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ECONNRESET') return undefined;
      throw new WarrenError('WARREN_SPAWNER_ATTACH', `attach to the spawner at '${socketPath}'`, { cause: err });
    }
    ctrl.on('error', () => {}); // its close follows, and says it
    const decoder = new FrameDecoder();
    const got: Message[] = [];
    // not once(): it rejects on an 'error' (a reset: the spawner closed its socket as its grace
    // ended, or died with frames unread), and nobody would catch that; 'close' follows any end
    const closed = new Promise<string>((resolve) => ctrl.once('close', () => resolve('closed its socket')));
    let refused = false;
    let bytes = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        const onData = (chunk: Buffer) => {
          bytes += chunk.length;
          try {
            got.push(...decoder.push(chunk));
          } catch (err) {
            return reject(err);
          }
          const held = Number(got[0] && field(got[0], 'held'));
          if (got.length >= 1 + held) {
            ctrl.off('data', onData);
            resolve();
          }
        };
        ctrl.on('data', onData);
        // closed unanswered: its grace window ended with this connection in its backlog (it
        // closes its socket before it kills what it holds), or it could not take the connection
        // and listens on. Either way it did not attach: a refusal, as ECONNREFUSED is
        void closed.then(() => {
          refused = bytes === 0;
          reject(new WarrenError('WARREN_SPAWNER_ATTACH', `the spawner at '${socketPath}' closed before saying what it holds`));
        });
        // a spawner that accepts and says nothing is hung: never wait on it for ever
        setTimeout(() => reject(new WarrenError('WARREN_SPAWNER_ATTACH', `the spawner at '${socketPath}' said nothing in ${ATTACH_TIMEOUT_MS} ms`)), ATTACH_TIMEOUT_MS).unref();
      });
    } catch (err) {
      ctrl.destroy();
      if (refused) return undefined;
      throw isWarrenError(err) ? err : new WarrenError('WARREN_SPAWNER_PROTOCOL', 'the spawner sent a broken frame', { cause: err });
    }
    const hello = got[0] as Message;
    const pid = Number(field(hello, 'pid'));
    if (hello.type !== 'hello' || field(hello, 'version') !== String(PROTOCOL_VERSION) || !(pid > 0)) {
      ctrl.destroy();
      throw new WarrenError('WARREN_SPAWNER_PROTOCOL', `expected hello version ${PROTOCOL_VERSION}, got ${hello.type} ${field(hello, 'version')}`);
    }
    // held frames and the exits among them, in order: each exit follows its held
    const n = Number(field(hello, 'held'));
    const frames = got.slice(1);
    const held: Message[] = [];
    const rest: Message[] = [];
    for (const m of frames) (m.type === 'held' && held.length < n ? held : rest).push(m);
    // not warren's child: nothing reaps it for us, and once it ended its pid may be another
    // process's. Held by a pidfd from now on, so that a kill reaches it or nothing (lib/pidfd.ts)
    const process_ = openPid(pid);
    const kill = () => {
      if (process_) signalPid(process_, 'SIGKILL');
    };
    const release = () => {
      if (process_) closePid(process_);
    };
    return new Spawner(pid, ctrl, kill, closed, { decoder, held, rest, release });
  }

  /** False once the spawner was closed or died: a new one must be started. */
  get alive(): boolean {
    return !this.#closed && !this.#dead;
  }

  static async start(opts: SpawnerOptions = {}): Promise<Spawner> {
    const child = spawn(opts.binary ?? SPAWNER_BINARY, [], {
      argv0: 'warren:[spawner]',
      // no stdin or stdout of ours; stderr for its own last words (and WARREN_TRACE), which no
      // sandbox gets: the child replaces all of fd 0-2 (child.c open_stdio)
      stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
      // its own session: a Ctrl-C on the terminal reaches the runner, which forwards it to the
      // command, not the spawner (which would die of it and take every sandbox along)
      detached: true,
      // nothing of ours reaches a sandbox; WARREN_TRACE=1 turns on the stage timings (trace.h);
      // live restore: where it waits for the next runner, and how long (protocol.ts)
      env: {
        ...(process.env.WARREN_TRACE ? { WARREN_TRACE: '1' } : {}),
        ...(opts.attach ? { WARREN_ATTACH: opts.attach.path, WARREN_GRACE_MS: String(Math.max(0, Math.round(opts.attach.graceMs))) } : {}),
      },
    });
    const ctrl = child.stdio[3] as Socket;
    const failed = once(child, 'error').then(([err]) => {
      throw new WarrenError('WARREN_SPAWNER_START', `cannot start the spawner '${opts.binary ?? SPAWNER_BINARY}'`, { cause: err });
    });
    const decoder = new FrameDecoder();
    const hello = new Promise<Message>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        const [m] = decoder.push(chunk);
        if (m) {
          ctrl.off('data', onData);
          resolve(m);
        }
      };
      ctrl.on('data', onData);
      child.once('exit', (code) => reject(new WarrenError('WARREN_SPAWNER_START', `the spawner exited with ${code} before hello`)));
    });
    const m = await Promise.race([hello, failed]);
    if (m.type !== 'hello' || field(m, 'version') !== String(PROTOCOL_VERSION)) {
      child.kill('SIGKILL');
      throw new WarrenError('WARREN_SPAWNER_PROTOCOL', `expected hello version ${PROTOCOL_VERSION}, got ${m.type} ${field(m, 'version')}`);
    }
    const gone = once(child, 'exit').then(([code, signal]) => (signal ? `killed by ${String(signal)}` : `exited with ${String(code)}`));
    return new Spawner(child.pid ?? -1, ctrl, () => child.kill('SIGKILL'), gone);
  }

  spawn(req: SpawnRequest): Spawning {
    if (!this.alive) return refused(new WarrenError('WARREN_SPAWNER_CLOSED', 'the spawner is closed'));
    // encoded first: a request that cannot be framed throws before anything is registered or sent
    const frame = encodeFrame('spawn', requestFields(req));
    const parked = this.#pending.get(req.id);
    if (req.prepped) {
      if (!parked?.spawning || parked.settled) return refused(new WarrenError('WARREN_SANDBOX_NOT_PARKED', `sandbox ${req.id} is not parked`));
      this.#ctrl.write(frame);
      return parked.spawning;
    }
    if (parked) return refused(new WarrenError('WARREN_SANDBOX_EXISTS', `sandbox ${req.id} exists`));
    const spawning = this.#register(req.id);
    this.#ctrl.write(frame);
    return spawning;
  }

  /**
   * Makes a sandbox ahead of its request: the spawner clones it and it joins `cgroupDirs` (on
   * cgroup v1 the join can wait ~10 ms for an RCU grace period), then it waits. spawn() with the
   * same id and `prepped` hands it the rest. Until then its `exited` settles only if it is killed
   * (kill(id)) or fails; its `ready` settles after the spawn.
   */
  prep(id: string, cgroupDirs: readonly string[]): Spawning {
    if (!this.alive) return refused(new WarrenError('WARREN_SPAWNER_CLOSED', 'the spawner is closed'));
    if (this.#pending.has(id)) throw new WarrenError('WARREN_SANDBOX_EXISTS', `sandbox ${id} exists`);
    const spawning = this.#register(id);
    this.#ctrl.write(encodeFrame('prep', [['id', id], ...cgroupDirs.map((c) => ['cgroup', c] as const)]));
    return spawning;
  }

  #register(id: string): Spawning {
    let exitResolve!: (e: ExitInfo) => void;
    const exited = new Promise<ExitInfo>((r) => (exitResolve = r));
    let pending!: Pending;
    const ready = new Promise<Started>((resolve, reject) => {
      pending = { resolve, reject, settled: false, exit: exitResolve };
    });
    pending.spawning = { ready, exited };
    this.#pending.set(id, pending);
    return pending.spawning;
  }

  /** Sends a signal to a sandbox's init (which forwards it to the command, or dies of SIGKILL). */
  kill(id: string, signal: number): void {
    if (this.alive && this.#pending.has(id)) this.#ctrl.write(encodeFrame('kill', [['id', id], ['signal', signal]]));
  }

  /** Makes a network namespace ahead of time (netpool.h in the spawner says why). */
  addNetns(spec: NetnsSpec): Promise<void> {
    if (!this.alive) return Promise.reject(new WarrenError('WARREN_SPAWNER_CLOSED', 'the spawner is closed'));
    const f: Array<readonly [string, string]> = [['id', spec.id]];
    if (spec.veth) f.push(['veth', spec.veth.hostIf], ['bridge', spec.veth.bridge], ['addr', spec.veth.cidr], ['gateway', spec.veth.gateway]);
    if (spec.veth?.peers) f.push(['peers', '1']);
    return new Promise((resolve, reject) => {
      this.#netns.set(spec.id, { resolve, reject });
      this.#ctrl.write(encodeFrame('netns_add', f));
    });
  }

  /** Drops a pooled netns that no sandbox uses. */
  delNetns(id: string): void {
    if (this.alive) this.#ctrl.write(encodeFrame('netns_del', [['id', id]]));
  }

  #onMessage(m: Message): void {
    const id = field(m, 'id') ?? '';
    if (m.type === 'netns_gone') return this.onNetnsGone?.(id);
    const n = this.#netns.get(id);
    if (n && (m.type === 'netns_ready' || m.type === 'error')) {
      this.#netns.delete(id);
      if (m.type === 'netns_ready') n.resolve();
      else n.reject(new SpawnError(id, field(m, 'stage') ?? '?', Number(field(m, 'errno') ?? 0), field(m, 'msg') ?? ''));
      return;
    }
    const p = this.#pending.get(id);
    if (!p) return;
    if (m.type === 'spawned') {
      p.settled = true;
      p.resolve({ pid: Number(field(m, 'pid')), setupUs: Number(field(m, 'us')) });
    } else if (m.type === 'error') {
      const err = new SpawnError(id, field(m, 'stage') ?? '?', Number(field(m, 'errno') ?? 0), field(m, 'msg') ?? '');
      if (!p.settled) p.reject(err);
      p.settled = true;
      // a request refused before any clone gets no exit: nothing ran
      if (err.stage === 'request') this.#finish(id, { code: null, signal: null });
    } else if (m.type === 'exit') {
      const code = Number(field(m, 'code'));
      const signal = Number(field(m, 'signal'));
      if (!p.settled) p.reject(new SpawnError(id, 'setup', 0, `init exited during setup (code ${code}, signal ${signal})`));
      const netns = field(m, 'netns');
      this.#finish(id, {
        code: code >= 0 ? code : null,
        signal: signal > 0 ? signal : null,
        ...(netns === 'reused' || netns === 'discarded' ? { netns } : {}),
      });
    }
  }

  #finish(id: string, info: ExitInfo): void {
    this.#pending.get(id)?.exit(info);
    this.#pending.delete(id);
  }

  #failAll(err: Error): void {
    for (const n of this.#netns.values()) n.reject(err);
    this.#netns.clear();
    for (const [id, p] of this.#pending) {
      if (!p.settled) p.reject(err);
      this.#finish(id, { code: null, signal: 9, spawnerGone: true });
    }
  }

  /** Says `close` and ends the control socket: the spawner kills every sandbox it started and
   * exits (with live restore too: only a runner that dies leaves them running). Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#ctrl.end(encodeFrame('close', []));
    }
    await this.#gone;
    this.#release();
  }

  /** Kills the spawner now; its sandboxes die with it (their init has a parent-death signal). */
  async destroy(): Promise<void> {
    this.#closed = true;
    this.#kill();
    await this.#gone;
    this.#release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
