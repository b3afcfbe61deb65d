/**
 * Where an HTTP/1.1 answer ends, by its own framing (RFC 9112 6.3): the bench's clocks stop at the
 * answer's last byte, as a client's (curl's total, wrk's latency) do, not at the server's close of
 * the connection, which node sends a loop turn after the answer (0.25-0.45 ms on this VM).
 * Pure, so it is tested as a table.
 */

/**
 * Whether `text` (what came so far, latin1) holds a whole answer: the head, then Content-Length
 * bytes, or chunks up to the last one and its trailers. False while it may go on; an answer with
 * neither framing ends only with the connection (`closeDelimited`). A 1xx head is skipped.
 */
export function answerComplete(text: string): boolean | 'closeDelimited' {
  let at = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) return false;
    const head = text.slice(at, end);
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!status) return 'closeDelimited';
    const bodyAt = end + 4;
    const code = Number(status[1]);
    if (code >= 100 && code < 200) {
      at = bodyAt;
      continue;
    }
    if (code === 204 || code === 304) return true;
    const chunked = /\r\ntransfer-encoding:[^\r]*\bchunked\b/i.test(head);
    if (chunked) return chunkedEnd(text, bodyAt);
    const length = /\r\ncontent-length:\s*(\d+)\s*(?:\r|$)/i.exec(head);
    if (length) return text.length - bodyAt >= Number(length[1]);
    return 'closeDelimited';
  }
}

/** Whether the chunked body from `at` is whole: its zero-size chunk and the trailers' empty line. */
function chunkedEnd(text: string, at: number): boolean {
  for (;;) {
    const eol = text.indexOf('\r\n', at);
    if (eol < 0) return false;
    const size = parseInt(text.slice(at, eol).split(';')[0] ?? '', 16);
    if (!Number.isFinite(size)) return false;
    if (size === 0) {
      // trailers, each a line, then an empty line
      let line = eol + 2;
      for (;;) {
        const next = text.indexOf('\r\n', line);
        if (next < 0) return false;
        if (next === line) return true;
        line = next + 2;
      }
    }
    at = eol + 2 + size + 2;
    if (at > text.length) return false;
  }
}
