/**
 * The koffi binding of libseccomp.so.2: just what compile.ts needs to turn a
 * policy into BPF. Nothing here loads a filter into the kernel; the spawner
 * does that with the exported program.
 *
 * koffi and the library are loaded on first use, not on import, so a process
 * that only reads cached programs never pays for them (or needs them).
 */
import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';

import type { LibraryHandle } from 'koffi';
import type koffiApi from 'koffi';

import { WarrenError } from '../../lib/errors.js';

export const LIBSECCOMP = 'libseccomp.so.2';

/** Actions as seccomp.h encodes them. */
export const SCMP_ACT_ALLOW = 0x7fff0000;
export const SCMP_ACT_KILL_PROCESS = 0x80000000;
export const SCMP_ACT_LOG = 0x7ffc0000;
export function SCMP_ACT_ERRNO(errno: number): number {
  return (0x00050000 | (errno & 0xffff)) >>> 0;
}

/** enum scmp_compare. */
export const SCMP_CMP = {
  ne: 1,
  lt: 2,
  le: 3,
  eq: 4,
  ge: 5,
  gt: 6,
  'masked-eq': 7,
} as const;

/** struct scmp_arg_cmp. For SCMP_CMP_MASKED_EQ, datumA is the mask and datumB the value. */
export interface ScmpArgCmp {
  arg: number;
  op: number;
  datumA: bigint;
  datumB: bigint;
}

export interface LibseccompBinding {
  init(defaultAction: number): bigint | null;
  release(ctx: bigint): void;
  resolveName(name: string): number;
  ruleAddArray(ctx: bigint, action: number, nr: number, n: number, cmps: object[] | null): number;
  exportBpf(ctx: bigint, fd: number): number;
  attrSet(ctx: bigint, attr: number, value: number): number;
  archNative(): number;
  version: string;
}

let loaded: LibseccompBinding | undefined;

function binding(): LibseccompBinding {
  loaded ??= loadLibseccomp();
  return loaded;
}

/** Loads koffi and `soname`, binds the functions. Exported so tests can name a missing library. */
export function loadLibseccomp(soname: string = LIBSECCOMP): LibseccompBinding {
  let koffi: typeof koffiApi;
  let lib: LibraryHandle;
  try {
    koffi = createRequire(import.meta.url)('koffi') as typeof koffiApi;
    lib = koffi.load(soname);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new WarrenError('WARREN_SECCOMP_LIBRARY', `load '${soname}': ${detail}`, { cause });
  }
  // Anonymous types: koffi registers named types process-wide, and another
  // module binding libseccomp must not collide with these.
  const ctx = koffi.pointer(koffi.opaque());
  const argCmp = koffi.struct({ arg: 'uint', op: 'int', datum_a: 'uint64_t', datum_b: 'uint64_t' });
  const version = koffi.struct({ major: 'uint', minor: 'uint', micro: 'uint' });
  try {
    const fn = {
      init: lib.func('seccomp_init', ctx, ['uint32_t']),
      release: lib.func('seccomp_release', 'void', [ctx]),
      resolveName: lib.func('seccomp_syscall_resolve_name', 'int', ['str']),
      ruleAddArray: lib.func('seccomp_rule_add_array', 'int', [
        ctx, 'uint32_t', 'int', 'uint', koffi.pointer(argCmp),
      ]),
      exportBpf: lib.func('seccomp_export_bpf', 'int', [ctx, 'int']),
      attrSet: lib.func('seccomp_attr_set', 'int', [ctx, 'int', 'uint32_t']),
      archNative: lib.func('seccomp_arch_native', 'uint32_t', []),
      version: lib.func('seccomp_version', koffi.pointer(version), []),
    };
    const v = koffi.decode(fn.version(), version) as Record<'major' | 'minor' | 'micro', number>;
    return { ...fn, version: `${v.major}.${v.minor}.${v.micro}` };
  } catch (cause) {
    // A libseccomp too old for one of the symbols (seccomp_version is 2.3+).
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new WarrenError('WARREN_SECCOMP_LIBRARY', `bind '${soname}': ${detail}`, { cause });
  }
}

/** The loaded libseccomp's version, e.g. "2.5.4". */
export function libseccompVersion(): string {
  return binding().version;
}

/**
 * The native architecture as seccomp_data.arch holds it (AUDIT_ARCH_*, e.g. 0xc000003e for
 * x86_64): libseccomp's SCMP_ARCH_* tokens are those values.
 */
export function nativeArch(): number {
  return binding().archNative();
}

/**
 * The native syscall number of `name`, or a negative number when this
 * architecture has no such syscall (libseccomp returns -1 for names it does not
 * know at all, and a "pseudo" number below -1 for names of other architectures).
 */
export function resolveSyscall(name: string): number {
  return binding().resolveName(name);
}

/** Turns a negative libseccomp return (-errno) into an error naming the call and its object. */
function check(rc: number, what: string): void {
  if (rc >= 0) return;
  throw new WarrenError(
    'WARREN_SECCOMP_COMPILE',
    `${what}: ${getSystemErrorName(rc)} (errno ${-rc})`,
  );
}

/**
 * A libseccomp filter context for the native architecture only. Adding x86 or
 * x32 is deliberately not offered: a call through another ABI then meets the
 * bad-arch action (kill) instead of rules written for x86_64 numbers.
 */
const SCMP_FLTATR_ACT_BADARCH = 2;
const SCMP_FLTATR_CTL_OPTIMIZE = 8;

export class SeccompContext implements Disposable {
  #lib: LibseccompBinding;
  #ctx: bigint | null;

  private constructor(lib: LibseccompBinding, ctx: bigint) {
    this.#lib = lib;
    this.#ctx = ctx;
  }

  static create(defaultAction: number): SeccompContext {
    const lib = binding();
    const ctx = lib.init(defaultAction);
    // seccomp_init returns NULL, without an errno, for a bad action or no memory.
    if (ctx === null || ctx === 0n) {
      const action = `0x${defaultAction.toString(16)}`;
      throw new WarrenError('WARREN_SECCOMP_COMPILE', `seccomp_init (action ${action}) failed`);
    }
    const made = new SeccompContext(lib, ctx);
    // A binary tree of syscall numbers instead of libseccomp's linear chain. The kernel runs the
    // filter once per syscall number when it loads it (to build its always-allow cache), so a
    // chain of ~300 compares made each load cost ~0.4 ms of every spawn; the tree takes ~9.
    // SCMP_FLTATR_CTL_OPTIMIZE is 8 (libseccomp >= 2.5.0); an older library keeps the chain.
    if (lib.attrSet(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0) made.optimized = false;
    // A syscall of another ABI (int 0x80 on x86_64) kills the whole process, not only the thread
    // (libseccomp's default), which would leave the rest of a process running half-broken.
    check(lib.attrSet(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), 'seccomp_attr_set SCMP_FLTATR_ACT_BADARCH');
    return made;
  }

  /** Whether the binary-tree layout took (libseccomp >= 2.5.0). */
  optimized = true;

  /** `what` names the rule in errors (e.g. "'clone' (rule 4)"); libseccomp gets `nr`. */
  addRule(action: number, what: string, nr: number, cmps: readonly ScmpArgCmp[]): void {
    const args = cmps.map((c) => ({ arg: c.arg, op: c.op, datum_a: c.datumA, datum_b: c.datumB }));
    const cmpArray = args.length > 0 ? args : null;
    const rc = this.#lib.ruleAddArray(this.#live(), action, nr, args.length, cmpArray);
    check(rc, `seccomp_rule_add_array ${what}`);
  }

  /** Writes the program (struct sock_filter[]) to `fd`, as the kernel takes it. */
  exportBpf(fd: number): void {
    check(this.#lib.exportBpf(this.#live(), fd), `seccomp_export_bpf (fd ${fd})`);
  }

  /** Frees the context; idempotent. */
  close(): void {
    if (this.#ctx === null) return;
    this.#lib.release(this.#ctx);
    this.#ctx = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(): bigint {
    if (this.#ctx === null) {
      throw new WarrenError('WARREN_SECCOMP_CLOSED', 'seccomp context used after close');
    }
    return this.#ctx;
  }
}
