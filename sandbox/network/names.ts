/**
 * The names of a user network's sandboxes, as its DNS server reads them: one file per running
 * sandbox, `<dir>/<ip>`, written by the warren process that runs it when it starts and removed
 * when it ends. `warren run` is daemonless and several processes may serve one network, so the
 * files are the one shared truth, read live on every query; a file whose owner is dead (a crashed
 * warren) is ignored, and removed by the next reader or `warren gc`.
 *
 * Each file is JSON: { pid, names, relay }; `relay` says whether that sandbox's other lookups go
 * upstream (it has egress, on a network that is not internal): a sandbox without egress gets no
 * DNS channel out of the host either.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, WarrenError } from '../../lib/errors.js';
import { pidAlive } from '../../lib/leases.js';
import { parseIpv4 } from './cidr.js';

export interface NameRecord {
  pid: number;
  /** lower case; --name and each --network-alias */
  names: readonly string[];
  relay: boolean;
}

export interface NameTable {
  /** name -> addresses (two sandboxes may share an alias, as with Docker: both answer) */
  byName: Map<string, string[]>;
  /** address -> may its lookups of other names be relayed upstream */
  relay: Map<string, boolean>;
}

/** A DNS label, as Docker accepts container names and aliases (no dots: one label). */
const NAME = /^[a-z0-9]([a-z0-9_-]{0,62})$/i;

export function checkName(name: string): void {
  if (!NAME.test(name)) throw new WarrenError('WARREN_NETWORK_BAD_NAME', `sandbox name or alias '${name}' must be letters, digits, _ and - (at most 63)`);
}

/** Writes the sandbox at `ip`'s record (replacing a crashed owner's); returns its removal. */
export function publishNames(dir: string, ip: string, record: NameRecord): () => void {
  parseIpv4(ip);
  for (const n of record.names) checkName(n);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const file = path.join(dir, ip);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ ...record, names: record.names.map((n) => n.toLowerCase()) }));
  fs.renameSync(tmp, file); // a reader sees the whole record or none
  return () => fs.rmSync(file, { force: true });
}

/** The live records of `dir`; dead owners' files are removed on the way (`sweep`). */
export function readNames(dir: string, isAliveOf: (pid: number) => boolean = pidAlive, sweep = true): NameTable {
  const table: NameTable = { byName: new Map(), relay: new Map() };
  // asked once per holder, not per record: a DNS query reads the table (dns-forwarder.ts), and
  // most records have one holder (serve, a warren run)
  const seen = new Map<number, boolean>();
  const isAlive = (pid: number): boolean => {
    let alive = seen.get(pid);
    if (alive === undefined) seen.set(pid, (alive = isAliveOf(pid)));
    return alive;
  };
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return table;
    throw err;
  }
  for (const ip of files) {
    if (ip.endsWith('.tmp')) continue;
    const record = readRecord(path.join(dir, ip));
    if (!record) continue;
    if (!isAlive(record.pid)) {
      if (sweep) fs.rmSync(path.join(dir, ip), { force: true });
      continue;
    }
    table.relay.set(ip, record.relay === true);
    for (const name of record.names) table.byName.set(name, [...(table.byName.get(name) ?? []), ip]);
  }
  return table;
}

/**
 * Takes `name` on a network for the warren process that runs a sandbox by it, from before the
 * sandbox is made until `release()`: `<claims>/<name>` made with O_EXCL holds the claimant's pid,
 * so of two runs that start at once with one name exactly one gets it (a check of the records
 * alone let both pass: neither had written its record yet). A dead claimant's file is taken over.
 */
export function claimName(claims: string, name: string, networkName: string): () => void {
  checkName(name);
  fs.mkdirSync(claims, { recursive: true, mode: 0o755 });
  const file = path.join(claims, name.toLowerCase());
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o644 });
      return () => {
        if (claimantOf(file) === process.pid) fs.rmSync(file, { force: true });
      };
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
    const holder = claimantOf(file);
    if (holder !== undefined && pidAlive(holder)) {
      throw new WarrenError('WARREN_NETWORK_NAME_TAKEN', `name '${name}' is taken on network '${networkName}' by a running sandbox (warren pid ${holder})`);
    }
    // a dead claimant's (or a file half-written this very moment: the next turn reads it whole)
    if (holder !== undefined) fs.rmSync(file, { force: true });
    else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  throw new WarrenError('WARREN_NETWORK_NAME_TAKEN', `name '${name}' on network '${networkName}': its claim '${file}' could not be taken`);
}

function claimantOf(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** `warren gc`: removes the name claims of dead claimants; returns how many. */
export function sweepClaims(claims: string, isAlive: (pid: number) => boolean = pidAlive): number {
  let removed = 0;
  for (const f of safeReaddir(claims)) {
    const pid = claimantOf(path.join(claims, f));
    if (pid !== undefined && isAlive(pid)) continue;
    fs.rmSync(path.join(claims, f), { force: true });
    removed++;
  }
  return removed;
}

/** `warren gc`: removes the records of dead owners (and half-written temp files); returns how many. */
export function sweepNames(dir: string, isAlive: (pid: number) => boolean = pidAlive): number {
  let removed = 0;
  for (const f of safeReaddir(dir)) {
    const tmp = /\.(\d+)\.tmp$/.exec(f);
    const pid = tmp ? Number(tmp[1]) : readRecord(path.join(dir, f))?.pid;
    if (pid !== undefined && isAlive(pid)) continue;
    fs.rmSync(path.join(dir, f), { force: true });
    removed++;
  }
  return removed;
}

function readRecord(file: string): NameRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as NameRecord;
    return Number.isInteger(r.pid) && Array.isArray(r.names) ? r : undefined;
  } catch {
    return undefined; // removed meanwhile, or not ours
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
