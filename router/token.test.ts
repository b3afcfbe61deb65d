import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { isWarrenError } from '../lib/errors.js';
import { loadOrCreateToken, tokenMatches } from './token.js';

t.test('made at the first start, mode 0600, read back later', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrn-token-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const first = loadOrCreateToken(dir);
  t.equal(first.path, path.join(dir, 'token'));
  t.match(first.token, /^[A-Za-z0-9_-]{43}$/);
  t.equal(fs.statSync(first.path).mode & 0o777, 0o600);
  t.same(loadOrCreateToken(dir), first, 'the same token on the next start');
  t.same(fs.readdirSync(dir), ['token'], 'nothing left aside');

  fs.chmodSync(first.path, 0o644);
  t.throws(() => loadOrCreateToken(dir), /open to others \(mode 644\): chmod 600 it/);
  fs.writeFileSync(first.path, 'short\n', { mode: 0o600 });
  fs.chmodSync(first.path, 0o600);
  t.throws(() => loadOrCreateToken(dir), /too short/);
  try {
    loadOrCreateToken(path.join(dir, 'missing'));
    t.fail('made a token in a missing dir');
  } catch (err) {
    t.ok(isWarrenError(err, 'WARREN_API_TOKEN'));
  }
});

t.test('compared whole', async (t) => {
  t.ok(tokenMatches('abc', 'abc'));
  t.notOk(tokenMatches('abc', 'abd'));
  t.notOk(tokenMatches('abc', 'ab'));
  t.notOk(tokenMatches('abc', ''));
});

/**
 * No timing to learn the token from, checked by what the comparison does rather than by a
 * stopwatch: whatever is given (right, wrong at its first or last character, a prefix, longer,
 * empty, huge), it hashes the token and the given value once each with sha256 and compares the two
 * 32-byte digests once with timingSafeEqual. The only length the work depends on is the given
 * value's, which its sender knows already.
 */
t.test('the same work whatever is given: two digests, one constant-time compare of 32 bytes', async (t) => {
  const crypto = await import('node:crypto');
  let trace: string[] = [];
  const { tokenMatches: matches } = await t.mockImport<typeof import('./token.js')>('./token.js', {
    'node:crypto': {
      ...crypto,
      createHash(alg: string) {
        const hash = crypto.createHash(alg);
        trace.push(`hash ${alg}`);
        return {
          update(data: string) {
            trace.push(`update ${Buffer.byteLength(data)}`);
            hash.update(data);
            return this;
          },
          digest: () => hash.digest(),
        };
      },
      timingSafeEqual(a: Buffer, b: Buffer) {
        trace.push(`compare ${a.length} ${b.length}`);
        return crypto.timingSafeEqual(a, b);
      },
    },
  });
  const token = 'Zq3v-8x_Kd0Yt7mW2pR5nB9cH4jL6fA1sE0gU3iO5kT';
  const given: Record<string, [string, boolean]> = {
    'the token': [token, true],
    'its first character wrong': ['A' + token.slice(1), false],
    'its last character wrong': [token.slice(0, -1) + 'A', false],
    'a prefix of it': [token.slice(0, 20), false],
    'it and more': [token + 'x', false],
    'empty': ['', false],
    'a megabyte': ['x'.repeat(1 << 20), false],
    'unicode': ['\u00e9\u{1f600}', false],
  };
  const shapes = new Set<string>();
  for (const [what, [value, expected]] of Object.entries(given)) {
    trace = [];
    t.equal(matches(token, value), expected, `${what}: ${expected ? 'matches' : 'does not match'}`);
    // the given value's own length normalised away: what is left must not vary
    shapes.add(trace.map((e, i) => (i === 3 && e === `update ${Buffer.byteLength(value)}` ? 'update GIVEN' : e)).join(', '));
  }
  t.same([...shapes], [`hash sha256, update ${token.length}, hash sha256, update GIVEN, compare 32 32`], 'one trace for every input');
});
