import t from 'tap';
import { parseUidBase, uidSpanConflicts, UID_RANGE } from './uid-range.js';

t.test('a uid base is a whole number with room for every range below 2^32-1', async (t) => {
  t.equal(parseUidBase('2000000000'), 2_000_000_000);
  // the last range must stop below (uid_t)-1, which means "no change"
  t.equal(parseUidBase(String(2 ** 32 - 1 - 4096 * UID_RANGE)), 2 ** 32 - 1 - 4096 * UID_RANGE);
  for (const bad of ['', 'abc', '-5', '1.5', '100', String(2 ** 32 - 4096 * UID_RANGE), '99999999999']) {
    t.throws(() => parseUidBase(bad), { code: 'WARREN_ARG_INVALID' }, `'${bad}' refused`);
  }
});

t.test("the host's users, groups and subordinate ranges that fall in the span are named", async (t) => {
  const span = { base: 1_000_000_000, slots: 2 };
  const ids = {
    passwd: 'root:x:0:0:root:/root:/bin/bash\nsvc:x:1000065536:1000:,,,:/home/svc:/bin/sh\nlast:x:1000131072:1::/:/bin/false\n',
    group: 'root:x:0:\nbig:x:1000000000:\n',
    subuid: 'alice:100000:65536\nbob:999999999:2\n',
    subgid: 'carol:1000131071:10\n# comment\n',
  };
  t.same(uidSpanConflicts(span, ids), [
    "user 'svc' (1000065536) in /etc/passwd",
    "group 'big' (1000000000) in /etc/group",
    "'bob' 999999999-1000000000 in /etc/subuid",
    "'carol' 1000131071-1000131080 in /etc/subgid",
  ]);
  t.same(uidSpanConflicts({ base: 2_000_000_000, slots: 4096 }, ids), [], 'a span clear of them all');
  t.same(uidSpanConflicts(span, {}), [], 'no files, no conflicts');
});
