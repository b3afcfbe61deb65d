/**
 * Tar entries from a stream of archive bytes, on node-tar's Parser (the
 * parser npm itself unpacks with): ustar, GNU long names ('L', 'K') and
 * base-256 numbers, pax headers ('x' per entry, 'g' global). This file adds
 * what warren needs on top; it never touches the filesystem and never
 * judges a path: snapshots/extract.ts decides what is safe.
 *
 * What node-tar leaves lenient, refused here (the archive is untrusted):
 *
 *   checksum failure, bad header, truncation  WARREN_IMAGE_IMPORT_CORRUPT (node-tar's strict mode,
 *                                             which otherwise skips to the next block that parses)
 *   no end-of-archive block                   CORRUPT: a cut archive would import with files missing
 *   a name that is not UTF-8                  UNSUPPORTED: node-tar decodes lossily, so two names
 *                                             could become one
 *   sparse files ('S', pax GNU.sparse.*)      UNSUPPORTED: written as-is their data would be garbage
 *   unknown entry types                       yielded as type 'other', for the extractor to refuse
 *   headers past the bounds below             WARREN_IMAGE_IMPORT_HEADER_LIMIT, before the next entry
 *
 * The bounds keep what one header costs proportional to its size: a pax
 * header's payload, its record count, a run of header entries before a real
 * one, and a name's length. node-tar keeps only the pax keys it knows, so
 * a global header's keys are never copied into each entry (the old
 * hand-written parser did, and a 2.4 MiB archive took 51 s).
 *
 * Consumption is flowing: a header block, then a header entry's whole
 * payload or an entry's data, is written to the parser, and every event it
 * causes (entries with their data slices, header entries, errors) lands in
 * one list, in archive order. Memory stays at about one source chunk (plus
 * one header payload), whatever the archive's size. An entry's `body` reads
 * its slices and pulls more as it needs them; what it leaves unread is dropped.
 */
import type { Parser } from 'tar/parse';
import type { ReadEntry } from 'tar/read-entry';
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
  /** Byte offset of the entry's header in the (uncompressed) archive, for messages and the size limit. */
  readonly offset: number;
  /** The entry's data; read it before the next entry or not at all. */
  readonly body: AsyncIterable<Buffer>;
}

export interface TarLimits {
  /** Payload of one pax or GNU long-name header entry; real ones are a few hundred bytes. */
  readonly metaBytes: number;
  /** Records ('<len> key=value\n') in one pax header. */
  readonly metaRecords: number;
  /** Header entries in a row before a real entry (GNU tar writes at most 'L' and 'K'; pax 'g' and 'x'). */
  readonly metaRun: number;
  /** Bytes of a path or link target: PATH_MAX, as no syscall takes a longer one. */
  readonly nameBytes: number;
}

export const TAR_LIMITS: TarLimits = { metaBytes: 256 * 1024, metaRecords: 1024, metaRun: 16, nameBytes: 4096 };

const BLOCK = 512;

/** node-tar's names of header entries, as messages say them. */
const HEADER_NAMES: Record<string, string> = {
  ExtendedHeader: 'pax header', OldExtendedHeader: 'pax header', GlobalExtendedHeader: 'global pax header',
  NextFileHasLongPath: 'long name header', OldGnuLongPath: 'long name header', NextFileHasLongLinkpath: 'long link name header',
};

const TYPES: Record<string, TarType> = {
  '0': 'file', '7': 'file', // '7' is "contiguous", which POSIX says to read as a file
  '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

function corrupt(message: string): WarrenError {
  return new WarrenError('WARREN_IMAGE_IMPORT_CORRUPT', message);
}

function overLimit(what: string, offset: number, why: string): WarrenError {
  return new WarrenError('WARREN_IMAGE_IMPORT_HEADER_LIMIT', `refusing ${what} at offset ${offset}: ${why}`);
}

function blocks(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** What the parser said, in archive order. */
type Event =
  | { readonly kind: 'entry'; readonly entry: TarEntry; readonly data: Data }
  | { readonly kind: 'error'; readonly error: WarrenError }
  | { readonly kind: 'end' };

/** An entry's data as it arrives: slices of source chunks, and whether the parser has written all of it. */
interface Data {
  readonly chunks: Buffer[];
  received: number;
  complete: boolean;
}

/** Lossy UTF-8 shows as U+FFFD; a real name never holds it. */
function checkName(name: string, what: string, entry: string, offset: number, limits: TarLimits): void {
  if (name.includes('\uFFFD')) {
    throw new WarrenError('WARREN_IMAGE_IMPORT_UNSUPPORTED', `${what} of the entry at offset ${offset} is not valid utf-8: '${name}'`);
  }
  const bytes = Buffer.byteLength(name);
  if (bytes > limits.nameBytes) throw overLimit(`entry '${entry.slice(0, 64)}...'`, offset, `${what} of ${bytes} bytes, more than ${limits.nameBytes}`);
}

function safeNumber(value: number | undefined, field: string, path: string, offset: number): number {
  const n = value ?? 0;
  if (!Number.isSafeInteger(n) || n < 0) throw corrupt(`bad ${field} in the header of '${path}' at offset ${offset}`);
  return n;
}

/**
 * node-tar's header fields as a TarEntry. Read from `header` and the entry's
 * own extended header, not from the ReadEntry, which applies a global pax
 * header over the entry's own (a global uid over a local one, say).
 */
function toEntry(e: ReadEntry, offset: number, limits: TarLimits, body: AsyncIterable<Buffer>): TarEntry {
  const h = e.header;
  // A pax path or GNU long name is the whole name, as POSIX and GNU tar read it: Header would still
  // put a ustar prefix in front of a pax path, and reads a long link name only into the ReadEntry.
  const path = e.extended?.path ?? h.path ?? '';
  checkName(path, 'the name', path, offset, limits);
  const linkpath = e.extended?.linkpath ?? h.linkpath ?? '';
  checkName(linkpath, 'the link target', path, offset, limits);
  const typeflag = h.typeKey === '' ? '0' : h.typeKey;
  const mtime = h.mtime === undefined ? 0 : h.mtime.getTime() / 1000;
  if (!Number.isFinite(mtime)) throw corrupt(`bad mtime in the header of '${path}' at offset ${offset}`);
  return {
    path,
    type: TYPES[typeflag] ?? 'other',
    typeflag,
    mode: safeNumber(h.mode, 'mode', path, offset) & 0o7777,
    uid: safeNumber(h.uid, 'uid', path, offset),
    gid: safeNumber(h.gid, 'gid', path, offset),
    size: safeNumber(h.size, 'size', path, offset),
    mtime,
    linkpath,
    offset,
    body,
  };
}

/** Counts '\n'-ended records, stopping once past `max`. */
function records(meta: string, max: number): number {
  let n = 0;
  for (let i = meta.indexOf('\n'); i >= 0 && n <= max; i = meta.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Archive bytes from the source, taken in the pieces the parser must get:
 * a header block, a header entry's whole payload, or file data. Slices of
 * source chunks, copied only when a piece spans two of them.
 */
class Pieces {
  #it: AsyncIterator<Uint8Array>;
  #rest: Buffer = Buffer.alloc(0);
  done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  /** Up to `max` bytes, as they are at hand; none only at the end of the source. */
  async some(max: number): Promise<Buffer> {
    if (this.#rest.length === 0 && !this.done) {
      const r = await this.#it.next();
      if (r.done) this.done = true;
      else this.#rest = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    }
    const out = this.#rest.subarray(0, max);
    this.#rest = this.#rest.subarray(out.length);
    return out;
  }

  /** Exactly `n` bytes, or fewer only at the end of the source. */
  async exactly(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (let got = 0; got < n; ) {
      const part = await this.some(n - got);
      if (part.length === 0) break;
      parts.push(part);
      got += part.length;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  async close(): Promise<void> {
    // Lets a stream source release its file descriptor when we stop early.
    if (!this.done) await this.#it.return?.();
    this.done = true;
  }
}

export async function* readTar(source: AsyncIterable<Uint8Array>, limits: TarLimits = TAR_LIMITS): AsyncGenerator<TarEntry, void, undefined> {
  // Loaded here, not at the top: `warren run` imports this module's folder and never parses tar.
  const [{ Parser }, { Header }] = await Promise.all([import('tar/parse'), import('tar/header')]);
  const pieces = new Pieces(source);
  const events: Event[] = [];
  /** Bytes written to the parser, and the offset of the header block written last. */
  let fed = 0;
  let offset = 0;
  /** Bytes of the current entry's data (padded) not yet written to the parser. */
  let dataLeft = 0;
  /** Whether the header block written last made the parser say anything. */
  let heard = false;
  let metaRun = 0;
  let sawEndBlock = false;
  let ended = false;
  let failure: WarrenError | null = null;

  // strict: every warning is an 'error'. brotli and zstd off: the caller decompresses.
  const parser: Parser = new Parser({ strict: true, maxMetaEntrySize: limits.metaBytes, brotli: false, zstd: false });

  const fail = (error: WarrenError): void => {
    if (failure) return;
    failure = error;
    events.push({ kind: 'error', error });
    // Stops parsing at this block: nothing after a refusal is worth reading. A fresh error, as abort() decorates it.
    parser.abort(new Error('refused'));
  };

  const push = (e: ReadEntry, data: Data, override: Partial<TarEntry> = {}): void => {
    try {
      events.push({ kind: 'entry', entry: { ...toEntry(e, offset, limits, body(data)), ...override }, data });
    } catch (err) {
      fail(err as WarrenError);
    }
  };

  parser.on('entry', (e: ReadEntry) => {
    [heard, metaRun, dataLeft] = [true, 0, e.startBlockSize];
    const data: Data = { chunks: [], received: 0, complete: false };
    push(e, data);
    // 'end' first: an empty entry ends as soon as it flows.
    e.on('end', () => (data.complete = true));
    // Flowing: the parser hands over data as it is written, so events stay in archive order.
    e.on('data', (chunk: Buffer) => {
      data.chunks.push(chunk);
      data.received += chunk.length;
    });
  });
  // What node-tar does not deliver as entries: header entries over maxMetaEntrySize, and types it does not know.
  parser.on('ignoredEntry', (e: ReadEntry) => {
    [heard, dataLeft] = [true, e.startBlockSize];
    if (e.meta) {
      fail(overLimit(`the ${HEADER_NAMES[e.type] ?? e.type}`, offset, `payload of ${e.size} bytes, more than ${limits.metaBytes}`));
    } else if (e.header.typeKey === 'S') {
      fail(new WarrenError('WARREN_IMAGE_IMPORT_UNSUPPORTED', `sparse files are not supported: '${e.path}' at offset ${offset}`));
    } else {
      metaRun = 0;
      const typeflag = e.header.typeKey === 'Unsupported' ? 'unknown' : e.header.typeKey;
      push(e, { chunks: [], received: 0, complete: true }, { type: 'other', typeflag, size: 0 });
    }
  });
  // A header entry's payload, as one string: feed() writes it in one piece, so no character is split.
  parser.on('meta', (meta: string) => {
    if (records(meta, limits.metaRecords) > limits.metaRecords) {
      fail(overLimit('a header entry', offset, `more than ${limits.metaRecords} records`));
    } else if (/(^|\n)\d+ GNU\.sparse\./.test(meta)) {
      // node-tar drops keys it does not know; the file's data would then be a sparse map written as content.
      fail(new WarrenError('WARREN_IMAGE_IMPORT_UNSUPPORTED', `sparse files are not supported (pax header at offset ${offset})`));
    }
  });
  let sawEof = false;
  parser.on('nullBlock', () => (heard = sawEndBlock = true));
  // Two zero blocks: node-tar reads no further, so neither do we (GNU tar pads the archive after them).
  parser.on('eof', () => (heard = sawEndBlock = sawEof = true));
  parser.on('error', (err: Error & { tarCode?: string; entry?: ReadEntry }) => {
    heard = true;
    const message = err.message.replace(/^TAR_[A-Z_]+: /, '');
    if (err.tarCode === 'TAR_BAD_ARCHIVE' && err.entry) fail(corrupt(`archive truncated in the data of '${err.entry.path}'`));
    else if (message === 'checksum failure') fail(corrupt(`bad header checksum at offset ${offset}: not a tar archive, or damaged`));
    else fail(corrupt(`bad header at offset ${offset}: ${message.toLowerCase()}`));
  });
  parser.on('end', () => {
    if (!sawEndBlock) fail(corrupt('archive ends without its end-of-archive blocks (truncated?)'));
    events.push({ kind: 'end' });
  });

  /** Writes `piece`, or ends the parser when it is short: the source ended there. */
  const write = (piece: Buffer, expected: number): boolean => {
    fed += piece.length;
    if (piece.length > 0) parser.write(piece);
    if (piece.length === expected || failure) return true;
    ended = true;
    parser.end();
    return false;
  };

  /**
   * Writes the next piece to the parser. node-tar decodes each written piece
   * of a header entry's payload on its own, so a UTF-8 character split
   * between two writes would be lost and its pax record dropped without a
   * word: a header block goes alone, and when the parser stays silent
   * after it (a header entry), the payload follows in one write.
   */
  async function feed(): Promise<void> {
    if (failure) return;
    // The parser says 'end' or an error once it has ended; asking for more after that would spin.
    if (ended) throw corrupt('archive ends early');
    if (sawEof) {
      ended = true;
      parser.end();
      return;
    }
    if (dataLeft > 0) {
      const piece = await pieces.some(dataLeft);
      dataLeft -= piece.length;
      write(piece, piece.length || dataLeft);
      return;
    }
    const block = await pieces.exactly(BLOCK);
    // node-tar gunzips what starts like gzip, and a gzip inside the gzip would escape the caller's byte count.
    if (offset === 0 && block[0] === 0x1f && block[1] === 0x8b) return fail(corrupt('not a tar archive: gzip inside gzip'));
    [heard, offset] = [false, fed];
    if (!write(block, BLOCK) || heard || failure) return;
    if (++metaRun > limits.metaRun) return fail(overLimit('a header entry', offset, `more than ${limits.metaRun} header entries in a row`));
    // Sizes over maxMetaEntrySize were heard (ignoredEntry), so this one is bounded.
    const payload = blocks(new Header(block).size ?? 0);
    if (payload > 0) write(await pieces.exactly(payload), payload);
  }

  async function* body(data: Data): AsyncGenerator<Buffer> {
    for (;;) {
      const chunk = data.chunks.shift();
      if (chunk) yield chunk;
      else if (data.complete) return;
      else if (failure) throw failure;
      else await feed();
    }
  }

  try {
    for (;;) {
      const event = events.shift();
      if (event === undefined) {
        if (failure) throw failure;
        await feed();
      } else if (event.kind === 'error') {
        throw event.error;
      } else if (event.kind === 'end') {
        return;
      } else {
        const { entry, data } = event;
        yield entry;
        // Drop what the caller did not read, pulling the rest of the entry through the parser.
        data.chunks.length = 0;
        while (!data.complete && !failure) {
          await feed();
          data.chunks.length = 0;
        }
        if (data.complete && data.received < entry.size) throw corrupt(`archive truncated in the data of '${entry.path}'`);
      }
    }
  } finally {
    if (!failure) {
      failure = corrupt('stopped reading');
      parser.abort(new Error('stopped reading'));
    }
    await pieces.close();
  }
}
