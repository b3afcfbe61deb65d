/**
 * A tiny tar writer for tests, for archives no well-behaved tar would make:
 * wrong sizes, '..' names, device nodes, pax headers of any size. Names over
 * 100 bytes go in a pax header, as GNU tar --format=pax writes them.
 */

export interface TarTestEntry {
  name: string;
  /** typeflag: '0' file, '1' hard link, '2' symlink, '3' char dev, '5' dir, '6' fifo, 'x'/'g' pax header */
  type?: string;
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  link?: string;
  /** Size to claim in the header, when it should differ from data's. */
  size?: number;
}

function octal(h: Buffer, off: number, len: number, n: number): void {
  h.write(n.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

/** A ustar header block with a valid checksum. */
export function tarHeader(e: TarTestEntry, name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, e.mode ?? (e.type === '5' ? 0o755 : 0o644));
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, 1_700_000_000);
  h.write(e.type ?? '0', 156, 1, 'latin1');
  h.write(e.link ?? '', 157, 100, 'utf8');
  h.write('ustar\0' + '00', 257, 8, 'latin1');
  fixChecksum(h);
  return h;
}

/** Recomputes a header's checksum after its bytes were changed. */
export function fixChecksum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
}

/** One pax record, "<len> <key>=<value>\n", where len counts the whole record in bytes. */
export function paxRecord(key: string, value: string): string {
  const rec = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(rec) + 1;
  while (Buffer.byteLength(`${len}${rec}`) !== len) len++;
  return `${len}${rec}`;
}

function padded(data: Buffer): Buffer[] {
  return [data, Buffer.alloc((512 - (data.length % 512)) % 512)];
}

export function tar(entries: TarTestEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    if (Buffer.byteLength(e.name) > 100) {
      const pax = Buffer.from(paxRecord('path', e.name));
      parts.push(tarHeader({ name: 'PaxHeader', type: 'x' }, 'PaxHeader', pax.length), ...padded(pax));
    }
    parts.push(tarHeader(e, e.name.slice(0, 100), e.size ?? data.length), ...padded(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
