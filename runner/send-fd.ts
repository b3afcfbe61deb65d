/**
 * sendmsg(2) with one descriptor (SCM_RIGHTS) and one byte, through koffi (as libseccomp is bound:
 * sandbox/seccomp/libseccomp.ts): node sends descriptors only to a child it started itself, over
 * the channel it made for it. Loaded on first use, so a serve without --handoff never loads koffi.
 */
import { createRequire } from 'node:module';
import type koffiApi from 'koffi';
import { WarrenError } from '../lib/errors.js';

const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
/** CMSG_LEN(sizeof(int)) and CMSG_SPACE(sizeof(int)) on 64-bit Linux. */
const CMSG_LEN = 20;
const CMSG_SPACE = 24;

type SendMsg = (fd: number, msg: object, flags: number) => number | bigint;
let sendmsg: SendMsg | undefined;

function bind(): SendMsg {
  let koffi: typeof koffiApi;
  try {
    koffi = createRequire(import.meta.url)('koffi') as typeof koffiApi;
    const libc = koffi.load('libc.so.6');
    // anonymous types: koffi registers named types process-wide (libseccomp.ts says the same)
    const iovec = koffi.struct({ iov_base: 'void *', iov_len: 'size_t' });
    const msghdr = koffi.struct({
      msg_name: 'void *', msg_namelen: 'uint32', msg_iov: koffi.pointer(iovec), msg_iovlen: 'size_t',
      msg_control: 'void *', msg_controllen: 'size_t', msg_flags: 'int',
    });
    return libc.func('sendmsg', 'intptr_t', ['int', koffi.pointer(msghdr), 'int']) as SendMsg;
  } catch (cause) {
    throw new WarrenError('WARREN_HOST_HANDOFF', `bind sendmsg from libc: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * Sends `byte` with a copy of `fd` over the unix socket `via`, without blocking. False when the
 * socket could not take it now (full, or closed): the descriptor then stayed only the caller's.
 */
export function sendFd(via: number, fd: number, byte: number): boolean {
  sendmsg ??= bind();
  const control = Buffer.alloc(CMSG_SPACE);
  control.writeBigUInt64LE(BigInt(CMSG_LEN), 0);
  control.writeInt32LE(SOL_SOCKET, 8);
  control.writeInt32LE(SCM_RIGHTS, 12);
  control.writeInt32LE(fd, 16);
  const data = Buffer.of(byte);
  const n = sendmsg(via, {
    msg_name: null, msg_namelen: 0, msg_iov: [{ iov_base: data, iov_len: 1 }], msg_iovlen: 1,
    msg_control: control, msg_controllen: CMSG_SPACE, msg_flags: 0,
  }, MSG_DONTWAIT | MSG_NOSIGNAL);
  return Number(n) === 1;
}
