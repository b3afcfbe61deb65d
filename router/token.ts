/**
 * The control API's bearer token: made at the first start, kept at `<stateDir>/token` (mode 0600,
 * root's alone), read back on every later start, and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, WarrenError } from '../lib/errors.js';

export const TOKEN_FILE = 'token';

/** The token in `stateDir`, made (32 random bytes, base64url) when there is none yet. */
export function loadOrCreateToken(stateDir: string): { token: string; path: string } {
  const file = path.join(stateDir, TOKEN_FILE);
  const existing = readToken(file);
  if (existing !== undefined) return { token: existing, path: file };
  const token = randomBytes(32).toString('base64url');
  // written aside and linked into place: a second start racing this one reads a whole token or
  // finds none, never half of one
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, token + '\n', { mode: 0o600, flag: 'wx' });
    try {
      fs.linkSync(tmp, file);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
      const theirs = readToken(file);
      if (theirs === undefined) throw err;
      return { token: theirs, path: file };
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  } catch (err) {
    throw new WarrenError('WARREN_API_TOKEN', `cannot write the control token '${file}': ${(err as Error).message}`, { cause: err });
  }
  return { token, path: file };
}

function readToken(file: string): string | undefined {
  let text: string;
  try {
    const st = fs.statSync(file);
    if ((st.mode & 0o077) !== 0) {
      throw new WarrenError('WARREN_API_TOKEN', `control token '${file}' is open to others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
    }
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    if (err instanceof WarrenError) throw err;
    throw new WarrenError('WARREN_API_TOKEN', `cannot read the control token '${file}': ${(err as Error).message}`, { cause: err });
  }
  if (text.length < 16) throw new WarrenError('WARREN_API_TOKEN', `control token '${file}' is too short (${text.length} characters)`);
  return text;
}

/** Whether `given` is the token, in time that does not depend on where they differ. */
export function tokenMatches(token: string, given: string): boolean {
  // digests first: timingSafeEqual needs equal lengths, and the length must not leak either
  const a = createHash('sha256').update(token).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}
