/**
 * Regression: a sandbox's /dev/shm had a size cap (64 MiB) but no inode cap. It was mounted with
 * `size=67108864` only, so the kernel's default applied: half the host's RAM pages, hundreds of
 * thousands of inodes. A function made 100,000 empty files there in three seconds (found by
 * test/e2e/hostile-function-resources.test.ts), where /tmp and the writable root stop at their
 * scratch tmpfs's 16,384; only the memory limit (inodes and dentries are charged to the sandbox's
 * memory cgroup) stood behind it, so the end was an OOM kill of the whole instance and of every
 * request in it instead of an ENOSPC to the code that asked. /dev/shm now has the scratch tmpfs's
 * inode cap. This test makes empty files in /dev/shm until one fails.
 */
import t from 'tap';
import { NEEDS_ROOT, probe } from '../integration/helpers.js';

t.test('/dev/shm stops at an inode cap with ENOSPC', { skip: NEEDS_ROOT }, async (t) => {
  const r = await probe<{ files: number; errno: number; unlink_errno: number }>(['--memory', '512m'], ['inodes', '/dev/shm']);
  t.equal(r.errno, 28, `ENOSPC after ${r.files} files`);
  t.ok(r.files > 1000 && r.files <= 16384, `${r.files} files, at most the scratch tmpfs's 16384`);
  t.equal(r.unlink_errno, 0, 'and they could be removed');
  t.equal(r.$.code, 0);
});
