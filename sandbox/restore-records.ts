/**
 * Live restore's host-side records (HostOptions.liveRestore): one per sandbox, `<run>/restore/<id>`,
 * JSON, saying what the host holds for it (uid lease, cgroup, netns and address, nftables elements,
 * run and io dirs, layer record, stdio, the owner's record) and which spawner runs it. The process
 * that adopts the sandbox after its owner died rebuilds it from this; and while a spawner waits
 * for that process (its owner dead, so the leases' pids are dead too), the sweep keeps everything
 * a record names as long as the record's spawner lives (heldNames: the spawner itself, not a
 * zombie of it nor a process that reused its pid).
 *
 * Written before the spawn request (a record whose sandbox the spawner does not hold is released
 * by the adopter), rewritten when the owner's record or the egress changes, removed at release
 * once everything else is. Records go with a reboot, as the sandboxes do (lib/run-dir.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { WarrenError, errnoOf } from '../lib/errors.js';
import { unlinkQuiet } from '../lib/leases.js';
import { ATTACH_SOCKET, RESTORE_RECORDS, UID_LEASES } from './defaults.js';
import { processRuns, spawnerLives } from './spawner-identity.js';
import type { Egress, Publish } from './network/index.js';
import type { StdioSpec } from './stdio.js';

export interface RestoreRecord {
  id: string;
  /** The pid of the spawner that runs it. */
  spawner: number;
  /** Its uid lease's number, and the host uid its root maps to. */
  lease: number;
  uidBase: number;
  cgroup: string;
  /** Its cgroup's Cgroup.oomBase (absent in an older record: 0). */
  oomBase?: number;
  memoryBytes: number;
  netns: { id: string; kind: 'loopback' | 'bridge'; ip?: string };
  /** On the bridge: its egress and published ports, as now. */
  net?: { egress: Egress; publish?: readonly Publish[] };
  tenant?: string;
  rundir: string;
  ioDir?: string;
  layerRecord: string;
  stdio: readonly [StdioSpec, StdioSpec, StdioSpec];
  record?: Readonly<Record<string, unknown>>;
}

const TMP = '.tmp';

export function restoreDir(run: string): string {
  return path.join(run, RESTORE_RECORDS);
}

/** Writes (or rewrites) a sandbox's record: temp file, then rename, so a reader sees all or nothing. */
export function writeRestoreRecord(run: string, rec: RestoreRecord): void {
  const file = path.join(restoreDir(run), rec.id);
  const tmp = `${file}${TMP}`;
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(rec)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new WarrenError('WARREN_RESTORE_RECORD_WRITE', `write restore record '${file}'`, { cause: err });
  }
}

export function removeRestoreRecord(run: string, id: string): void {
  unlinkQuiet(path.join(restoreDir(run), id));
}

/** Every record that parses; half-written and unreadable ones are removed (their sandbox, if
 * any, is then swept as any other without an owner). */
export function readRestoreRecords(run: string): RestoreRecord[] {
  const dir = restoreDir(run);
  const out: RestoreRecord[] = [];
  for (const name of safeReaddir(dir)) {
    const file = path.join(dir, name);
    try {
      if (name.endsWith(TMP)) throw new Error('half written');
      const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as RestoreRecord;
      if (rec.id !== name || !Number.isInteger(rec.spawner) || !Number.isInteger(rec.lease)) throw new Error('not a record');
      out.push(rec);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') fs.rmSync(file, { force: true });
    }
  }
  return out;
}

/** Whether the spawner a record names still runs it: `pid` is that run dir's spawner, running
 * (not a zombie, not a process that reused the number: spawner-identity.ts). */
export function recordSpawnerLives(run: string): (pid: number) => boolean {
  const socket = path.join(run, ATTACH_SOCKET);
  return (pid) => spawnerLives(socket, pid);
}

/**
 * The sandbox ids and netns ids that records of live spawners name: a spawner waiting for the
 * next runner still holds them, though the pids in their leases are dead. Records of dead
 * spawners are removed here (their sandboxes died with them).
 */
export function heldNames(run: string, isSpawner: (pid: number) => boolean = recordSpawnerLives(run)): Set<string> {
  const held = new Set<string>();
  for (const rec of readRestoreRecords(run)) {
    if (!isSpawner(rec.spawner)) {
      removeRestoreRecord(run, rec.id);
      continue;
    }
    held.add(rec.id);
    held.add(rec.netns.id);
  }
  return held;
}

/**
 * The live spawners that hold sandboxes whose owner is dead: each waits for the next runner, or
 * is about to (its runner's death has not reached it yet), or outlived its grace window and has
 * not gone yet. A record's owner is the pid in its uid lease: the process that created or last
 * adopted it (a zombie of it is dead: its supervisor may not have reaped it yet).
 */
export function ownerlessSpawners(run: string, isSpawner: (pid: number) => boolean = recordSpawnerLives(run), isAlive: (pid: number) => boolean = processRuns): number[] {
  const pids = new Set<number>();
  for (const rec of readRestoreRecords(run)) {
    if (pids.has(rec.spawner) || !isSpawner(rec.spawner)) continue;
    let owner = 0;
    try {
      owner = Number(fs.readFileSync(path.join(run, UID_LEASES, String(rec.lease)), 'utf8').split(' ')[0]);
    } catch {
      // no lease: nobody owns it
    }
    if (!isAlive(owner)) pids.add(rec.spawner);
  }
  return [...pids];
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** What a live sandbox keeps of its record (SandboxParts.restore): rewritten when its owner's
 * record or its egress changes, removed once it is released. */
export interface RestoreHooks {
  update(change: Partial<Pick<RestoreRecord, 'record' | 'net'>>): void;
  remove(): void;
}

/** Writes `rec` now, and returns its hooks. */
export function recordSandbox(run: string, rec: RestoreRecord): RestoreHooks {
  let current = rec;
  writeRestoreRecord(run, current);
  return {
    update: (change) => {
      current = { ...current, ...change };
      writeRestoreRecord(run, current);
    },
    remove: () => removeRestoreRecord(run, current.id),
  };
}
