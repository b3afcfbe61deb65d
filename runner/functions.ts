/**
 * The function service: what the control API does (router/control.ts Control), over the
 * registry (versions, secrets), the bundles (layers) and the pool. A deploy is atomic: the new
 * version loads in a sandbox first (pool.prepare), and only then does traffic move to it; a module
 * that does not load is refused and the live version keeps serving. Deploys, rollbacks and
 * removals of one function run one at a time.
 */
import { isWarrenError, WarrenError } from '../lib/errors.js';
import type { Control, DeploySpec, FunctionEgress, FunctionInfo, FunctionLimits, LogLine, SandboxInfo, VersionInfo } from '../router/control.js';
import { ENV_KEY, MAX_ENV_BYTES } from '../router/control.js';
import { parseCidr, type Egress } from '../sandbox/index.js';
import type { Registry, StoredFunction, StoredVersion } from '../registry/index.js';
import { checkCrons } from './crons.js';
import type { Specialization } from './instance.js';
import type { Pool } from './pool.js';
import type { Version, Versions } from './pool-parts.js';

/**
 * What the service needs of the registry (registry/ implements it; cli wires). A function exists
 * once it has a live version: the others throw WARREN_FN_NOT_FOUND for one that does not.
 */
export type FunctionRegistry = Pick<
  Registry,
  | 'addVersion'
  | 'setLive'
  | 'discardVersion'
  | 'getFunction'
  | 'listFunctions'
  | 'versions'
  | 'version'
  | 'rollbackTarget'
  | 'removeFunction'
  | 'putSecret'
  | 'deleteSecret'
  | 'secretNames'
  | 'secrets'
>;

/** Where bundles are kept by digest (snapshots/ bundles, in the layer store). */
export interface Bundles {
  put(source: string): Promise<{ digest: string; sizeBytes: number }>;
  read(digest: string): Promise<string>;
}

/** What the service needs of the log store (runner/logs.ts). */
export interface LogReader {
  read(fn: string, opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine>;
  remove(fn: string): Promise<void> | void;
}

/** The limits a deploy leaves out; documented in the README. */
export const DEFAULT_LIMITS: FunctionLimits = { memoryBytes: 128 * 1024 * 1024, cpus: 1, timeoutMs: 30_000, concurrency: 16 };
const LIMIT_RANGES: Record<keyof FunctionLimits, [number, number, string]> = {
  // below 64 MiB node does not boot with room to serve
  memoryBytes: [64 * 1024 * 1024, 16 * 1024 * 1024 * 1024, 'memory (64m to 16g)'],
  cpus: [0.01, 64, 'cpus (0.01 to 64)'],
  timeoutMs: [1, 15 * 60_000, 'timeout_ms (1 to 900000)'],
  concurrency: [1, 1000, 'concurrency (1 to 1000)'],
};

/** Where a function's live crons go (crons.ts Crons): [] when it has none or was removed. */
export interface CronTriggers {
  set(fn: string, version: number, crons: readonly string[]): void;
}

export interface FunctionsOptions {
  /** Tasks per instance at most. */
  pids: number;
  /** Pool metrics in Prometheus text format. */
  metrics(): Promise<{ contentType: string; text: string }>;
}

export class Functions implements Control, Versions {
  readonly #registry: FunctionRegistry;
  readonly #bundles: Bundles;
  readonly #logs: LogReader;
  readonly #opts: FunctionsOptions;
  #pool: Pool | undefined;
  #crons: CronTriggers | undefined;
  /** The Version the pool routes to, per function; a new object when secrets change, so the
   * pool's instances of the old one (whose env had the old secrets) drain. */
  readonly #live = new Map<string, Version>();
  readonly #locks = new Map<string, Promise<unknown>>();
  #generation = 0;

  constructor(registry: FunctionRegistry, bundles: Bundles, logs: LogReader, opts: FunctionsOptions) {
    this.#registry = registry;
    this.#bundles = bundles;
    this.#logs = logs;
    this.#opts = opts;
    for (const f of registry.listFunctions()) this.#live.set(f.name, this.#version(f.live));
  }

  /** The pool is made with this service as its Versions; it is handed back here. */
  attach(pool: Pool): void {
    this.#pool = pool;
  }

  /** Cron triggers from now on: every live version's crons are handed over now, and each
   * deploy's, rollback's and removal's then. */
  schedule(crons: CronTriggers): void {
    this.#crons = crons;
    for (const f of this.#registry.listFunctions()) crons.set(f.name, f.live.version, f.live.crons);
  }

  live(fn: string): Version | undefined {
    return this.#live.get(fn);
  }

  deploy(name: string, spec: DeploySpec): Promise<VersionInfo> {
    const limits = checkLimits(spec.limits);
    const egress = checkEgress(spec.egress ?? 'none');
    for (const key of Object.keys(spec.vars)) if (!ENV_KEY.test(key)) throw new WarrenError('WARREN_DEPLOY_INVALID', `var name '${key}' is not an env name`);
    const crons = checkCrons(spec.crons ?? []);
    return this.#serial(name, async () => {
      checkEnvSize(name, spec.vars, this.#secrets(name));
      let stored: StoredVersion;
      try {
        const bundle = await this.#bundles.put(spec.module);
        stored = this.#registry.addVersion(name, { ...bundle, limits, egress, vars: { ...spec.vars }, crons });
      } catch (err) {
        if (outOfSpace(err)) throw new WarrenError('WARREN_DEPLOY_NO_SPACE', `no space left in the state dir for a new version of '${name}': the live version stays`, { cause: err });
        throw err;
      }
      try {
        await this.#goLive(stored, 'deploy', spec.module);
      } catch (err) {
        try {
          this.#registry.discardVersion(name, stored.version);
        } catch {
          // the function was removed meanwhile: nothing of the version is left to discard
        }
        throw err;
      }
      return publicVersion(stored);
    });
  }

  rollback(name: string, version?: number): Promise<VersionInfo> {
    return this.#serial(name, async () => {
      this.#must(name);
      const stored = version === undefined ? this.#registry.rollbackTarget(name) : this.#registry.version(name, version);
      if (!stored) throw new WarrenError('WARREN_FN_VERSION_NOT_FOUND', `function '${name}' has no earlier version to roll back to`);
      // its vars with the secrets set since
      checkEnvSize(name, stored.vars, this.#secrets(name));
      await this.#goLive(stored, 'rollback');
      return publicVersion(stored);
    });
  }

  /** Loads `stored` in a sandbox, then moves traffic to it; the old version's instances drain. */
  async #goLive(stored: StoredVersion, kind: 'deploy' | 'rollback', source?: string): Promise<void> {
    const version = this.#version(stored, source);
    try {
      await (this.#pool as Pool).prepare(version);
    } catch (err) {
      if (err instanceof WarrenError && err.code === 'WARREN_RUNTIME_LOAD_FAILED') {
        throw new WarrenError('WARREN_DEPLOY_LOAD', `function '${stored.fn}' version ${stored.version} did not load: ${loadMessage(err.message)}`, { cause: err });
      }
      throw err;
    }
    this.#registry.setLive(stored.fn, stored.version, kind);
    this.#live.set(stored.fn, version);
    this.#pool?.retire(stored.fn, version);
    this.#crons?.set(stored.fn, stored.version, stored.crons);
  }

  async list(): Promise<FunctionInfo[]> {
    return this.#registry.listFunctions().map(info);
  }

  async get(name: string): Promise<FunctionInfo> {
    return info(this.#must(name));
  }

  remove(name: string): Promise<void> {
    return this.#serial(name, async () => {
      this.#must(name);
      this.#registry.removeFunction(name);
      this.#live.delete(name);
      this.#crons?.set(name, 0, []);
      this.#pool?.retire(name);
      await this.#logs.remove(name);
    });
  }

  async versions(name: string): Promise<VersionInfo[]> {
    this.#must(name);
    return this.#registry.versions(name).map(publicVersion);
  }

  /** In the function's queue with its deploys: a secret put while a deploy was on its way was
   * checked against the live version's vars, the deploy against the secrets before it, and
   * together they could pass the env's cap. */
  putSecret(name: string, key: string, value: string): Promise<void> {
    this.#checkKey(key);
    return this.#serial(name, async () => {
      const fn = this.#must(name);
      checkEnvSize(name, fn.live.vars, { ...this.#registry.secrets(name), [key]: value });
      this.#registry.putSecret(name, key, value);
      this.#refresh(name);
    });
  }

  deleteSecret(name: string, key: string): Promise<void> {
    this.#checkKey(key);
    return this.#serial(name, async () => {
      this.#must(name);
      if (!this.#registry.deleteSecret(name, key)) throw new WarrenError('WARREN_FN_SECRET_NOT_FOUND', `function '${name}' has no secret '${key}'`);
      this.#refresh(name);
    });
  }

  async secretNames(name: string): Promise<string[]> {
    this.#must(name);
    return this.#registry.secretNames(name);
  }

  logs(name: string, opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine> {
    this.#must(name);
    return this.#logs.read(name, opts);
  }

  sandboxes(): SandboxInfo[] {
    return this.#pool?.sandboxes() ?? [];
  }

  metrics(): Promise<{ contentType: string; text: string }> {
    return this.#opts.metrics();
  }

  /** New instances get the new secrets: the live version's instances drain. */
  #refresh(name: string): void {
    const stored = this.#registry.getFunction(name).live;
    const version = this.#version(stored);
    this.#live.set(name, version);
    this.#pool?.retire(name, version);
  }

  /** The pool's view of a stored version. Its module is read once (or given, by a deploy) and
   * kept while the Version lives: a start must not wait for the layer store. */
  #version(stored: StoredVersion, source?: string): Version {
    const { fn, version, limits } = stored;
    const egress = toEgress(stored.egress);
    let module: Promise<string> | undefined = source === undefined ? undefined : Promise.resolve(source);
    // read once per Version: a change of the function's secrets makes a new one (#refresh), and
    // each start read them from the registry again (0.2 ms of a prewarm start here)
    let env: Record<string, string> | undefined;
    return {
      fn,
      version,
      key: `${fn}@${version}#${++this.#generation}`,
      concurrency: limits.concurrency,
      timeoutMs: limits.timeoutMs,
      memoryBytes: limits.memoryBytes,
      specialization: async (): Promise<Specialization> => ({
        limits: { memoryBytes: limits.memoryBytes, cpus: limits.cpus, pids: this.#opts.pids },
        egress,
        // secrets over vars of the same name, as wrangler does
        env: (env ??= { ...stored.vars, ...this.#secrets(fn) }),
        needsScheduled: stored.crons.length > 0,
        source: await (module ??= this.#bundles.read(stored.digest).catch((err: unknown) => {
          module = undefined; // the next start tries again
          throw err;
        })),
      }),
    };
  }

  /** A function's secrets; none before its first version is live (the registry knows no function
   * until then, and no secret can have been put). */
  #secrets(fn: string): Record<string, string> {
    try {
      return this.#registry.secrets(fn);
    } catch (err) {
      if (isWarrenError(err, 'WARREN_FN_NOT_FOUND')) return {};
      throw err;
    }
  }

  #must(name: string): StoredFunction {
    return this.#registry.getFunction(name);
  }

  #checkKey(key: string): void {
    if (!ENV_KEY.test(key)) throw new WarrenError('WARREN_DEPLOY_INVALID', `secret name '${key}' is not an env name`);
  }

  /** Runs `work` after the work queued before it for the same function. */
  #serial<T>(name: string, work: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(name) ?? Promise.resolve();
    const run = before.then(work, work);
    const tail = run.catch(() => {});
    this.#locks.set(name, tail);
    void tail.then(() => {
      if (this.#locks.get(name) === tail) this.#locks.delete(name);
    });
    return run;
  }
}

function checkLimits(given: Partial<FunctionLimits>): FunctionLimits {
  const limits = { ...DEFAULT_LIMITS, ...given };
  for (const [key, [min, max, what]] of Object.entries(LIMIT_RANGES) as Array<[keyof FunctionLimits, [number, number, string]]>) {
    const v = limits[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new WarrenError('WARREN_DEPLOY_INVALID', `limit ${what}: ${String(v)} is out of range`);
  }
  if (!Number.isInteger(limits.concurrency)) throw new WarrenError('WARREN_DEPLOY_INVALID', `limit concurrency: ${limits.concurrency} is not a whole number`);
  return limits;
}

/** The env every instance of `fn` would get (vars, and secrets over them) fits MAX_ENV_BYTES. */
export function checkEnvSize(fn: string, vars: Record<string, string>, secrets: Record<string, string>): void {
  let bytes = 0;
  for (const [key, value] of Object.entries({ ...vars, ...secrets })) bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  if (bytes > MAX_ENV_BYTES) {
    throw new WarrenError('WARREN_DEPLOY_ENV_TOO_LARGE', `function '${fn}': its vars and secrets come to ${bytes} bytes, over the ${MAX_ENV_BYTES} an instance's env may hold`);
  }
}

function checkEgress(egress: FunctionEgress): FunctionEgress {
  if (egress === 'none' || egress === 'public') return egress;
  if (!Array.isArray(egress) || egress.length === 0 || egress.length > 64) throw new WarrenError('WARREN_DEPLOY_INVALID', `egress must be "none", "public" or a list of 1 to 64 CIDRs`);
  for (const cidr of egress) {
    try {
      parseCidr(String(cidr));
    } catch (err) {
      throw new WarrenError('WARREN_DEPLOY_INVALID', `egress '${String(cidr)}' is not an IPv4 CIDR`, { cause: err });
    }
  }
  return [...egress];
}

function toEgress(egress: FunctionEgress): Egress {
  return egress === 'none' || egress === 'public' ? egress : { allow: egress };
}

/** The runtime's own words about why a module did not load, without the transport's prefix. */
function loadMessage(message: string): string {
  return message.replace(/^runtime POST \S+ answered \d+: /, '');
}

function publicVersion(v: StoredVersion): VersionInfo {
  return { version: v.version, digest: v.digest, sizeBytes: v.sizeBytes, createdAt: v.createdAt, limits: v.limits, egress: v.egress, vars: v.vars, crons: v.crons };
}

function info(f: StoredFunction): FunctionInfo {
  return { name: f.name, createdAt: f.createdAt, live: publicVersion(f.live), secrets: f.secrets };
}

/** Whether `err` or one of its causes is a full filesystem: ENOSPC from a write, SQLITE_FULL from
 * the registry. */
function outOfSpace(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'SQLITE_FULL') return true;
  }
  return false;
}
