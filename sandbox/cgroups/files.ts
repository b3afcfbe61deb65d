/**
 * Reading and writing cgroupfs interface files. Calls are synchronous: cgroupfs lives in memory,
 * a read or write never waits on a disk, and sync calls keep the order of writes obvious.
 */
import * as fs from 'node:fs';
import { WarrenError, errnoOf } from '../../lib/errors.js';
import type { CgroupDirOps } from './types.js';

/** On cgroupfs plain mkdir and rmdir create and remove whole cgroups. */
export const kernelDirOps: CgroupDirOps = {
  mkdir: (path) => fs.mkdirSync(path),
  rmdir: (path) => fs.rmdirSync(path),
};

/**
 * Write one value to an existing interface file. No O_CREAT: a file the kernel did not provide
 * (controller not enabled, feature missing) must fail here rather than be silently created on a
 * fake tree. O_TRUNC is harmless on cgroupfs (it is what `echo x > file` does).
 */
export function writeControl(file: string, value: string): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
  try {
    fs.writeSync(fd, value);
  } finally {
    fs.closeSync(fd);
  }
}

export function readControl(file: string): string {
  return fs.readFileSync(file, 'utf8');
}

/** The file's text, or null when it does not exist (optional or newer interface files). */
export function readOptional(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw err;
  }
}

export function exists(file: string): boolean {
  return fs.existsSync(file);
}

/** Tokens of a space-separated list file (cgroup.controllers, cgroup.subtree_control). */
export function readList(file: string): Set<string> {
  const text = readOptional(file) ?? '';
  // A '+' prefix is what one writes to cgroup.subtree_control; the kernel reads back bare names.
  return new Set(text.split(/\s+/).filter(Boolean).map((w) => w.replace(/^\+/, '')));
}

/** Flat keyed files (`key value` per line: cpu.stat, memory.events, memory.oom_control). */
export function parseKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

/** A single-number file; 'max' and anything else non-numeric read as null. */
export function parseNumber(text: string | null): number | null {
  const v = text?.trim();
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
}

/** Pids listed in <dir>/cgroup.procs; none when the cgroup is gone. */
export function readPids(dir: string): number[] {
  const text = readOptional(`${dir}/cgroup.procs`) ?? '';
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^[1-9]\d*$/.test(l))
    .map(Number);
}

/** Names of the subdirectories (child cgroups) of dir; none when dir is gone. */
export function readSubdirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

/** mkdir a directory that others may create too (parents are shared), so EEXIST is fine. */
export function mkdirShared(ops: CgroupDirOps, dir: string): void {
  try {
    ops.mkdir(dir);
  } catch (err) {
    if (errnoOf(err) !== 'EEXIST') throw err;
  }
}

/** base, base/a, base/a/b for rel 'a/b'. */
export function pathChain(base: string, rel: string): string[] {
  const out = [base];
  for (const part of rel.split('/')) out.push(`${out[out.length - 1]}/${part}`);
  return out;
}

/** `EINVAL` for a system error, else the message. */
export function describe(err: unknown): string {
  return errnoOf(err) ?? (err instanceof Error ? err.message : String(err));
}

export interface StatsReader {
  /** A file the kernel always provides. */
  required(file: string): string;
  /** A file of a newer kernel or an optional feature: null when absent. */
  optional(file: string): string | null;
}

/** Run read with a reader that wraps any failure as WARREN_CGROUP_STATS naming the file. */
export function readStats<T>(name: string, read: (r: StatsReader) => T): T {
  let current = '';
  const reader: StatsReader = {
    required: (file) => ((current = file), readControl(file)),
    optional: (file) => ((current = file), readOptional(file)),
  };
  try {
    return read(reader);
  } catch (err) {
    throw new WarrenError('WARREN_CGROUP_STATS', `stats of cgroup '${name}': read '${current}': ${describe(err)}`, { cause: err });
  }
}
