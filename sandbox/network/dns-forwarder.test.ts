/**
 * The DNS forwarder on loopback, without root: it listens on 127.0.0.1 at a free port and relays
 * to fake upstreams on 127.0.0.x at another; every byte stays on this machine. The real thing on
 * a bridge, with nftables and sandboxes, is test/integration/dns.test.ts.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { DnsForwarder, type DnsForwarderOptions } from './dns-forwarder.js';
import { servfail } from './dns-message.js';
import { publishNames } from './names.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-dnsfwd-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A query for `name` type A with ID `id`, RD set. */
function query(id: number, name = 'web.warren-test'): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

/** The query turned into an answer: QR set, and a marker byte after it so a relay is seen whole. */
const answerTo = (q: Buffer) => Buffer.concat([q.subarray(0, 2), Buffer.from([0x81, 0x80]), q.subarray(4), Buffer.from('ok')]);

/** A port free for both TCP and UDP on 127/8 just now (the forwarder and the fakes use both). */
async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const tcp = net.createServer();
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const { port } = tcp.address() as net.AddressInfo;
    const udp = dgram.createSocket('udp4');
    const free = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    if (free) await new Promise<void>((r) => udp.close(() => r()));
    await new Promise<void>((r) => tcp.close(() => r()));
    if (free) return port;
  }
  throw new Error('no port free for both tcp and udp in 20 tries');
}

/** A fake upstream at ip:port, UDP and TCP, answering every query unless `silent`. */
async function upstream(t: { teardown(fn: () => unknown): void }, ip: string, port: number, silent = false): Promise<{ seen: () => number }> {
  let seen = 0;
  const udp = dgram.createSocket('udp4');
  udp.on('message', (m, r) => {
    seen++;
    if (!silent) udp.send(answerTo(m), r.port, r.address);
  });
  await new Promise<void>((r) => udp.bind(port, ip, r));
  const tcp = net.createServer((s) => s.on('data', (d) => {
    seen++;
    const a = answerTo(d.subarray(2));
    if (!silent) s.write(Buffer.concat([Buffer.from([a.length >> 8, a.length & 255]), a]));
  }));
  await new Promise<void>((r) => tcp.listen(port, ip, r));
  t.teardown(() => {
    udp.close();
    tcp.close();
  });
  return { seen: () => seen };
}

async function forwarder(t: { teardown(fn: () => unknown): void }, servers: string[], extra: Partial<DnsForwarderOptions> = {}): Promise<DnsForwarder> {
  const resolvConf = path.join(dir, `resolv-${Math.random()}`);
  fs.writeFileSync(resolvConf, servers.map((s) => `nameserver ${s}\n`).join(''));
  const fwd = await DnsForwarder.start({ address: '127.0.0.1', port: await freePort(), subnet: '127.0.0.0/8', resolvConf, timeoutMs: 300, ...extra });
  t.teardown(() => fwd.close());
  return fwd;
}

/** One UDP query to the forwarder; its answer, or undefined after `ms`. */
async function ask(fwd: DnsForwarder, q: Buffer, ms = 1500): Promise<Buffer | undefined> {
  const s = dgram.createSocket('udp4');
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), ms);
      s.on('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      s.send(q, fwd.port, fwd.address);
    });
  } finally {
    s.close();
  }
}

/** One query over TCP (from `from`, an address of 127/8); its answer, or undefined when the
 * connection ends without one. */
function askTcp(fwd: DnsForwarder, q: Buffer, from = '127.0.0.1'): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ port: fwd.port, host: fwd.address, localAddress: from });
    let got = Buffer.alloc(0);
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        s.destroy();
        resolve(got.subarray(2, 2 + got.readUInt16BE(0)));
      }
    });
    s.on('close', () => resolve(undefined));
    s.on('error', () => {});
    s.end(Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]));
  });
}

t.test('relays a query and its answer as bytes, over UDP and TCP', async (t) => {
  const port = await freePort();
  await upstream(t, '127.0.0.1', port);
  const fwd = await forwarder(t, ['127.0.0.1'], { upstreamPort: port });
  const q = query(0x1234);
  t.same(await ask(fwd, q), answerTo(q), 'udp');
  t.same(await askTcp(fwd, query(7)), answerTo(query(7)), 'tcp');
  t.equal(fwd.stats.forwarded, 2);
});

t.test('the next upstream when one is silent or refuses; SERVFAIL when none answers', async (t) => {
  const port = await freePort();
  const silent = await upstream(t, '127.0.0.3', port, true);
  const good = await upstream(t, '127.0.0.4', port);
  // 127.0.0.2: nothing listens, so the kernel refuses
  const fwd = await forwarder(t, ['127.0.0.2', '127.0.0.3', '127.0.0.4'], { upstreamPort: port });
  const q = query(99);
  t.same(await ask(fwd, q), answerTo(q), 'the third server answered');
  t.equal(silent.seen(), 1, 'after the silent one was asked');
  t.equal(good.seen(), 1);
  const none = await forwarder(t, ['127.0.0.2', '127.0.0.3'], { upstreamPort: port });
  const started = Date.now();
  t.same(await ask(none, q), servfail(q), 'every server failed: SERVFAIL');
  t.ok(Date.now() - started < 1500, 'within the timeout per server');
  t.equal(none.stats.failed, 1);
});

t.test('no upstream at all (an empty resolv.conf): SERVFAIL at once', async (t) => {
  const fwd = await forwarder(t, []);
  const answer = await ask(fwd, query(5), 500);
  t.same(answer, servfail(query(5)));
  t.equal(answer?.[3]! & 0x0f, 2, 'rcode SERVFAIL');
});

t.test('a resolv.conf naming the forwarder itself: not asked (no loop)', async (t) => {
  const port = await freePort();
  const fwd = await forwarder(t, ['127.0.0.1'], { port, upstreamPort: port });
  t.same(await ask(fwd, query(6), 500), servfail(query(6)));
  t.same([fwd.stats.failed, fwd.stats.forwarded], [1, 0], 'one query, answered SERVFAIL at once');
});

t.test('a query from outside the subnet, an answer-shaped or oversized message: ignored', async (t) => {
  const port = await freePort();
  const up = await upstream(t, '127.0.0.1', port);
  const outside = await forwarder(t, ['127.0.0.1'], { upstreamPort: port, subnet: '10.0.0.0/8' });
  t.equal(await ask(outside, query(1), 400), undefined, 'udp from 127.0.0.1: no answer');
  t.equal(await askTcp(outside, query(2)), undefined, 'tcp from 127.0.0.1: closed, no answer');
  t.equal(outside.stats.refused, 2);
  t.equal(up.seen(), 0, 'nothing reached the upstream');
  const fwd = await forwarder(t, ['127.0.0.1'], { upstreamPort: port });
  t.equal(await ask(fwd, answerTo(query(3)), 400), undefined, 'an answer is not relayed');
  t.equal(await ask(fwd, Buffer.alloc(5), 400), undefined, 'shorter than a header');
  t.equal(await ask(fwd, Buffer.concat([query(4), Buffer.alloc(5000)]), 400), undefined, 'bigger than MAX_QUERY_BYTES');
  t.equal(fwd.stats.dropped, 3);
  t.equal(up.seen(), 0);
});

t.test('one source holding TCP connections gets at most its share; another source is still answered', async (t) => {
  const port = await freePort();
  await upstream(t, '127.0.0.1', port);
  const fwd = await forwarder(t, ['127.0.0.1'], { upstreamPort: port, maxConnectionsPerSource: 3 });
  const held = await Promise.all(Array.from({ length: 10 }, () => new Promise<net.Socket>((resolve) => {
    const s = net.connect({ port: fwd.port, host: fwd.address, localAddress: '127.0.0.1' }, () => resolve(s));
    s.on('error', () => {});
  })));
  t.teardown(() => held.forEach((s) => s.destroy()));
  await new Promise((r) => setTimeout(r, 200)); // the forwarder sees each and drops those past the share
  t.equal(held.filter((s) => !s.destroyed && s.readyState === 'open').length, 3, 'three of its ten stay open');
  t.same(await askTcp(fwd, query(9), '127.0.0.2'), answerTo(query(9)), 'another source is answered over TCP');
  t.equal(await askTcp(fwd, query(10), '127.0.0.1'), undefined, 'the first, at its share, is refused');
});

t.test('sources that together hold every TCP connection, each within its share, cannot shut a third out', async (t) => {
  const port = await freePort();
  await upstream(t, '127.0.0.1', port);
  const fwd = await forwarder(t, ['127.0.0.1'], { upstreamPort: port, maxConnections: 6, maxConnectionsPerSource: 3 });
  const hold = (from: string) =>
    new Promise<net.Socket>((resolve) => {
      const s = net.connect({ port: fwd.port, host: fwd.address, localAddress: from }, () => resolve(s));
      s.on('error', () => {});
    });
  const held = [...(await Promise.all([1, 2, 3].map(() => hold('127.0.0.1')))), ...(await Promise.all([1, 2, 3].map(() => hold('127.0.0.2'))))];
  t.teardown(() => held.forEach((s) => s.destroy()));
  await new Promise((r) => setTimeout(r, 200));
  t.equal(held.filter((s) => !s.destroyed && s.readyState === 'open').length, 6, 'two sources hold all six');
  t.same(await askTcp(fwd, query(11), '127.0.0.3'), answerTo(query(11)), 'a third source is answered over TCP');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(held.filter((s) => !s.destroyed && s.readyState === 'open').length, 5, 'by taking the oldest connection of one that held the most');
  t.equal(await askTcp(fwd, query(12), '127.0.0.2'), undefined, 'a source at its share is still refused');
});

t.test('queries over the in-flight bound are dropped, not queued', async (t) => {
  const port = await freePort();
  await upstream(t, '127.0.0.3', port, true);
  const fwd = await forwarder(t, ['127.0.0.3'], { upstreamPort: port, maxInFlight: 2, timeoutMs: 500 });
  const answers = await Promise.all([1, 2, 3, 4].map((id) => ask(fwd, query(id), 1500)));
  t.equal(answers.filter((a) => a !== undefined).length, 2, 'two SERVFAILs');
  t.equal(fwd.stats.dropped, 2);
});

t.test('close is idempotent and frees the port', async (t) => {
  const fwd = await forwarder(t, []);
  await fwd.close();
  await fwd.close();
  const again = await DnsForwarder.start({ address: '127.0.0.1', port: fwd.port, subnet: '127.0.0.0/8', resolvConf: '/dev/null' });
  await again.close();
  t.pass();
});

t.test('two forwarders on one address (two warren processes, one bridge): both start, the later takes TCP over', async (t) => {
  const port = await freePort();
  await upstream(t, '127.0.0.1', port);
  const first = await forwarder(t, ['127.0.0.1'], { upstreamPort: port });
  const second = await forwarder(t, ['127.0.0.1'], { upstreamPort: port, port: first.port });
  t.same(await ask(second, query(1)), answerTo(query(1)), 'udp: one of them answers');
  t.same(await askTcp(second, query(2)), answerTo(query(2)), 'tcp: the first answers');
  await first.close();
  t.same(await ask(second, query(3)), answerTo(query(3)), 'udp after the first closed: the second');
  let answer: Buffer | undefined;
  for (let i = 0; i < 30 && !answer; i++) {
    await new Promise((r) => setTimeout(r, 200));
    answer = await askTcp(second, query(4));
  }
  t.same(answer, answerTo(query(4)), 'tcp: the second listens once the port is free');
});

t.test('servfail keeps the ID, opcode, RD and question', async (t) => {
  const q = query(0xbeef);
  const f = servfail(q);
  t.same([...f.subarray(0, 12)], [0xbe, 0xef, 0x81, 0x82, 0, 1, 0, 0, 0, 0, 0, 0]);
  t.same(f.subarray(12), q.subarray(12), 'the question');
  t.same(servfail(Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 99])), Buffer.from([0, 1, 0x80, 0x82, 0, 0, 0, 0, 0, 0, 0, 0]), 'a question that does not parse: the header alone');
});

t.test("a user network's server: its names, live; other names relayed only for sandboxes with egress", async (t) => {
  const port = await freePort();
  const up = await upstream(t, '127.0.0.1', port);
  const names = fs.mkdtempSync(path.join(dir, 'names-'));
  const fwd = await forwarder(t, ['127.0.0.1'], { upstreamPort: port, names: { dir: names, internal: false } });
  const withType = (q: Buffer, type: number) => Buffer.concat([q.subarray(0, -4), Buffer.from([0, type, 0, 1])]);
  const unpublish = publishNames(names, '127.0.0.9', { pid: process.pid, names: ['db', 'Database'], relay: false });
  // the asker, 127.0.0.1, has no record yet: no egress known, nothing relayed
  const a = await ask(fwd, query(1, 'DB'));
  t.same([a?.[2]! & 0x84, a?.[3]! & 0x0f, a?.readUInt16BE(6)], [0x84, 0, 1], 'an authoritative answer, one record (names are case-insensitive)');
  t.same([...(a as Buffer).subarray(-4)], [127, 0, 0, 9], 'the address of the sandbox named db');
  t.equal((await ask(fwd, query(2, 'database')))?.readUInt16BE(6), 1, 'an alias too');
  const aaaa = await ask(fwd, withType(query(3, 'db'), 28));
  t.same([aaaa?.[3]! & 0x0f, aaaa?.readUInt16BE(6)], [0, 0], 'AAAA of a known name: no records, no error');
  const other = await ask(fwd, query(4, 'web.warren-test'));
  t.equal(other?.[3]! & 0x0f, 3, 'another name from a sandbox without egress: NXDOMAIN');
  t.equal(up.seen(), 0, 'not relayed');
  publishNames(names, '127.0.0.1', { pid: process.pid, names: [], relay: true });
  const q = query(5, 'web.warren-test');
  t.same(await ask(fwd, q), answerTo(q), 'relayed for a sandbox with egress');
  unpublish();
  t.equal((await ask(fwd, query(6, 'db')))?.[3]! & 0x0f, 0, 'gone with its record: relayed now, as any name');
  publishNames(names, '127.0.0.8', { pid: 0x3fffffff, names: ['ghost'], relay: false });
  t.same(await ask(fwd, query(7, 'ghost')), answerTo(query(7, 'ghost')), "a dead owner's name is not answered");
  t.notOk(fs.existsSync(path.join(names, '127.0.0.8')), 'and its record is swept');
  const internal = await forwarder(t, ['127.0.0.1'], { upstreamPort: port, names: { dir: names, internal: true } });
  const seen = up.seen();
  t.equal((await ask(internal, query(8, 'web.warren-test')))?.[3]! & 0x0f, 3, 'internal: NXDOMAIN, whatever the record says');
  t.equal(up.seen(), seen, 'nothing relayed');
});
