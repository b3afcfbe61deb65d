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
