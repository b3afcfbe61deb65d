/**
 * Which layer dirs the running sandboxes have mounted, so that `warren image gc` never removes a
 * lower dir from under one: after `warren image rm`, no manifest names the layers of a sandbox
 * still running that image. One record per sandbox, `<run>/layers/<id>`, a JSON array of the
 * overlay lower dirs it was given (real paths, as the image gc compares them), kept in this
 * order (host.ts, sandbox.ts):
 *
 *   uid lease taken -> record renamed into place -> overlay mounted ... all tasks dead
 *     -> record removed -> uid lease released
 *
 * So a record whose id holds a live uid lease belongs to a sandbox that may have its layers
 * mounted; one whose lease is gone was left by a crashed warren, whose sandboxes died with it
 * (the spawner kills them), and `warren gc` sweeps it. Records go with a reboot, as the sandboxes
 * do (the run dir is a tmpfs, or emptied by the first warren of a boot: lib/run-dir.ts), so they
 * need no fsync.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, WarrenError } from '../lib/errors.js';
import { LeaseSet, pidAlive, unlinkQuiet } from '../lib/leases.js';
import { realPath } from '../lib/real-path.js';
import { runDirOfThisBoot } from '../lib/run-dir.js';
import { UID_LEASES, UID_SLOTS_DEFAULT } from './defaults.js';
import { heldNames } from './restore-records.js';

export const LAYER_RECORDS = 'layers';
const TMP = '.tmp';

/** Writes `<run>/layers/<id>` (temp file, then rename: a reader sees all of it or nothing); returns its path. */
export function recordLayers(runDir: string, id: string, layers: readonly string[]): string {
  const dir = path.join(runDir, LAYER_RECORDS);
  // once per process: a create is the hot path (`warren gc` leaves the dir of a live process)
  if (!madeDirs.has(dir)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    madeDirs.add(dir);
  }
  const file = path.join(dir, id);
  const tmp = `${file}${TMP}`;
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(layers.map(cachedRealPath))}\n`, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new WarrenError('WARREN_LAYER_RECORD_WRITE', `write layer record '${file}'`, { cause: err });
  }
  return file;
}

/** Removes a record once nothing of its sandbox runs. Idempotent. */
export function forgetLayers(file: string): void {
  unlinkQuiet(file);
}

/** Record dirs made by this process, and the real paths of layer dirs: a layer dir is content
 * addressed and never moves while it exists, so its real path is looked up once, not one readlink
 * per path component per sandbox. */
const madeDirs = new Set<string>();
const realPaths = new Map<string, string>();
function cachedRealPath(dir: string): string {
  let real = realPaths.get(dir);
  if (real === undefined) realPaths.set(dir, (real = realPath(dir)));
  return real;
}

/**
 * Every layer dir (absolute) a live sandbox may have mounted. Records are listed before the
 * leases are read: a record exists only once its lease was taken, so a record seen here whose
 * lease is missing afterwards belongs to a sandbox that has ended. A live record that cannot be
 * read stops the caller, as an unreadable manifest does: it could not tell which layers are used.
 */
export function layersInUse(runDir: string, isAlive?: (pid: number) => boolean): Set<string> {
  runDirOfThisBoot(runDir, { create: false });
  const ids = recordIds(runDir).filter((id) => !id.endsWith(TMP));
  const inUse = new Set<string>();
  if (ids.length === 0) return inUse;
  // with those a waiting spawner runs (live restore): their leases' pids are dead (a given
  // isAlive judges spawners too; by default heldNames' own check does)
  const live = new Set([...liveIds(runDir, isAlive ?? pidAlive), ...heldNames(runDir, isAlive)]);
  for (const id of ids) {
    if (!live.has(id)) continue;
    const file = path.join(runDir, LAYER_RECORDS, id);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') continue; // its sandbox ended since the listing
      throw new WarrenError('WARREN_LAYER_RECORD_READ', `read layer record '${file}'`, { cause: err });
    }
    for (const layer of parseRecord(file, text)) inUse.add(layer);
  }
  return inUse;
}

/** `warren gc`: removes the records (and half-written temp files) of sandboxes no live process holds. */
export function sweepLayerRecords(runDir: string, isAlive: (pid: number) => boolean = pidAlive, held: ReadonlySet<string> = new Set()): number {
  // listed before the leases are read, for the reason layersInUse gives
  const names = recordIds(runDir);
  if (names.length === 0) return 0;
  // `held`: sandboxes a waiting spawner runs (live restore), their leases' pids dead
  const live = new Set([...liveIds(runDir, isAlive), ...held]);
  let removed = 0;
  for (const name of names) {
    if (live.has(name.endsWith(TMP) ? name.slice(0, -TMP.length) : name)) continue;
    fs.rmSync(path.join(runDir, LAYER_RECORDS, name), { force: true });
    removed++;
  }
  return removed;
}



function parseRecord(file: string, text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new WarrenError('WARREN_LAYER_RECORD_CORRUPT', `parse layer record '${file}'`, { cause: err });
  }
  if (!Array.isArray(value) || !value.every((l) => typeof l === 'string' && path.isAbsolute(l))) {
    throw new WarrenError('WARREN_LAYER_RECORD_CORRUPT', `layer record '${file}' is not a list of absolute paths`);
  }
  return value as string[];
}

/** Ids of the sandboxes whose uid lease a live process holds (the lease owner is the sandbox id). */
function liveIds(runDir: string, isAlive: (pid: number) => boolean): Set<string> {
  const leases = new LeaseSet(path.join(runDir, UID_LEASES), UID_SLOTS_DEFAULT);
  return new Set(leases.entries(isAlive).filter((e) => e.alive).map((e) => e.owner));
}

function recordIds(runDir: string): string[] {
  try {
    return fs.readdirSync(path.join(runDir, LAYER_RECORDS));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw new WarrenError('WARREN_LAYER_RECORD_READ', `list layer records in '${runDir}'`, { cause: err });
  }
}
