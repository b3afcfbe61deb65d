/**
 * Shared by the integration tests (they need root): run the real `warren` CLI with the test's own
 * dirs and cgroup prefix, and the probe bind-mounted at /probe.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirsEnv, type Dirs } from '../../lib/dirs.js';
import { compileSeccomp, defaultPolicy } from '../../sandbox/seccomp/index.js';
import type { SpawnRequest } from '../../sandbox/spawn-request.js';
import { ensureProbe, PROBE_DIR_IN_SANDBOX } from '../probe/probe.js';

export const WARREN = fileURLToPath(new URL('../../bin/warren.js', import.meta.url));

export const isRoot = process.getuid?.() === 0;
export const NEEDS_ROOT = isRoot ? false : 'needs root: sandboxes need namespaces, cgroups and mounts';

/**
 * The suite's own places: never /var/lib/warren, /run/warren or the cgroup `warren`. Each name
 * gets its own bridge, table and subnet too: addresses are leased in the run dir, so two test
 * files sharing a subnet with different run dirs would hand out the same address twice.
 * WRNTEST_SLOT=N (1-15) moves all of it aside (dirs, bridges, tables, the Nth /20 of each test subnet;
 * a run without it takes the first), so that several worktrees can run tests on one machine at once.
 */
/** The tests' resolv.conf unless they name one: empty, so the DNS forwarder answers SERVFAIL and
 * never asks this machine's resolver. */
export const NO_RESOLVER = '/dev/null';

/**
 * Every name a test file asks testDirs for, each with its own bridge, table and subnet: a test
 * file on the bridge runs beside others (tap runs two at once), and two names hashed to one subnet
 * handed out one address twice (the bench and the runtime tests did). A new name goes at the end.
 */
const TEST_NAMES = [
  'wrntest', 'wrntest-bench', 'wrntest-commit', 'wrntest-crash', 'wrntest-ct', 'wrntest-dns', 'wrntest-dns-other',
  'wrntest-events', 'wrntest-faults', 'wrntest-gc', 'wrntest-image', 'wrntest-kept-cap', 'wrntest-life',
  'wrntest-life2', 'wrntest-live-egress', 'wrntest-live-limits', 'wrntest-net', 'wrntest-pool', 'wrntest-regress',
  'wrntest-regress-io', 'wrntest-regress-sock', 'wrntest-runtime', 'wrntest-serve', 'wrntest-spares',
  'wrntest-spawner-death', 'wrntest-stdio', 'wrntest-tenant', 'wrntest-bench-serve', 'wrntest-fw',
  'wrntest-cron', 'wrntest-hostile', 'wrntest-deploy', 'wrntest-dev', 'wrntest-deploy-cron',
  'wrntest-ipv6', 'wrntest-lifecycle-cli', 'wrntest-vol', 'wrntest-fn-resources', 'wrntest-fn-network',
  'wrntest-fn-proc', 'wrntest-networks',
  'wrntest-hostile-ctl', 'wrntest-hostile-names', 'wrntest-hostile-race', 'wrntest-regress-load',
  'wrntest-handoff',
  'wrntest-net-repair', 'wrntest-restore',
  'wrntest-live-restore', 'wrntest-adopt',
];
/** Subnets the root tests of sandbox/network and bench name themselves (10.213-10.215). */
const TAKEN = new Set([13, 14, 15]);

function slotOf(name: string): number {
  const i = TEST_NAMES.indexOf(name);
  if (i < 0) throw new Error(`testDirs('${name}'): add the name to TEST_NAMES in test/integration/helpers.ts`);
  let k = -1;
  for (let n = 0; n <= i; n++) do k++; while (TAKEN.has(k));
  return k;
}

export function testDirs(name = 'wrntest'): Dirs {
  const k = slotOf(name);
  const slot = Number(process.env.WRNTEST_SLOT ?? 0);
  if (!Number.isInteger(slot) || slot < 0 || slot > 15) throw new Error(`WRNTEST_SLOT=${process.env.WRNTEST_SLOT}: expected 0 to 15`);
  if (slot === 0) {
    return {
      state: '/var/tmp/wrntest-state',
      run: `/run/${name}`,
      cgroupParent: name,
      net: { bridge: `wrntest${k + 1}`, table: `wrntest${k + 1}`, subnet: `10.${200 + k}.0.0/20`, resolvConf: NO_RESOLVER },
    };
  }
  return {
    state: `/var/tmp/wrntest-state-s${slot}`,
    run: `/run/${name}-s${slot}`,
    cgroupParent: `${name}-s${slot}`,
    net: { bridge: `wrnts${slot}b${k + 1}`, table: `wrnts${slot}b${k + 1}`, subnet: `10.${200 + k}.${slot * 16}.0/20`, resolvConf: NO_RESOLVER },
  };
}

export function testEnv(dirs: Dirs = testDirs()): NodeJS.ProcessEnv {
  return { ...process.env, ...dirsEnv(dirs), WARREN_RESOLV_CONF: dirs.net.resolvConf ?? NO_RESOLVER };
}

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface WarrenOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  stdio?: StdioOptions;
  timeoutMs?: number;
}

/** Runs `warren ARGS` to its end, bounded in time. */
export function warren(args: readonly string[], opts: WarrenOptions = {}): Promise<Result> {
  const child = spawn(process.execPath, [WARREN, ...args], {
    env: opts.env ?? testEnv(),
    stdio: opts.stdio ?? [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d));
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Runs `warren ARGS` in a process group of its own, sends the whole group SIGINT after `afterMs`
 * as a terminal's Ctrl-C does (the spawner gets it too), and waits for the end, SIGKILL after
 * `killMs`. Resolves with its exit code and stderr.
 */
/** Waits (at most `ms`) until process `pid` catches SIGINT (its SigCgt mask in /proc). */
async function handlesSigint(pid: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    let caught = 0n;
    try {
      const line = /^SigCgt:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      caught = BigInt(`0x${line?.[1] ?? '0'}`);
    } catch {
      return; // it ended
    }
    if (caught & (1n << BigInt(os.constants.signals.SIGINT - 1))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function interrupted(args: readonly string[], env: NodeJS.ProcessEnv, afterMs: number, killMs: number): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [WARREN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  child.stdout?.resume();
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // on a busy machine node may still be loading modules after `afterMs`: a SIGINT before warren
  // handles it kills the process by signal, which is not what the test asks about
  await handlesSigint(child.pid as number, killMs);
  await new Promise((r) => setTimeout(r, afterMs));
  process.kill(-(child.pid as number), 'SIGINT');
  const killer = setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), killMs);
  const code = await closed;
  clearTimeout(killer);
  return { code, stderr };
}

export interface Running {
  /** resolves when the sandbox prints a `"ready":true` line, or at its end */
  ready: Promise<void>;
  ended: Promise<Result>;
  kill: (signal?: NodeJS.Signals) => void;
}

/** `warren run ARGS` in the background: for a sandbox that says it is ready, then works on. */
export function startRun(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Running {
  const child = spawn(process.execPath, [WARREN, 'run', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  let stdout = '';
  let stderr = '';
  let signalReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (signalReady = resolve));
  child.stdout.on('data', (d: Buffer) => {
    stdout += d;
    if (stdout.includes('"ready":true')) signalReady();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const ended = new Promise<Result>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      signalReady();
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { kill: (signal = 'SIGKILL') => child.kill(signal), ready, ended };
}

/** `-v <probe dir>:/probe:ro` */
export function probeVolume(): string[] {
  return ['-v', `${ensureProbe()}:${PROBE_DIR_IN_SANDBOX}:ro`];
}

/** Runs the probe in a fresh sandbox and parses its one JSON line. */
export async function probe<T = Record<string, unknown>>(runArgs: readonly string[], probeArgs: readonly string[], env = testEnv()): Promise<T & { $: Result }> {
  const r = await warren(['run', ...probeVolume(), ...runArgs, '--', '/probe/probe', ...probeArgs], { env });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let parsed: T;
  try {
    parsed = JSON.parse(line) as T;
  } catch {
    throw new Error(`probe ${probeArgs.join(' ')} printed no JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`);
  }
  return Object.assign(parsed as object, { $: r }) as T & { $: Result };
}

/** The host uid that root inside maps to, from a uid_map text "0 <host> <count>". */
export function hostRootUid(uidMap: string): number {
  const [inside, host] = uidMap.trim().split(/\s+/).map(Number);
  if (inside !== 0 || host === undefined) throw new Error(`unexpected uid_map '${uidMap}'`);
  return host;
}

/** A spawn request for the spawner itself, with `dir` (empty) as its run dir, its only layer and
 * its seccomp cache: enough to get a child through its setup up to the exec, which finds nothing. */
export function bareSpawnRequest(dir: string, id: string, extra: Partial<SpawnRequest> = {}): SpawnRequest {
  return {
    id,
    argv: ['/bin/true'],
    env: [],
    rundir: dir,
    tmpfs: { sizeBytes: 1 << 20, inodes: 64 },
    layers: [dir],
    uid: { base: 1_900_000_000, count: 65536 },
    cgroupDirs: [],
    seccompPath: compileSeccomp(defaultPolicy(), dir),
    ...extra,
  };
}
