/**
 * The little of the DNS wire format (RFC 1035 §4.1) the forwarder needs: it relays messages as
 * bytes and never interprets an answer, so it only reads the header and walks the question to
 * answer SERVFAIL itself. Pure.
 *
 *   0  ID (16)
 *   2  QR(1) OPCODE(4) AA(1) TC(1) RD(1) | RA(1) Z(3) RCODE(4)
 *   4  QDCOUNT  6 ANCOUNT  8 NSCOUNT  10 ARCOUNT
 *   12 question: QNAME (labels, a zero byte ends it) QTYPE(16) QCLASS(16)
 */

export const HEADER_BYTES = 12;
const RCODE_SERVFAIL = 2;

/** A message that says it is a query (QR clear) and has at least a header. */
export function isQuery(msg: Buffer): boolean {
  return msg.length >= HEADER_BYTES && (msg[2]! & 0x80) === 0;
}

/** Whether `answer` is a response (QR set) carrying the ID of `query`. */
export function answers(answer: Buffer, query: Buffer): boolean {
  return answer.length >= HEADER_BYTES && (answer[2]! & 0x80) !== 0 && answer.readUInt16BE(0) === query.readUInt16BE(0);
}

/**
 * Where the first question ends, or undefined when the message holds none that parses. A query
 * carries plain labels only (compression pointers need something before them to point at).
 */
function questionEnd(msg: Buffer): number | undefined {
  if (msg.readUInt16BE(4) < 1) return undefined;
  let at = HEADER_BYTES;
  for (let labels = 0; labels < 128; labels++) {
    const len = msg[at];
    if (len === undefined || len > 63) return undefined;
    at += 1 + len;
    if (len === 0) return at + 4 <= msg.length ? at + 4 : undefined;
  }
  return undefined;
}

/**
 * SERVFAIL for `query`: its ID, opcode and RD, with its first question when that parses (a
 * resolver matches the answer to its question; without one it still stops waiting on the ID).
 */
export function servfail(query: Buffer): Buffer {
  const end = questionEnd(query);
  const out = Buffer.alloc(end ?? HEADER_BYTES);
  query.copy(out, 0, 0, 2);
  out[2] = 0x80 | (query[2]! & 0x79); // QR, the query's OPCODE and RD; AA and TC clear
  out[3] = 0x80 | RCODE_SERVFAIL; // RA: we recurse through the upstream
  if (end !== undefined) {
    out.writeUInt16BE(1, 4);
    query.copy(out, HEADER_BYTES, HEADER_BYTES, end);
  }
  return out;
}

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
const RCODE_NXDOMAIN = 3;

/** The first question: its name in lower case without the final dot, its type and class. */
export function questionOf(msg: Buffer): { name: string; type: number; klass: number } | undefined {
  const end = questionEnd(msg);
  if (end === undefined) return undefined;
  const labels: string[] = [];
  for (let at = HEADER_BYTES; msg[at]! > 0; at += 1 + msg[at]!) labels.push(msg.toString('latin1', at + 1, at + 1 + msg[at]!));
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(end - 4), klass: msg.readUInt16BE(end - 2) };
}

/**
 * An authoritative answer to `query` (its ID, RD and first question): an A record per address
 * (a short TTL: the name goes when its sandbox does), none (NOERROR, "no such type": AAAA of a
 * name we know) or NXDOMAIN when `addresses` is undefined.
 */
export function answer(query: Buffer, addresses: readonly string[] | undefined, ttl = 5): Buffer {
  const end = questionEnd(query) as number;
  const records = (addresses ?? []).map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc000 | HEADER_BYTES, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((octet, i) => (rr[12 + i] = Number(octet)));
    return rr;
  });
  const head = Buffer.alloc(end);
  query.copy(head, 0, 0, end);
  head[2] = 0x84 | (query[2]! & 0x79); // QR, AA, the query's OPCODE and RD
  head[3] = 0x80 | (addresses === undefined ? RCODE_NXDOMAIN : 0);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(records.length, 6);
  head.writeUInt16BE(0, 8);
  head.writeUInt16BE(0, 10); // an EDNS OPT record of the query is not echoed: plain DNS is fine
  return Buffer.concat([head, ...records]);
}
