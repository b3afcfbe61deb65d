/**
 * Regression: a tar global pax header made an import's cost grow with keys x entries. The
 * hand-written parser merged every record of the global header ('g') into each entry that
 * followed it (`{ ...global, ...next }`), so one header of many keys in front of many small
 * entries took 51 s to parse from a 2.4 MiB archive (41 ms without the header), and nothing
 * bounded a header's records or a run of headers. Now node-tar parses, keeping only the pax keys
 * it knows, and warren bounds a header entry's payload, its records, a run of header entries and
 * a name's length, refusing past them before the next entry. The tests count what was read
 * (entries yielded, bytes pulled from the source), never the wall time.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { importImage } from '../../snapshots/index.js';
import { readTar, TAR_LIMITS, type TarEntry } from '../../snapshots/tar.js';
import { paxRecord, tar, tarHeader, type TarTestEntry } from '../tar-writer.js';

const ENTRIES = 2000;

function globalHeader(records: number, extra = ''): TarTestEntry {
  let data = extra;
  for (let i = 0; i < records; i++) data += paxRecord(`k${i}`, 'v');
  return { name: 'pax_global_header', type: 'g', data };
}

function files(n: number): TarTestEntry[] {
  return Array.from({ length: n }, (_, i) => ({ name: `f${i}`, data: 'x' }));
}

/** The archive in chunks of `size` bytes, counting the bytes the reader pulled. */
function counted(archive: Buffer, size = 64 * 1024): { source: AsyncIterable<Buffer>; pulled: () => number } {
  let pulled = 0;
  async function* source(): AsyncGenerator<Buffer> {
    for (let off = 0; off < archive.length; off += size) {
      const chunk = archive.subarray(off, off + size);
      pulled += chunk.length;
      yield chunk;
    }
  }
  return { source: source(), pulled: () => pulled };
}

async function readAll(source: AsyncIterable<Buffer>, seen: TarEntry[]): Promise<void> {
  for await (const e of readTar(source)) {
    seen.push(e);
    for await (const _ of e.body);
  }
}

t.test('a global header of more records than the bound is refused before any entry', async (t) => {
  const archive = tar([globalHeader(20_000), ...files(ENTRIES)]);
  const { source, pulled } = counted(archive);
  const seen: TarEntry[] = [];
  await t.rejects(readAll(source, seen), {
    code: 'WARREN_IMAGE_IMPORT_HEADER_LIMIT',
    message: `refusing a header entry at offset 0: more than ${TAR_LIMITS.metaRecords} records`,
  });
  t.equal(seen.length, 0, 'no entry was read');
  const header = 512 + 20_000 * 12;
  t.ok(pulled() <= header + 64 * 1024, `read ${pulled()} bytes: the header and at most one chunk more`);

  const dir = mkdtempSync(join(tmpdir(), 'wrntest-pax-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'global.tar'), archive);
  await t.rejects(importImage(join(dir, 'state'), 'global', join(dir, 'global.tar')), { code: 'WARREN_IMAGE_IMPORT_HEADER_LIMIT' });
  t.same(existsSync(join(dir, 'state/layers')) ? readdirSync(join(dir, 'state/layers')) : [], [], 'no layer or temp dir left');
});

t.test('a global header within the bounds is read, and its keys never reach an entry', async (t) => {
  const records = TAR_LIMITS.metaRecords - 2;
  const archive = tar([globalHeader(records, paxRecord('uid', '4242') + paxRecord('mtime', '1600000000')), ...files(ENTRIES)]);
  const seen: TarEntry[] = [];
  await readAll(counted(archive).source, seen);
  t.equal(seen.length, ENTRIES, 'every entry is read');
  t.ok(seen.every((e) => e.uid === 4242 && e.mtime === 1_600_000_000), 'the global header applies to each entry');
  const fields = new Set(seen.map((e) => Object.keys(e).length));
  t.same([...fields], [11], `each entry has the 11 fields of a TarEntry, not the header's ${records} keys`);
});

t.test('a pax header larger than its bound is refused before its payload is read', async (t) => {
  const claimed = 64 * 1024 * 1024;
  // The header claims 64 MiB; the source would give it, one chunk at a time.
  const head = tarHeader({ name: 'PaxHeader', type: 'x' }, 'PaxHeader', claimed);
  let pulled = 0;
  async function* source(): AsyncGenerator<Buffer> {
    pulled += head.length;
    yield head;
    for (let i = 0; i < claimed / 65536; i++) {
      pulled += 65536;
      yield Buffer.alloc(65536, 0x20);
    }
  }
  await t.rejects(readAll(source(), []), {
    code: 'WARREN_IMAGE_IMPORT_HEADER_LIMIT',
    message: `refusing the pax header at offset 0: payload of ${claimed} bytes, more than ${TAR_LIMITS.metaBytes}`,
  });
  t.ok(pulled <= 512 + 65536, `read ${pulled} bytes of ${claimed + 512}`);
});

t.test('a run of header entries, and a name longer than PATH_MAX, are refused naming where', async (t) => {
  const run = Array.from({ length: TAR_LIMITS.metaRun + 1 }, () => ({ name: 'PaxHeader', type: 'x', data: paxRecord('mtime', '1') }));
  await t.rejects(readAll(counted(tar([...run, { name: 'f', data: 'x' }])).source, []), {
    code: 'WARREN_IMAGE_IMPORT_HEADER_LIMIT',
    message: `refusing a header entry at offset ${TAR_LIMITS.metaRun * 1024}: more than ${TAR_LIMITS.metaRun} header entries in a row`,
  });

  const long = `${'d/'.repeat(2100)}f`;
  await t.rejects(readAll(counted(tar([{ name: 'ok', data: 'x' }, { name: long, data: 'x' }])).source, []), {
    code: 'WARREN_IMAGE_IMPORT_HEADER_LIMIT',
    message: /^refusing entry 'd\/d\/d\/.*\.\.\.' at offset 6144: the name of 4201 bytes, more than 4096$/,
  });
});
