/**
 * A create's options, checked before anything is taken: whatever a caller hands in (a user's env
 * value with a NUL byte, a path with the overlay's separators, a count past what the spawner
 * parses) is refused here with WARREN_SANDBOX_BAD_OPTION naming the option, never later as a
 * TypeError from the frame encoder or a request the spawner cannot answer.
 */
import { WarrenError } from '../lib/errors.js';
import type { SandboxOptions } from './host-options.js';

/** What the spawner's spec parser takes at most (sandbox/native/spec.h): argv, env, layers. */
export const SPEC_LIST_MAX = 4096;
export const SPEC_BINDS_MAX = 32;
/** The kernel's UTS name length, less its NUL. */
const HOSTNAME_MAX = 64;
const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/;
const ENV_KEY = /^[^=\0]+$/;

function bad(option: string, why: string): WarrenError {
  return new WarrenError('WARREN_SANDBOX_BAD_OPTION', `sandbox option ${option}: ${why}`);
}

function text(option: string, v: unknown): string {
  if (typeof v !== 'string') throw bad(option, `expected a string, got ${typeof v}`);
  if (v.includes('\0')) throw bad(option, `contains a NUL byte: ${JSON.stringify(v.slice(0, 40))}`);
  return v;
}

/** An absolute path; `forbidden` are characters its consumer splits on (overlay: ',' and ':'). */
function absPath(option: string, v: unknown, forbidden = ''): string {
  const p = text(option, v);
  if (!p.startsWith('/')) throw bad(option, `'${p}' is not an absolute path`);
  for (const c of forbidden) if (p.includes(c)) throw bad(option, `'${p}' contains '${c}'`);
  return p;
}

/**
 * A bind's two ends, beyond absolute (CVE-2022-23648 let odd ones reach the host's root): no '.'
 * or '..' step (`/tmp/..` is the host's root under another name, and a target that climbs out
 * is `/`); no target `/`, which would cover the sandbox's root; no source under /proc, whose magic
 * links (`/proc/self/root`) resolve in the spawner, so `-v /proc/self/root:/x` would be the host's
 * root, not anything the caller named.
 */
function bindPaths(src: unknown, dst: unknown): void {
  for (const [option, v] of [['binds src', src], ['binds dst', dst]] as const) {
    const p = absPath(option, v, ':');
    if (p.split('/').some((step) => step === '.' || step === '..')) throw bad(option, `'${p}' has a '.' or '..' step`);
  }
  if ((dst as string).replace(/\/+$/, '') === '') throw bad('binds dst', `'${dst as string}' would cover the sandbox's root`);
  if (/^\/+proc(\/|$)/.test(src as string)) throw bad('binds src', `'${src as string}' is under /proc, whose links resolve in warren's spawner, not in the caller`);
}

function count(option: string, list: readonly unknown[] | undefined, max: number): void {
  if (list && list.length > max) throw bad(option, `${list.length} entries, at most ${max}`);
}

function positive(option: string, v: number | undefined, integer: boolean): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isSafeInteger(v))) {
    throw bad(option, `expected a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`);
  }
}

export function validateOptions(o: SandboxOptions): void {
  if (!Array.isArray(o.argv) || o.argv.length === 0) throw bad('argv', 'a command is needed');
  count('argv', o.argv, SPEC_LIST_MAX);
  o.argv.forEach((a, i) => text(`argv[${i}]`, a));
  if (!Array.isArray(o.layers) || o.layers.length === 0) throw bad('layers', 'at least one layer is needed');
  count('layers', o.layers, SPEC_LIST_MAX);
  o.layers.forEach((l, i) => absPath(`layers[${i}]`, l, ',:'));
  const env = Object.entries(o.env ?? {});
  count('env', env, SPEC_LIST_MAX - 3); // PATH, HOME and HOSTNAME come first
  for (const [k, v] of env) {
    if (!ENV_KEY.test(k)) throw bad('env', `invalid name ${JSON.stringify(k.slice(0, 40))}`);
    text(`env ${k}`, v);
  }
  if (o.cwd !== undefined) absPath('cwd', o.cwd);
  if (o.hostname !== undefined) {
    const h = text('hostname', o.hostname);
    if (h.length > HOSTNAME_MAX || !HOSTNAME.test(h)) throw bad('hostname', `'${h.slice(0, 80)}' is not a valid hostname`);
  }
  positive('limits.memoryBytes', o.limits?.memoryBytes, true);
  positive('limits.cpus', o.limits?.cpus, false);
  positive('limits.pids', o.limits?.pids, true);
  positive('tmpfs.sizeBytes', o.tmpfs?.sizeBytes, true);
  positive('tmpfs.inodes', o.tmpfs?.inodes, true);
  count('binds', o.binds, SPEC_BINDS_MAX - (o.io ? 1 : 0));
  for (const b of o.binds ?? []) {
    bindPaths(b.src, b.dst);
    if (b.idmap !== undefined && typeof b.idmap !== 'boolean') throw bad('binds idmap', `expected a boolean, got ${typeof b.idmap}`);
  }
  if (o.keep !== undefined) absPath('keep', o.keep, ',:');
  if (o.io) absPath('io.dst', o.io.dst, ':');
  if (o.record !== undefined) checkRecord(o.record);
}

/** What a restore record holds of it (live restore): a plain JSON object, small. */
const RECORD_MAX = 64 * 1024;

export function checkRecord(record: unknown): void {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) throw bad('record', 'expected a plain object');
  let json: string;
  try {
    json = JSON.stringify(record);
  } catch (err) {
    throw bad('record', `not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (json.length > RECORD_MAX) throw bad('record', `${json.length} bytes of JSON, over ${RECORD_MAX}`);
}
