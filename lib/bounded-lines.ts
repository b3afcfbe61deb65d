/**
 * A stream's lines with a bound on each: for reading pipes whose writer we do not trust (a
 * sandbox's stdout), where a line without end must not become a buffer without end.
 */
import type { Readable } from 'node:stream';

/**
 * Calls `onLine` with each line of `stream` (without its newline), at most `max` bytes of it:
 * what a longer line has past that is skipped and counted (`over`), never buffered.
 */
export function splitLines(stream: Readable, max: number, onLine: (line: Buffer, over: number) => void): void {
  let parts: Buffer[] = [];
  let size = 0;
  let over = 0;
  const take = (piece: Buffer) => {
    const room = max - size;
    if (piece.length <= room) {
      if (piece.length > 0) parts.push(piece);
      size += piece.length;
      return;
    }
    if (room > 0) parts.push(piece.subarray(0, room));
    size = max;
    over += piece.length - Math.max(room, 0);
  };
  const emit = () => {
    onLine(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size), over);
    parts = [];
    size = 0;
    over = 0;
  };
  stream.on('data', (chunk: Buffer | string) => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl === -1) {
        take(buf.subarray(start));
        return;
      }
      take(buf.subarray(start, nl));
      emit();
      start = nl + 1;
    }
  });
  stream.on('end', () => {
    if (size > 0 || over > 0) emit();
  });
}
