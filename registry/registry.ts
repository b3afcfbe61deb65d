/**
 * The registry's one small interface: functions, their versions, which version is live, the
 * deployments that made it so, and secrets. `warren serve` keeps it in SQLite (sqlite-registry.ts);
 * a cluster would put the same interface over PostgreSQL. Bundles are not in it: a version names
 * its bundle's layer by digest, and the layer store keeps the bytes (snapshots/bundles.ts).
 *
 * A function is there for users once it has a live version. Between addVersion() and setLive() of
 * its first deploy it exists only for the deploy that made it: listFunctions() leaves it out, and
 * every method that takes its name but addVersion, setLive, discardVersion and version() answers
 * WARREN_FN_NOT_FOUND for it.
 *
 * Version numbers count 1, 2, 3... per name and are never reused: not after a failed deploy
 * discarded its version, nor after the function was removed and made again. So (name, version)
 * names one bundle, one set of limits and vars forever, and an instance, a log line or a metric
 * labelled with it can never be mistaken for another deploy's.
 */

export interface VersionLimits {
  memoryBytes: number;
  cpus: number;
  timeoutMs: number;
  concurrency: number;
}

/** What a version may reach: nothing, the public internet, or these CIDRs. */
export type VersionEgress = 'none' | 'public' | string[];

/** What addVersion stores; the registry adds the name, the number and the time. */
export interface NewVersion {
  /** The layer holding the bundle (snapshots putBundle). */
  digest: string;
  sizeBytes: number;
  limits: VersionLimits;
  egress: 'none' | 'public' | readonly string[];
  vars: Record<string, string>;
  /** Cron expressions its scheduled() handler runs on; none when left out. */
  crons?: readonly string[];
}

/** Structurally a router/control.ts VersionInfo, plus the function's name. */
export interface StoredVersion {
  fn: string;
  version: number;
  digest: string;
  sizeBytes: number;
  /** ISO 8601, UTC. */
  createdAt: string;
  limits: VersionLimits;
  egress: VersionEgress;
  vars: Record<string, string>;
  crons: string[];
}

/** Structurally a router/control.ts FunctionInfo. */
export interface StoredFunction {
  name: string;
  live: StoredVersion;
  createdAt: string;
  /** Names only, sorted. */
  secrets: string[];
}

export type DeployKind = 'deploy' | 'rollback';

/** One change of the live version, oldest first in deployments(). */
export interface Deployment {
  at: string;
  kind: DeployKind;
  /** null for a function's first deploy. */
  from: number | null;
  to: number;
}

export interface Registry extends Disposable {
  /** Stores a version, not live yet; makes the function's row when the name is new. */
  addVersion(fn: string, v: NewVersion): StoredVersion;
  /** Sends traffic to `version` from now on and records the deployment. */
  setLive(fn: string, version: number, kind: DeployKind): StoredVersion;
  /**
   * Forgets a version that never went live (its module did not load); when the function has no
   * live version and no other version left, it goes too, so a failed first deploy leaves nothing.
   * WARREN_REGISTRY_DEPLOYED for a version that was ever live: history names it.
   */
  discardVersion(fn: string, version: number): void;
  getFunction(fn: string): StoredFunction;
  /** Every function with a live version, by name. */
  listFunctions(): StoredFunction[];
  /** All stored versions, oldest first. */
  versions(fn: string): StoredVersion[];
  /** Any stored version, also one not live yet. */
  version(fn: string, version: number): StoredVersion;
  deployments(fn: string): Deployment[];
  /** Where a rollback without a version goes (history.ts), or null when there is nowhere. */
  rollbackTarget(fn: string): StoredVersion | null;
  /** Its versions, deployments and secrets go; its version numbers stay used. */
  removeFunction(fn: string): void;
  putSecret(fn: string, key: string, value: string): void;
  /** false when there was no such secret. */
  deleteSecret(fn: string, key: string): boolean;
  /** Sorted. Values only ever leave through secrets(). */
  secretNames(fn: string): string[];
  /** The values, for the function's `env`. */
  secrets(fn: string): Record<string, string>;
  /** Every layer a version names, live or not: layer GC must keep them. */
  bundleDigests(): Set<string>;
  /** Idempotent. */
  close(): void;
}
