/**
 * The few libc calls Node lacks, bound once with koffi on first use (loading koffi costs 13-26 ms,
 * so nothing that does not need one of these pays it): mknod and xattrs for overlay's marks, flock
 * for a kept sandbox's lock, mount/umount2 for io dirs, pipe2 for a sandbox's stdio, sendmsg for
 * a handed-over connection's descriptor (runner/send-fd.ts), pidfd_open and pidfd_send_signal for
 * a kill that cannot reach a reused pid (lib/pidfd.ts). koffi.errno()
 * is errno right after the last call.
 */
import { createRequire } from 'node:module';
import type koffiApi from 'koffi';
import { WarrenError } from './errors.js';

export interface Libc {
  mknod(path: string, mode: number, dev: number): number;
  lgetxattr(path: string, name: string, value: Buffer, size: number): number;
  getxattr(path: string, name: string, value: Buffer, size: number): number;
  lsetxattr(path: string, name: string, value: Buffer, size: number, flags: number): number;
  flock(fd: number, op: number): number;
  mount(src: string, target: string, fstype: string, flags: number, data: string): number;
  umount2(target: string, flags: number): number;
  pipe2(fds: number[], flags: number): number;
  /** sendmsg(2); `msg` is a struct msghdr as an object (runner/send-fd.ts) */
  sendmsg(fd: number, msg: object, flags: number): number | bigint;
  /** pidfd_open(2): a descriptor of the process `pid` is now, or -1 (errno ESRCH: none) */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2): 0, or -1 (errno ESRCH: that process ended) */
  pidfdSendSignal(pidfd: number, signal: number): number;
  errno(): number;
}

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const EWOULDBLOCK = 11;
export const ESRCH = 3;
/** The same numbers on every architecture: both came after the syscall tables were unified. */
const SYS_PIDFD_SEND_SIGNAL = 424;
const SYS_PIDFD_OPEN = 434;

let bound: Libc | undefined;

/** struct msghdr; anonymous types: koffi registers named types process-wide (libseccomp.ts) */
function msghdr(koffi: typeof koffiApi): ReturnType<typeof koffiApi.struct> {
  const iovec = koffi.struct({ iov_base: 'void *', iov_len: 'size_t' });
  return koffi.struct({
    msg_name: 'void *', msg_namelen: 'uint32', msg_iov: koffi.pointer(iovec), msg_iovlen: 'size_t',
    msg_control: 'void *', msg_controllen: 'size_t', msg_flags: 'int',
  });
}

export function libc(): Libc {
  if (bound) return bound;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof koffiApi;
    const lib = koffi.load('libc.so.6');
    // glibc has wrappers for the pidfd calls only since 2.36: the raw syscall works on any
    const syscall = lib.func('long syscall(long number, ...)') as (...args: unknown[]) => number;
    bound = {
      mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)') as Libc['mknod'],
      lgetxattr: lib.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)') as Libc['lgetxattr'],
      getxattr: lib.func('intptr_t getxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)') as Libc['getxattr'],
      lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)') as Libc['lsetxattr'],
      flock: lib.func('int flock(int fd, int op)') as Libc['flock'],
      mount: lib.func('int mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data)') as Libc['mount'],
      umount2: lib.func('int umount2(const char *target, int flags)') as Libc['umount2'],
      pipe2: lib.func('int pipe2(_Out_ int *fds, int flags)') as Libc['pipe2'],
      sendmsg: lib.func('sendmsg', 'intptr_t', ['int', koffi.pointer(msghdr(koffi)), 'int']) as Libc['sendmsg'],
      pidfdOpen: (pid) => Number(syscall(SYS_PIDFD_OPEN, 'int', pid, 'uint', 0)),
      pidfdSendSignal: (pidfd, signal) => Number(syscall(SYS_PIDFD_SEND_SIGNAL, 'int', pidfd, 'int', signal, 'void *', null, 'uint', 0)),
      errno: () => koffi.errno(),
    };
    return bound;
  } catch (cause) {
    throw new WarrenError('WARREN_LIBC_LOAD', `bind libc.so.6 through koffi: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
