/** What a client still sending a body past a limit must see, for the router's two listeners. */
import type { Test } from 'tap';
import { LINGER_MS } from '../../router/linger.js';
import { upload } from './http.js';

const MiB = 1024 * 1024;
const FRAMINGS = [
  ['a declared 1 GiB', `Content-Length: ${1024 * MiB}`, false],
  ['a chunked', 'Transfer-Encoding: chunked', true],
] as const;

/**
 * By a declared 1 GiB and chunked: each of `clients` clients, sending up to `total` bytes and
 * reading between its writes, reads its 413 before `answeredBy(chunked)` bytes went out; and one
 * that sends on after the answer is cut within LINGER_MS (and 2 s of slack). `head(framing)` is
 * the request's head with the framing header in it.
 */
export async function refusedWhileSending(t: Test, port: number, head: (framing: string) => string, o: { clients: number; total: number; answeredBy: (chunked: boolean) => number }): Promise<void> {
  for (const [what, framing, chunked] of FRAMINGS) {
    const got = [];
    for (let i = 0; i < o.clients; i++) got.push(await upload(port, head(framing), { total: o.total, chunked }));
    t.same(got.map((g) => g.status), got.map(() => 413), `${what} body: every client read its 413`);
    t.ok(got.every((g) => g.sentBeforeAnswer < o.answeredBy(chunked)), `${what} body: answered at the limit (${got.map((g) => g.sentBeforeAnswer).join(', ')} bytes sent)`);
    // and one that goes on sending after it: the connection is not kept for it
    const deaf = await upload(port, head(framing), { total: o.total, chunked, ignoreAnswer: true });
    t.equal(deaf.status, 413, `${what} body, sent on after the answer: 413`);
    t.ok(deaf.cutAfterMs >= 0 && deaf.cutAfterMs < LINGER_MS + 2000, `${what} body, sent on after the answer: cut ${deaf.cutAfterMs} ms after it`);
  }
}
