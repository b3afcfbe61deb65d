import t from 'tap';
import { formatMiB, parseSize } from './size.js';

const table: Array<[string, number]> = [
  ['64m', 64 * 1024 ** 2],
  ['64M', 64 * 1024 ** 2],
  ['1g', 1024 ** 3],
  ['512k', 512 * 1024],
  ['1048576', 1048576],
  ['1.5g', 1.5 * 1024 ** 3],
  ['256MiB', 256 * 1024 ** 2],
  ['100b', 100],
];
for (const [text, bytes] of table) t.equal(parseSize(text, 'x'), bytes, text);
for (const text of ['', 'm', '0', '-1m', '1t', 'lots', '1.5.5m']) t.throws(() => parseSize(text, 'memory limit'), /invalid memory limit/, text);
t.equal(formatMiB(64 * 1024 ** 2), '64 MiB');
