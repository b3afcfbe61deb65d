/**
 * A streaming tar reader: ustar, GNU long names (typeflag 'L' and 'K') and
 * pax headers ('x' per entry, 'g' global: path, linkpath, size, uid, gid,
 * mtime). It parses; it never touches the filesystem and never judges a
 * path: snapshots/extract.ts decides what is safe.
 *
 * An archive is a sequence of 512-byte blocks:
 *
 *   header | data, padded to 512 | header | data ... | zero block | zero block
 *
 * Meta entries ('x', 'g', 'L', 'K') carry their payload as data and modify
 * the next real entry, so they are folded in here and never yielded.
 *
 * Each entry is yielded with a `body` the caller may read (once) before
 * asking for the next entry; whatever it leaves unread is skipped. Memory
 * stays at one source chunk plus one block, whatever the archive's size.
 */
import { WarrenError } from '../lib/errors.js';

export type TarType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo' | 'other';

export interface TarEntry {
  /** As stored (pax or GNU long name applied), not normalized: './a/', '/etc', '../x' all come through. */
  readonly path: string;
  readonly type: TarType;
  /** The raw typeflag, for messages about types we do not support. */
  readonly typeflag: string;
  /** Permission bits and setuid/setgid/sticky, as stored (& 0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Bytes of data that follow the header. */
  readonly size: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  /** Symlink target, or the archive path a hard link points to. */
  readonly linkpath: string;
  /** Byte offset of the entry's header in the (uncompressed) archive, for messages. */
  readonly offset: number;
  /** The entry's data; read it before the next entry or not at all. */
  readonly body: AsyncIterable<Buffer>;
}

const BLOCK = 512;
/** Pax and GNU long-name payloads are held in memory; real ones are a few hundred bytes. */
const MAX_META = 1 << 20;

const TYPES: Record<string, TarType> = {
  '0': 'file', '\0': 'file', '7': 'file', // '7' is "contiguous", which POSIX says to read as a file
  '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

function corrupt(message: string): never {
  throw new WarrenError('WARREN_IMAGE_IMPORT_CORRUPT', message);
}

/** Exact reads over an async iterator of chunks, copying only when a read spans chunks. */
class ByteReader {
  #it: AsyncIterator<Uint8Array>;
  #buf: Buffer = Buffer.alloc(0);
  #done = false;
  /** Bytes handed out so far. */
  position = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    const r = await this.#it.next();
    if (r.done) {
      this.#done = true;
      return false;
    }
    const chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    return true;
  }

  /** n bytes, or fewer only at the end of the source. */
  async read(n: number): Promise<Buffer> {
    while (this.#buf.length < n && (await this.#fill()));
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(out.length);
    this.position += out.length;
    return out;
  }

  /** Up to n bytes, as they arrive: for file data, so no large buffer is ever built. */
  async some(n: number): Promise<Buffer> {
    if (this.#buf.length === 0) await this.#fill();
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(out.length);
    this.position += out.length;
    return out;
  }

  async close(): Promise<void> {
    // Lets a stream source release its file descriptor when we stop early.
    if (!this.#done) await this.#it.return?.();
    this.#done = true;
  }
}

/** A NUL-terminated field. Names must be UTF-8: a lossy decode could turn two names into one. */
function text(buf: Buffer, what: string): string {
  const end = buf.indexOf(0);
  return utf8(end < 0 ? buf : buf.subarray(0, end), what);
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function utf8(buf: Buffer, what: string): string {
  try {
    return decoder.decode(buf);
  } catch {
    throw new WarrenError('WARREN_IMAGE_IMPORT_UNSUPPORTED', `${what} is not valid utf-8: '${buf.toString('latin1')}'`);
  }
}

/** Octal (NUL/space padded), or GNU base-256 when the top bit of the first byte is set. */
function num(buf: Buffer, field: string, offset: number): number {
  const first = buf[0] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) corrupt(`negative ${field} in the header at offset ${offset}`);
    let n = first & 0x7f;
    for (const b of buf.subarray(1)) n = n * 256 + b;
    if (!Number.isSafeInteger(n)) corrupt(`${field} too large in the header at offset ${offset}`);
    return n;
  }
  const s = buf.toString('latin1').replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) corrupt(`bad ${field} '${s}' in the header at offset ${offset}`);
  return parseInt(s, 8);
}

/** POSIX says unsigned; some old tars summed signed bytes. Either is accepted. */
function checksumOk(h: Buffer): boolean {
  // Not octal at all means not a header: the caller says so, naming the offset.
  const field = h.toString('latin1', 148, 156).replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const stored = parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (h[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

type Pax = Partial<Record<'path' | 'linkpath' | 'size' | 'uid' | 'gid' | 'mtime', string>>;

/** Records of the form "<len> <key>=<value>\n", where len counts the whole record in bytes. */
function parsePax(data: Buffer, offset: number): Pax {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    const len = Number(data.toString('latin1', i, space));
    if (space < 0 || !Number.isInteger(len) || len <= space - i || i + len > data.length || data[i + len - 1] !== 0x0a) {
      corrupt(`bad pax record in the header at offset ${offset}`);
    }
    const record = utf8(data.subarray(space + 1, i + len - 1), 'a pax record');
    const eq = record.indexOf('=');
    if (eq <= 0) corrupt(`bad pax record '${record}' in the header at offset ${offset}`);
    const key = record.slice(0, eq);
    // A sparse file's data is a map plus fragments; written as-is it would be garbage.
    if (key.startsWith('GNU.sparse.')) {
      throw new WarrenError('WARREN_IMAGE_IMPORT_UNSUPPORTED', `sparse files are not supported (pax header at offset ${offset})`);
    }
    out[key] = record.slice(eq + 1);
    i += len;
  }
  return out;
}

function paxNum(value: string | undefined, field: string, offset: number): number | undefined {
  if (value === undefined) return undefined;
  // mtime may have a fraction; the others are plain decimal integers.
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || (field !== 'mtime' && !Number.isSafeInteger(n))) {
    corrupt(`bad pax ${field} '${value}' in the header at offset ${offset}`);
  }
  return n;
}

export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry, void, undefined> {
  const r = new ByteReader(source);
  let global: Pax = {};
  let next: Pax = {};
  try {
    for (;;) {
      const offset = r.position;
      const h = await r.read(BLOCK);
      if (h.length === 0) corrupt('archive ends without its end-of-archive blocks (truncated?)');
      if (h.length < BLOCK) corrupt(`archive truncated in the header at offset ${offset}`);
      // One zero block ends it; GNU tar writes two but reads one as the end as well.
      if (h.every((b) => b === 0)) return;
      if (!checksumOk(h)) corrupt(`bad header checksum at offset ${offset}: not a tar archive, or damaged`);

      const typeflag = String.fromCharCode(h[156] as number);
      const size = num(h.subarray(124, 136), 'size', offset);
      if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
        if (size > MAX_META) corrupt(`header payload of ${size} bytes at offset ${offset} is too large`);
        const data = await r.read(size);
        if (data.length < size) corrupt(`archive truncated in the header at offset ${offset}`);
        await r.read(pad(size));
        if (typeflag === 'x') next = { ...next, ...parsePax(data, offset) };
        else if (typeflag === 'g') global = { ...global, ...parsePax(data, offset) };
        else if (typeflag === 'L') next = { ...next, path: text(data, `the long name at offset ${offset}`) };
        else next = { ...next, linkpath: text(data, `the long link name at offset ${offset}`) };
        continue;
      }

      const pax: Pax = { ...global, ...next };
      next = {};
      const entry = headerEntry(h, typeflag, size, pax, offset);
      let left = entry.size;
      const body = {
        async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
          while (left > 0) {
            const chunk = await r.some(left);
            if (chunk.length === 0) corrupt(`archive truncated in the data of '${entry.path}'`);
            left -= chunk.length;
            yield chunk;
          }
        },
      };
      yield { ...entry, body };
      // Skip what the caller did not read, then the padding to the next block.
      while (left > 0) {
        const chunk = await r.some(left);
        if (chunk.length === 0) corrupt(`archive truncated in the data of '${entry.path}'`);
        left -= chunk.length;
      }
      const padding = await r.read(pad(entry.size));
      if (padding.length < pad(entry.size)) corrupt(`archive truncated after '${entry.path}'`);
    }
  } finally {
    await r.close();
  }
}

function pad(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function headerEntry(h: Buffer, typeflag: string, rawSize: number, pax: Pax, offset: number): Omit<TarEntry, 'body'> {
  const magic = h.toString('latin1', 257, 265);
  let path = text(h.subarray(0, 100), `the name at offset ${offset}`);
  // ustar splits long names into prefix + name; GNU ('ustar  ') uses those bytes for other fields.
  if (magic.startsWith('ustar\0')) {
    const prefix = text(h.subarray(345, 500), `the name prefix at offset ${offset}`);
    if (prefix) path = `${prefix}/${path}`;
  }
  const type = TYPES[typeflag] ?? 'other';
  // Data follows whenever size > 0, whatever the type: it is skipped when the caller has no use for it.
  const size = paxNum(pax.size, 'size', offset) ?? rawSize;
  return {
    path: pax.path ?? path,
    type,
    typeflag,
    mode: num(h.subarray(100, 108), 'mode', offset) & 0o7777,
    uid: paxNum(pax.uid, 'uid', offset) ?? num(h.subarray(108, 116), 'uid', offset),
    gid: paxNum(pax.gid, 'gid', offset) ?? num(h.subarray(116, 124), 'gid', offset),
    size,
    mtime: paxNum(pax.mtime, 'mtime', offset) ?? num(h.subarray(136, 148), 'mtime', offset),
    linkpath: pax.linkpath ?? text(h.subarray(157, 257), `the link name at offset ${offset}`),
    offset,
  };
}
