/**
 * The host uids warren's sandboxes run as. One sandbox's user namespace maps UID_RANGE host uids:
 * root inside is `base`, uid n is `base + n`. The sandbox layer leases one such range per sandbox
 * (`slots` of them from `base` up); commit maps a kept upper's owners back through it. A host that
 * already uses uids in that span (a user in /etc/passwd, a group, a /etc/subuid range handed to
 * rootless containers) would share file ownership with sandboxes: warren refuses to start there,
 * naming what overlaps, and the base can be moved (`--uid-base`, WARREN_UID_BASE).
 */
import { WarrenError } from './errors.js';

export const UID_RANGE = 65536;
export const UID_BASE_DEFAULT = 1_000_000_000;
export const UID_SLOTS_DEFAULT = 4096;
/** uid_t is 32 bits and (uid_t)-1 means "no change": the last uid a range may reach is below it. */
const UID_MAX = 0xffff_fffe;

export interface UidSpan {
  base: number;
  slots: number;
}

/** A base given by a user (flag or environment): a whole number leaving room for every slot. */
export function parseUidBase(text: string, slots = UID_SLOTS_DEFAULT, what = 'the uid base'): number {
  const base = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(base) || base < UID_RANGE) {
    throw new WarrenError('WARREN_ARG_INVALID', `${what} '${text}' must be a whole number of at least ${UID_RANGE} (the host's own uids lie below)`);
  }
  if (base + slots * UID_RANGE - 1 > UID_MAX) {
    throw new WarrenError('WARREN_ARG_INVALID', `${what} '${text}' leaves no room for ${slots} ranges of ${UID_RANGE} uids below 2^32-1 (at most ${UID_MAX + 1 - slots * UID_RANGE})`);
  }
  return base;
}

/** The base from WARREN_UID_BASE, or the default. */
export function uidBaseFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return env.WARREN_UID_BASE ? parseUidBase(env.WARREN_UID_BASE, UID_SLOTS_DEFAULT, 'variable WARREN_UID_BASE') : UID_BASE_DEFAULT;
}

/** The host's users and groups and their subordinate ranges, as the files hold them. */
export interface HostIds {
  passwd?: string;
  group?: string;
  subuid?: string;
  subgid?: string;
}

/** What of the host's ids falls in the span, one line each ("user 'x' (uid 1000000005) in /etc/passwd"). */
export function uidSpanConflicts(span: UidSpan, ids: HostIds): string[] {
  const lo = span.base;
  const hi = span.base + span.slots * UID_RANGE - 1;
  const out: string[] = [];
  const ids3 = (text: string | undefined, file: string, kind: string) => {
    for (const line of (text ?? '').split('\n')) {
      const [name, , id] = line.split(':');
      const n = Number(id);
      if (name && id !== undefined && /^\d+$/.test(id) && n >= lo && n <= hi) out.push(`${kind} '${name}' (${n}) in ${file}`);
    }
  };
  const ranges = (text: string | undefined, file: string) => {
    for (const line of (text ?? '').split('\n')) {
      const [name, start, count] = line.split(':');
      const s = Number(start);
      const c = Number(count);
      if (!name || !/^\d+$/.test(start ?? '') || !/^\d+$/.test(count ?? '') || c === 0) continue;
      if (s <= hi && s + c - 1 >= lo) out.push(`'${name}' ${s}-${s + c - 1} in ${file}`);
    }
  };
  ids3(ids.passwd, '/etc/passwd', 'user');
  ids3(ids.group, '/etc/group', 'group');
  ranges(ids.subuid, '/etc/subuid');
  ranges(ids.subgid, '/etc/subgid');
  return out;
}
