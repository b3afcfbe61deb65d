/**
 * sendmsg(2) with one descriptor (SCM_RIGHTS) and one byte, through lib/libc.ts: node sends
 * descriptors only to a child it started itself, over the channel it made for it.
 */
import { libc } from '../lib/libc.js';

const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
/** CMSG_LEN(sizeof(int)) and CMSG_SPACE(sizeof(int)) on 64-bit Linux. */
const CMSG_LEN = 20;
const CMSG_SPACE = 24;

/**
 * Sends `byte` with a copy of `fd` over the unix socket `via`, without blocking. False when the
 * socket could not take it now (full, or closed): the descriptor then stayed only the caller's.
 */
export function sendFd(via: number, fd: number, byte: number): boolean {
  const control = Buffer.alloc(CMSG_SPACE);
  control.writeBigUInt64LE(BigInt(CMSG_LEN), 0);
  control.writeInt32LE(SOL_SOCKET, 8);
  control.writeInt32LE(SCM_RIGHTS, 12);
  control.writeInt32LE(fd, 16);
  const data = Buffer.of(byte);
  const n = libc().sendmsg(via, {
    msg_name: null, msg_namelen: 0, msg_iov: [{ iov_base: data, iov_len: 1 }], msg_iovlen: 1,
    msg_control: control, msg_controllen: CMSG_SPACE, msg_flags: 0,
  }, MSG_DONTWAIT | MSG_NOSIGNAL);
  return Number(n) === 1;
}
