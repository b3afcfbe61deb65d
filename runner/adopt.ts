/**
 * Live restore's runner side (serve --live-restore): the sandboxes the last server left running,
 * which the sandbox layer hands back after a SIGKILL of it (host.adopted()), become the pool's
 * again, so that the functions they served answer at once, warm, instead of each booting a
 * runtime. What each becomes is policy.ts adoptAs, by its record (sandbox-record.ts) and the
 * versions live now: a generic runtime, a ready instance of its function's live version, or
 * destroyed. The decision is made at once; the runtime's answer on a new control connection
 * comes after (instance.ts adopt), while the pool counts it as starting, so requests that come
 * first wait for it and the server need not wait for them before it listens.
 */
import type { Sandbox } from '../sandbox/index.js';
import type { Generics } from './generics.js';
import { Instance } from './instance.js';
import { adoptAs } from './policy.js';
import type { Pool } from './pool.js';
import type { Version, Versions } from './pool-parts.js';
import { parseSandboxRecord } from './sandbox-record.js';

/** How long an adopted runtime has to answer: it was serving a moment ago, so a few ms unless
 * its event loop is blocked (a function's endless loop), and then it would not serve anyway. */
export const ADOPT_TIMEOUT_MS = 2000;

export interface AdoptInto {
  versions: Versions;
  pool: Pool;
  generics: Generics;
  timeoutMs?: number;
}

export interface Adopted {
  /** Instances being adopted, by function. */
  instances: Map<string, number>;
  generics: number;
  /** Destroyed at once, with why. */
  destroyed: Array<{ id: string; why: string }>;
  /** Resolves once every adoption settled and every sandbox destroyed at once is gone: those
   * whose runtime did not answer, with why. */
  settled: Promise<Array<{ id: string; why: string }>>;
}

/** Takes every sandbox in `sandboxes` (each is kept or destroyed). */
export function adoptAll(sandboxes: readonly Sandbox[], into: AdoptInto): Adopted {
  const timeoutMs = into.timeoutMs ?? ADOPT_TIMEOUT_MS;
  const out: Adopted = { instances: new Map(), generics: 0, destroyed: [], settled: Promise.resolve([]) };
  const waits: Array<Promise<{ id: string; why: string } | undefined>> = [];
  const failure = (sandbox: Sandbox, adopted: Promise<unknown>) =>
    waits.push(adopted.then(
      () => undefined,
      (err: unknown) => ({ id: sandbox.id, why: err instanceof Error ? err.message : String(err) }),
    ));
  for (const sandbox of sandboxes) {
    const decision = adoptAs(parseSandboxRecord(sandbox.record), (fn) => into.versions.live(fn)?.version);
    if (decision.kind === 'destroy') {
      out.destroyed.push({ id: sandbox.id, why: decision.why });
      waits.push(sandbox.destroy().then(() => undefined, () => undefined));
    } else if (decision.kind === 'generic') {
      const adopted = Instance.adopt(sandbox, into.generics.limits, undefined, timeoutMs);
      into.generics.adopt(adopted);
      out.generics++;
      failure(sandbox, adopted);
    } else {
      // adoptAs saw it live: the same call, a moment ago
      const version = into.versions.live(decision.fn) as Version;
      const owner = { fn: version.fn, version: version.version, key: version.key };
      const adopted = Instance.adopt(sandbox, into.generics.limits, owner, timeoutMs);
      void into.pool.adopt(version, adopted);
      out.instances.set(version.fn, (out.instances.get(version.fn) ?? 0) + 1);
      failure(sandbox, adopted);
    }
  }
  out.settled = Promise.all(waits).then((all) => all.filter((f) => f !== undefined));
  return out;
}
