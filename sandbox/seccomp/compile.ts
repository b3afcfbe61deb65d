/**
 * Policy → BPF program, cached on disk by content.
 *
 *   normalize (pure: validate, encode actions and ops, bigints as strings)
 *     → key = sha256(format, arch, libseccomp version, normalized policy)
 *     → <cacheDir>/<key>.bpf exists? return it (a stat)
 *     → else libseccomp builds the program into a temp file, renamed into place
 *
 * The file holds struct sock_filter[] as seccomp_export_bpf writes it, after a
 * prefix of our own when the policy has a newerAction (see newerPrefix), ready
 * for prctl(PR_SET_SECCOMP) or seccomp(SECCOMP_SET_MODE_FILTER).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { WarrenError, errnoOf } from '../../lib/errors.js';
import {
  SCMP_ACT_ALLOW,
  SCMP_ACT_ERRNO,
  SCMP_ACT_KILL_PROCESS,
  SCMP_ACT_LOG,
  SCMP_CMP,
  SeccompContext,
  nativeArch,
  type ScmpArgCmp,
} from './libseccomp.js';
import type { ArgCmp, SeccompAction, SeccompPolicy } from './policy.js';
import { fallbackTable, syscallNumber } from './syscalls.js';
import { libseccompVersionStamped } from './version-stamp.js';

/** Bump when this file changes what it feeds libseccomp, so older programs are not reused. */
const FORMAT = 4; // 2: the binary-tree layout (SCMP_FLTATR_CTL_OPTIMIZE); 3: bad arch kills the process; 4: newerAction
/** BPF_MAXINSNS: the kernel refuses a longer classic BPF program. */
const MAX_INSTRUCTIONS = 4096;
/** sizeof(struct sock_filter). */
const INSTRUCTION_SIZE = 8;
const MAX_ERRNO = 4095;
const UINT64_MAX = (1n << 64n) - 1n;
/**
 * newerAction covers numbers below this one. Linux adds a few syscalls a year and is near 470,
 * so 1024 leaves decades; above it are -1 (a tracer skipping a call) and, on x86_64, the x32
 * ABI's numbers (bit 30), which libseccomp's own checks must keep seeing.
 */
export const NEWER_LIMIT = 1024;

/** The policy as libseccomp will see it; also what the cache key hashes. */
interface Normalized {
  defaultAction: number;
  newerAction: number | null;
  rules: { names: string[]; action: number; args: NormalizedCmp[] }[];
}

/** An argument comparison as struct scmp_arg_cmp holds it (datum_a, datum_b). */
interface NormalizedCmp {
  arg: number;
  op: number;
  a: string;
  b: string;
}

/**
 * Returns the absolute path of a file holding the BPF program for `policy`,
 * compiling it only if no earlier call (of any process) left it in `cacheDir`.
 */
export function compileSeccomp(policy: SeccompPolicy, cacheDir: string): string {
  const normalized = normalize(policy);
  const dir = path.resolve(cacheDir);
  const file = path.join(dir, `${cacheKey(normalized, libseccompVersionStamped(path.join(dir, 'libseccomp.json')))}.bpf`);
  if (isProgram(file)) return file;
  fsStep(`mkdir '${dir}'`, () => fs.mkdirSync(dir, { recursive: true, mode: 0o700 }));
  writeAtomically(file, (fd) => buildProgram(normalized, fd));
  return file;
}

function cacheKey(normalized: Normalized, libseccomp: string): string {
  // The libseccomp version belongs in the key: a newer one may know syscall
  // names the older one skipped, or generate different code for the same rules.
  const input = JSON.stringify({
    format: FORMAT,
    arch: process.arch,
    libseccomp,
    // The numbers the names resolve to beyond libseccomp's own table.
    numbers: fallbackTable(),
    policy: normalized,
  });
  return createHash('sha256').update(input).digest('hex');
}

/**
 * A cached file counts only if its size is a plausible program, so a damaged
 * one (say, truncated) is rebuilt instead of handed to the kernel. The stat is
 * needed anyway; the check is free.
 */
function isProgram(file: string): boolean {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  return st !== undefined && st.isFile() && st.size > 0 &&
    st.size % INSTRUCTION_SIZE === 0 && st.size <= MAX_INSTRUCTIONS * INSTRUCTION_SIZE;
}

function buildProgram(policy: Normalized, fd: number): void {
  using ctx = SeccompContext.create(policy.defaultAction);
  let highest = -1;
  for (const [i, rule] of policy.rules.entries()) {
    const cmps: ScmpArgCmp[] = rule.args.map((c) => ({
      arg: c.arg,
      op: c.op,
      datumA: BigInt(c.a),
      datumB: BigInt(c.b),
    }));
    for (const name of rule.names) {
      // Negative: this architecture has no such syscall (or neither this libseccomp
      // nor syscalls.ts knows it), so nothing can call it and there is nothing to allow.
      const nr = syscallNumber(name);
      if (nr < 0) continue;
      // Every name counts as known to the policy, even one whose rule is skipped below.
      highest = Math.max(highest, nr);
      // A rule that repeats the default action changes nothing, and libseccomp
      // refuses it (EACCES); skip it as youki does, so a policy may spell denials out.
      if (rule.action === policy.defaultAction) continue;
      ctx.addRule(rule.action, `'${name}' (rule ${i})`, nr, cmps);
    }
  }
  if (policy.newerAction !== null && policy.newerAction !== policy.defaultAction) {
    writeAll(fd, newerPrefix(highest + 1, policy.newerAction));
  }
  // Appends: seccomp_export_bpf write()s at the file offset, which is past the prefix.
  ctx.exportBpf(fd);
}

/** struct sock_filter codes (linux/bpf_common.h) and struct seccomp_data offsets. */
const BPF_LD_W_ABS = 0x20;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGE_K = 0x35;
const BPF_RET_K = 0x06;
const DATA_NR = 0;
const DATA_ARCH = 4;

/**
 * Instructions that answer `action` for native syscall numbers in [first, NEWER_LIMIT) and fall
 * through to libseccomp's program for everything else. libseccomp compares numbers only for
 * equality, so the same range as rules would be one rule per number, nearly tripling the default
 * policy's program (~410 → ~1100 instructions); this is 6. BPF jumps are relative and forward,
 * so libseccomp's program runs unchanged after it, starting with its own arch check. The
 * kernel's per-syscall allow cache still covers every allowed syscall: it evaluates jge as
 * readily as jeq.
 */
function newerPrefix(first: number, action: number): Buffer {
  if (first >= NEWER_LIMIT) return Buffer.alloc(0);
  // The number first: most calls leave after two instructions, which counts because the kernel
  // runs the program for every syscall number of every ABI when it loads it (the allow cache).
  const insns: [code: number, jt: number, jf: number, k: number][] = [
    [BPF_LD_W_ABS, 0, 0, DATA_NR],
    [BPF_JMP_JGE_K, 0, 4, first], // a syscall the policy knows: its rules decide
    [BPF_JMP_JGE_K, 3, 0, NEWER_LIMIT], // -1, x32 and the like: libseccomp decides
    [BPF_LD_W_ABS, 0, 0, DATA_ARCH],
    [BPF_JMP_JEQ_K, 0, 1, nativeArch()], // another ABI: libseccomp's bad-arch action
    [BPF_RET_K, 0, 0, action],
  ];
  const buf = Buffer.alloc(insns.length * INSTRUCTION_SIZE);
  const le = os.endianness() === 'LE';
  for (const [i, [code, jt, jf, k]] of insns.entries()) {
    const at = i * INSTRUCTION_SIZE;
    if (le) buf.writeUInt16LE(code, at);
    else buf.writeUInt16BE(code, at);
    buf.writeUInt8(jt, at + 2);
    buf.writeUInt8(jf, at + 3);
    if (le) buf.writeUInt32LE(k >>> 0, at + 4);
    else buf.writeUInt32BE(k >>> 0, at + 4);
  }
  return buf;
}

function writeAll(fd: number, buf: Buffer): void {
  for (let done = 0; done < buf.length;) {
    done += fsStep(`write seccomp prefix (fd ${fd})`, () => fs.writeSync(fd, buf, done));
  }
}

/** Writes through a temp file in the same directory, so `file` is either absent or whole. */
function writeAtomically(file: string, write: (fd: number) => void): void {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  let fd = fsStep(`create '${tmp}'`, () => fs.openSync(tmp, 'wx', 0o600));
  let renamed = false;
  try {
    write(fd);
    checkSize(fsStep(`stat '${tmp}'`, () => fs.fstatSync(fd).size));
    // fsync before rename, or a power loss can leave the final name on an empty file.
    fsStep(`fsync '${tmp}'`, () => fs.fsyncSync(fd));
    fsStep(`close '${tmp}'`, () => fs.closeSync(fd));
    fd = -1;
    fsStep(`rename '${tmp}' to '${file}'`, () => fs.renameSync(tmp, file));
    renamed = true;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
    if (!renamed) fs.rmSync(tmp, { force: true });
  }
}

/** Runs one file system step, naming it in the error. */
function fsStep<T>(what: string, step: () => T): T {
  try {
    return step();
  } catch (cause) {
    const detail = errnoOf(cause) ?? (cause instanceof Error ? cause.message : String(cause));
    throw new WarrenError('WARREN_SECCOMP_CACHE', `${what}: ${detail}`, { cause });
  }
}

function checkSize(bytes: number): void {
  const instructions = bytes / INSTRUCTION_SIZE;
  if (bytes === 0 || !Number.isInteger(instructions)) {
    throw new WarrenError('WARREN_SECCOMP_COMPILE', `seccomp_export_bpf wrote ${bytes} bytes`);
  }
  if (instructions > MAX_INSTRUCTIONS) {
    throw new WarrenError(
      'WARREN_SECCOMP_COMPILE',
      `program of ${instructions} instructions exceeds the kernel limit of ${MAX_INSTRUCTIONS}`,
    );
  }
}

// ---- normalize: validation and encoding, pure -----------------------------

function policyError(message: string): WarrenError {
  return new WarrenError('WARREN_SECCOMP_POLICY', message);
}

/**
 * Checks what the types promise (policies may come from JSON) and encodes the
 * policy for libseccomp. Bounds that depend on the architecture, such as the
 * argument index, are left to libseccomp.
 */
function normalize(policy: SeccompPolicy): Normalized {
  return {
    defaultAction: encodeAction(policy.defaultAction, 'default action'),
    newerAction: policy.newerAction === undefined
      ? null
      : encodeAction(policy.newerAction, 'newer action'),
    rules: policy.rules.map((rule, i) => {
      const where = `rule ${i}`;
      if (!Array.isArray(rule.names) || rule.names.some((n) => typeof n !== 'string' || !n)) {
        throw policyError(`${where}: names must be non-empty strings`);
      }
      return {
        names: [...rule.names],
        action: encodeAction(rule.action, where),
        args: (rule.args ?? []).map((cmp, j) => encodeCmp(cmp, `${where} arg comparison ${j}`)),
      };
    }),
  };
}

function encodeAction(action: SeccompAction, where: string): number {
  switch (action?.kind) {
    case 'allow':
      return SCMP_ACT_ALLOW;
    case 'kill-process':
      return SCMP_ACT_KILL_PROCESS;
    case 'log':
      return SCMP_ACT_LOG;
    case 'errno': {
      const { errno } = action;
      if (!Number.isInteger(errno) || errno < 0 || errno > MAX_ERRNO) {
        throw policyError(`${where}: errno ${errno} is not an integer in 0..${MAX_ERRNO}`);
      }
      return SCMP_ACT_ERRNO(errno);
    }
    default:
      throw policyError(`${where}: unknown action ${JSON.stringify(action)}`);
  }
}

function encodeCmp(cmp: ArgCmp, where: string): NormalizedCmp {
  if (!Object.hasOwn(SCMP_CMP, cmp.op)) {
    throw policyError(`${where}: unknown op '${String(cmp.op)}'`);
  }
  if (!Number.isInteger(cmp.arg) || cmp.arg < 0) {
    throw policyError(`${where}: argument index ${cmp.arg} is not a non-negative integer`);
  }
  const value = toUint64(cmp.value, `${where} value`);
  if (cmp.op === 'masked-eq') {
    if (cmp.mask === undefined) throw policyError(`${where}: masked-eq needs a mask`);
    // libseccomp takes the mask first: datum_a & arg == datum_b.
    return { arg: cmp.arg, op: SCMP_CMP[cmp.op], a: toUint64(cmp.mask, `${where} mask`), b: value };
  }
  if (cmp.mask !== undefined) throw policyError(`${where}: only masked-eq takes a mask`);
  return { arg: cmp.arg, op: SCMP_CMP[cmp.op], a: value, b: '0' };
}

/** As a decimal string, so 8 and 8n hash alike and JSON can carry all 64 bits. */
function toUint64(v: bigint | number, where: string): string {
  let n: bigint;
  try {
    n = BigInt(v);
  } catch {
    throw policyError(`${where}: ${String(v)} is not an integer`);
  }
  if (n < 0n || n > UINT64_MAX) throw policyError(`${where}: ${n} is outside 0..2^64-1`);
  return n.toString();
}
