/**
 * Syscall names → numbers, for names the local libseccomp may not know yet.
 *
 * libseccomp resolves names from a table compiled into it, so a library older than the kernel
 * cannot resolve the kernel's newest syscalls (2.5.4 stops at futex_waitv or, with Debian's
 * backports, at futex_requeue). A policy that names them would then silently leave them out,
 * and a libc that calls them (glibc >= 2.39: fchmodat2, mseal) would meet the default EPERM.
 * libseccomp takes a rule on any native number, known to it or not (it only translates numbers
 * for non-native architectures, which this filter does not add), so a number from here is as
 * good as a resolved one.
 */
import { resolveSyscall } from './libseccomp.js';

/**
 * x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl) of syscalls newer than the oldest
 * libseccomp warren supports. Consulted only when libseccomp cannot resolve a name, so a newer
 * library always wins; the unit test checks that the two agree wherever both know a name.
 * Add a syscall here before naming it in the policy.
 */
export const NEWER_SYSCALLS_X86_64: Readonly<Record<string, number>> = {
  uretprobe: 335, // 6.11; numbered in the x86_64-only range below 424
  cachestat: 451, // 6.5
  fchmodat2: 452, // 6.6
  map_shadow_stack: 453, // 6.6
  futex_wake: 454, // 6.7
  futex_wait: 455, // 6.7
  futex_requeue: 456, // 6.7
  statmount: 457, // 6.8
  listmount: 458, // 6.8
  lsm_get_self_attr: 459, // 6.8
  lsm_set_self_attr: 460, // 6.8
  lsm_list_modules: 461, // 6.8
  mseal: 462, // 6.10
  setxattrat: 463, // 6.13
  getxattrat: 464, // 6.13
  listxattrat: 465, // 6.13
  removexattrat: 466, // 6.13
};

/** The fallback table for the architecture this process runs on; empty where there is none. */
export function fallbackTable(): Readonly<Record<string, number>> {
  return process.arch === 'x64' ? NEWER_SYSCALLS_X86_64 : {};
}

/**
 * The native number of `name`: libseccomp's answer, else the fallback table's. Negative when
 * neither knows the name on this architecture (see resolveSyscall).
 */
export function syscallNumber(name: string): number {
  const nr = resolveSyscall(name);
  if (nr >= 0) return nr;
  const table = fallbackTable();
  return Object.hasOwn(table, name) ? (table[name] as number) : nr;
}
