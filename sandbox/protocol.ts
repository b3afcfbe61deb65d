/**
 * warren-spawner protocol, version 1 (the same text heads sandbox/native/protocol.h).
 *
 * The runner starts one warren-spawner and talks to it over a unix stream socket on its fd 3.
 * A frame is a 4-byte little-endian payload length, then the payload: NUL-terminated strings, the
 * first the message type, the rest `key=value` (keys may repeat: arg, env, layer, ...).
 *
 *   runner (TS)                  warren:[spawner]                       child -> warren:[init] (PID 1)
 *     | prep id=7 cgroup=... ---->  | clone(NEWPID|NEWNS|NEWUTS|NEWIPC)      |
 *     |                             |--------------------------------------->| 1. joins its cgroups, waits
 *     | spawn id=7 prepped arg=. -> |  (a spawn without prepped clones now)  |
 *     |                             | sync: request, userns (+ netns) fds -->| 2. netns, cgroupns, mounts,
 *     |                             |                                        |    overlay, pivot_root, lo,
 *     |                             |                                        |    userns, rlimits, caps, seccomp
 *     |                             |                                        | 3. fork + exec the command
 *     |                             |<-------- sync: READY or ERROR ---------|
 *     | <----- spawned id=7 pid= -- |                                        | 4. reap, forward signals,
 *     | <----- error id=7 stage= -- |                                        |    exit with the command's
 *     | kill id=7 signal=15 ------> | kill(init)                             |    status (128+sig if killed)
 *     | <----- exit id=7 code= ---- | SIGCHLD, waitpid                       |
 *
 * | direction | type    | fields                                                                  |
 * |-----------|---------|-------------------------------------------------------------------------|
 * | to        | spawn   | id, arg+, env*, cwd, hostname, rundir, tmpfs_size, tmpfs_inodes, layer+  |
 * |           |         | (top first), uid_base, uid_count, cgroup*, seccomp, rlimit* (n:soft:hard)|
 * |           |         | stdin/stdout/stderr (null, or pipe:N: the runner's fd N, a pipe end that |
 * |           |         | the child opens through /proc/<runner>/fd/N), bind* (src:dst:ro|rw, and  |
 * |           |         | :idmap for a volume: owners as stored, whatever the uid range), mask*,   |
 * |           |         | readonly*, file* + content, netns (pooled), keep, prepped (the           |
 * |           |         | id was made ahead by prep: its parked child takes the request)           |
 * | to        | prep    | id, cgroup*: clone a sandbox ahead; it joins its cgroups and parks       |
 * | to        | kill    | id, signal                                                               |
 * | to        | netns_add | id, [veth, bridge, addr, gateway, [peers]]: a pooled netns, made ahead |
 * | to        | netns_del | id                                                                     |
 * | from      | netns_ready | id                                                                   |
 * | from      | netns_gone | id: a netns reported reused whose reset failed, dropped by the spawner |
 * | from      | hello   | version, pid (once, at start)                                            |
 * | from      | spawned | id, pid (host pid of init), us (request to command exec'd)               |
 * | from      | error   | id, stage, errno, msg (an exit follows, pid 0 when no child ran; none    |
 * |           |         | after stage=request, a refused request: any frame the spawner refuses,    |
 * |           |         | an unknown type or over 8192 fields, is answered so, under its id)        |
 * | from      | exit    | id, pid, code (-1 when killed), signal, netns (reused | discarded)        |
 * | to        | close   | a clean stop: the spawner kills every sandbox and exits                  |
 * | to        | spawn's hold_stdout/hold_stderr=N: live restore, the runner's read end, held   |
 * | from      | hello   | ..., held=N to a runner that attached (live restore), then N `held`     |
 * | from      | held    | id, pid, netns, stdout, stderr (its fds of the held ends, opened through |
 * |           |         | /proc/<spawner>/fd/K); an exit right after when it ended meanwhile       |
 *
 * Live restore (SpawnerOptions.attach): the spawner outlives its runner. On EOF without `close`
 * it ends the sandboxes not running yet, drops its free netns and listens on the attach socket
 * (0600, root only) for the grace window; the next runner connects (Spawner.attach) and is told
 * what it holds. Nobody in time: it kills every sandbox and exits.
 */
import { WarrenError } from '../lib/errors.js';

export const PROTOCOL_VERSION = 1;
/** Payload bytes and fields of one frame at most (WARREN_FRAME_MAX, FRAME_FIELDS_MAX in C). */
export const FRAME_MAX = 1 << 20;
export const FRAME_FIELDS_MAX = 8192;

export type Fields = ReadonlyArray<readonly [string, string | number]>;

export interface Message {
  readonly type: string;
  readonly fields: ReadonlyMap<string, readonly string[]>;
}

export function encodeFrame(type: string, fields: Fields): Buffer {
  if (fields.length > FRAME_FIELDS_MAX) {
    throw new WarrenError('WARREN_PROTOCOL_TOO_MANY_FIELDS', `${type} request of ${fields.length} fields is over ${FRAME_FIELDS_MAX}`);
  }
  const parts = [type, ...fields.map(([k, v]) => `${k}=${v}`)];
  for (const p of parts) {
    if (p.includes('\0')) throw new WarrenError('WARREN_PROTOCOL_NUL', `${type} request field contains a NUL byte: ${JSON.stringify(p.slice(0, 40))}`);
  }
  const payload = Buffer.from(parts.join('\0') + '\0');
  if (payload.length > FRAME_MAX) throw new WarrenError('WARREN_PROTOCOL_FRAME_SIZE', `${type} request of ${payload.length} bytes is over ${FRAME_MAX}`);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(payload.length, 0);
  return Buffer.concat([head, payload]);
}

export function decodePayload(payload: Buffer): Message {
  const parts = payload.toString('utf8').split('\0');
  parts.pop(); // the payload ends with a NUL
  const [type = '', ...rest] = parts;
  const fields = new Map<string, string[]>();
  for (const part of rest) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const list = fields.get(key) ?? [];
    list.push(eq < 0 ? '' : part.slice(eq + 1));
    fields.set(key, list);
  }
  return { type, fields };
}

/** Splits a byte stream into messages. */
export class FrameDecoder {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Message[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const out: Message[] = [];
    while (this.#buf.length >= 4) {
      const size = this.#buf.readUInt32LE(0);
      if (size > FRAME_MAX) throw new WarrenError('WARREN_PROTOCOL_FRAME_SIZE', `frame of ${size} bytes is over ${FRAME_MAX}`);
      if (this.#buf.length < 4 + size) break;
      out.push(decodePayload(this.#buf.subarray(4, 4 + size)));
      this.#buf = this.#buf.subarray(4 + size);
    }
    return out;
  }
}

export function field(m: Message, key: string): string | undefined {
  return m.fields.get(key)?.[0];
}
