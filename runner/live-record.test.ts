import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { LIVE_RECORD_FILE, LiveRecord, readLiveRecord } from './live-record.js';

t.test('the live record: what ran and how busy, for the next server on this state dir', async (t) => {
  const run = fs.mkdtempSync(path.join(os.tmpdir(), 'wrn-live-'));
  t.teardown(() => fs.rmSync(run, { recursive: true, force: true }));
  t.same(readLiveRecord(run, '/state'), [], 'no record: nothing to start');
  const counts = new Map([['busy', 100], ['quiet', 1], ['gone', 50]]);
  const record = new LiveRecord(run, '/state', { live: () => ['busy', 'quiet', 'busy'], requests: () => new Map(counts) }, 20);
  await new Promise((r) => setTimeout(r, 70));
  const read = readLiveRecord(run, '/state');
  t.same(read.map((f) => f.fn).sort(), ['busy', 'quiet'], 'only functions with instances, once each');
  t.ok((read.find((f) => f.fn === 'busy')?.score ?? 0) > (read.find((f) => f.fn === 'quiet')?.score ?? 0), 'the busier scores higher');
  t.same(readLiveRecord(run, '/other-state'), [], "another state dir's record is not this one's");
  record.close();
  t.notOk(fs.existsSync(path.join(run, LIVE_RECORD_FILE)), 'a clean stop removes it');
  record.close();
  fs.writeFileSync(path.join(run, LIVE_RECORD_FILE), '{"state":"/state","functions":[{"fn":1},');
  t.same(readLiveRecord(run, '/state'), [], 'a torn record is no record');
});
