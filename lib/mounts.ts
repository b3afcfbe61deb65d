/**
 * What is mounted where, from /proc/self/mountinfo: for code that removes a tree and must never
 * reach through a mount point into what is mounted there.
 */
import fs from 'node:fs';

/** Whether anything is mounted strictly below `dir` in our mount namespace (mountinfo's 5th
 * field, which names the real path, octal escapes and all: warren's dirs have no spaces to
 * escape). A dir that is not there has nothing below it. */
export function mountedBelow(dir: string): boolean {
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch {
    return false;
  }
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4]?.startsWith(`${real}/`) ?? false);
}
