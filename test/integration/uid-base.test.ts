/**
 * The sandboxes' host uid span can be moved (WARREN_UID_BASE, `warren serve --uid-base`), and one
 * that overlaps what the host uses is refused before any sandbox runs (checkUidBase on a temp
 * /etc: this machine's own /etc is never edited). Seen from inside: root's uid_map.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { checkUidBase } from '../../sandbox/index.js';
import { NEEDS_ROOT, probeVolume, testEnv, warren } from './helpers.js';

t.test('WARREN_UID_BASE moves the span: the sandbox maps its root there', { skip: NEEDS_ROOT }, async (t) => {
  const env = { ...testEnv(), WARREN_UID_BASE: '2000000000' };
  const r = await warren(['run', ...probeVolume(), '--', '/probe/probe', 'identity'], { env });
  t.equal(r.code, 0, `ran (${r.stderr})`);
  const seen = JSON.parse(r.stdout) as { uid_map: string };
  const [inside, outside, count] = seen.uid_map.trim().split(/\s+/).map(Number);
  t.equal(inside, 0);
  t.ok(outside !== undefined && outside >= 2_000_000_000 && outside < 2_000_000_000 + 4096 * 65536, `root maps into the moved span (${outside})`);
  t.equal(count, 65536);
});

t.test('a bad WARREN_UID_BASE is a clear error, exit 125', { skip: NEEDS_ROOT }, async (t) => {
  const r = await warren(['run', '--', '/bin/true'], { env: { ...testEnv(), WARREN_UID_BASE: '500' } });
  t.equal(r.code, 125);
  t.match(r.stderr, /WARREN_UID_BASE '500' must be a whole number of at least 65536/);
});

t.test('a span over a host user or a subuid range is refused, naming them', async (t) => {
  const etc = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-etc-'));
  t.teardown(() => fs.rmSync(etc, { recursive: true, force: true }));
  fs.writeFileSync(path.join(etc, 'passwd'), 'root:x:0:0::/root:/bin/sh\nhigh:x:1000000042:1::/:/bin/sh\n');
  fs.writeFileSync(path.join(etc, 'subuid'), 'dev:1000100000:65536\n');
  t.throws(() => checkUidBase(1_000_000_000, etc), { code: 'WARREN_HOST_UID_RANGE', message: /user 'high' \(1000000042\).*'dev' 1000100000-1000165535 in \/etc\/subuid.*--uid-base/ });
  t.doesNotThrow(() => checkUidBase(3_000_000_000, etc), 'a base clear of them');
});
