/**
 * seccomp: the sandbox's syscall policy as plain data, and its compilation to a
 * BPF program file (by libseccomp, cached by content). Loading the program into
 * the kernel is the spawner's job, not this module's.
 */
export type { ArgCmp, SeccompAction, SeccompPolicy, SeccompRule } from './policy.js';
export { DENIED_SYSCALLS, defaultPolicy } from './policy.js';
export { compileSeccomp } from './compile.js';
