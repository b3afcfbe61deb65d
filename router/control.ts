/**
 * What the control API needs from the function service (runner/ implements it; cli/ wires): the
 * router parses and checks each HTTP request into these calls and turns what they return or throw
 * into JSON (errors.ts). Names are checked by the router (FUNCTION_NAME); everything else the
 * service checks, and refuses with a WarrenError of fault 'user'.
 */

/** A function's name: what `/<name>/...` and `<name>.<domain>` route to. */
export const FUNCTION_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** A secret's or var's name, as an env key. */
export const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** A function's vars and secrets together (UTF-8 bytes of names and values): every instance
 * gets them in its load request (at most 32 MiB, with the module) and holds them in its memory,
 * so a bigger env would refuse every start of the function rather than its deploy. */
export const MAX_ENV_BYTES = 1024 * 1024;

export interface FunctionLimits {
  /** Memory cap, bytes (the API takes "128m"). */
  memoryBytes: number;
  /** CPU cap in cores (0.5 is half a core). */
  cpus: number;
  /** Per-request timeout. */
  timeoutMs: number;
  /** Requests one instance serves at once. */
  concurrency: number;
}

/** What a function may reach: nothing, the public internet, or these CIDRs. */
export type FunctionEgress = 'none' | 'public' | readonly string[];

/** A deploy as the control API received it, checked for shape; absent limits take the defaults. */
export interface DeploySpec {
  module: string;
  vars: Record<string, string>;
  limits: Partial<FunctionLimits>;
  egress?: FunctionEgress;
  /** Cron expressions (five fields as Workers take them, or six with seconds first) on which the
   * module's scheduled() handler runs, in UTC; none when left out. */
  crons?: string[];
}

export interface VersionInfo {
  version: number;
  /** sha256 of the module's bytes. */
  digest: string;
  sizeBytes: number;
  createdAt: string;
  limits: FunctionLimits;
  egress: FunctionEgress;
  vars: Record<string, string>;
  /** Its cron triggers; [] for none. */
  crons: string[];
}

export interface FunctionInfo {
  name: string;
  /** The version traffic goes to. */
  live: VersionInfo;
  createdAt: string;
  /** Names only: a secret's value never leaves the service. */
  secrets: string[];
}

/** One line of a function's log: a console.* call, or the runtime's own report. */
export interface LogLine {
  time: string;
  fn: string;
  version: number;
  instance: string;
  /** The request whose handling wrote it, when there was one. */
  requestId: string | null;
  stream: 'stdout' | 'stderr' | 'warren';
  text: string;
}

export interface SandboxInfo {
  id: string;
  /** null for a generic runtime. */
  fn: string | null;
  version: number | null;
  state: string;
  ageMs: number;
  memoryBytes: number;
  /** Requests in flight. */
  busy: number;
}

export interface Control {
  /** A new version, live once it loaded in a sandbox. WARREN_DEPLOY_LOAD (user): it did not load
   * (the message says why); the live version keeps serving. */
  deploy(name: string, spec: DeploySpec): Promise<VersionInfo>;
  list(): Promise<FunctionInfo[]>;
  /** WARREN_FN_NOT_FOUND when there is none. */
  get(name: string): Promise<FunctionInfo>;
  /** Stops its instances, forgets its versions and secrets. */
  remove(name: string): Promise<void>;
  versions(name: string): Promise<VersionInfo[]>;
  /** Back to `version`, or to the one before the live one. */
  rollback(name: string, version?: number): Promise<VersionInfo>;
  putSecret(name: string, key: string, value: string): Promise<void>;
  deleteSecret(name: string, key: string): Promise<void>;
  secretNames(name: string): Promise<string[]>;
  /** The lines kept so far; with `follow`, then each new one until `signal` aborts. */
  logs(name: string, opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine>;
  sandboxes(): SandboxInfo[];
  /** Prometheus text format. */
  metrics(): Promise<{ contentType: string; text: string }>;
}
