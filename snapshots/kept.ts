/**
 * Kept sandboxes (`warren run --name N --keep`): their overlay upper lives on disk under
 * `<state>/kept/<name>/` (upper/ and work/, which the spawner mounts), and a manifest beside it
 * names the image they ran and the host uid their root mapped to, which commit needs to give the
 * files back to uid 0. `warren commit` turns the upper into a layer, `warren rm` drops it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, WarrenError } from '../lib/errors.js';

export interface Kept {
  name: string;
  image: string;
  /** The image's layers (digests, top first) when the sandbox ran: commit stacks on these. */
  layers: string[];
  /** Host uid of the sandbox's root; files in the upper are owned by uidBase + n. */
  uidBase: number;
  created: string;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

export function keptDir(stateDir: string, name: string): string {
  if (!NAME.test(name)) throw new WarrenError('WARREN_KEPT_NAME', `invalid sandbox name '${name}': letters, digits, _ . - (at most 64)`);
  return path.join(stateDir, 'kept', name);
}

/** Claims the name (exclusively: two runs cannot keep into one dir) and returns the dir. */
export function claimKept(stateDir: string, kept: Kept): string {
  const dir = keptDir(stateDir, kept.name);
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') throw new WarrenError('WARREN_KEPT_EXISTS', `a sandbox named '${kept.name}' exists (warren rm ${kept.name})`);
    throw err;
  }
  fs.writeFileSync(`${dir}.json`, `${JSON.stringify(kept, null, 2)}\n`);
  return dir;
}

export function readKept(stateDir: string, name: string): Kept {
  const dir = keptDir(stateDir, name);
  try {
    return JSON.parse(fs.readFileSync(`${dir}.json`, 'utf8')) as Kept;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw new WarrenError('WARREN_KEPT_NOT_FOUND', `no kept sandbox named '${name}'`);
    throw new WarrenError('WARREN_KEPT_CORRUPT', `read kept sandbox '${name}'`, { cause: err });
  }
}

export function listKept(stateDir: string): Kept[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(path.join(stateDir, 'kept')).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.map((n) => readKept(stateDir, n.slice(0, -5)));
}

/** Removes its changes and its manifest; the manifest last, so a crash leaves it listed for a retry. */
export function removeKept(stateDir: string, name: string): void {
  readKept(stateDir, name);
  const dir = keptDir(stateDir, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(`${dir}.json`, { force: true });
}
