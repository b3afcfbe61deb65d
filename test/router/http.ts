/** A small HTTP client for the router's tests: node's own, so a test can stop mid-body. */
import http from 'node:http';
import net from 'node:net';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(url: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The answer's head, with the request still open for writing. */
export function open(url: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders } = {}): { req: http.ClientRequest; response: Promise<http.IncomingMessage> } {
  const req = http.request(url, { method: opts.method ?? 'POST', headers: opts.headers, agent: false });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  });
  response.catch(() => {}); // a test that cuts the request never awaits it
  req.flushHeaders();
  return { req, response };
}

export function nextChunk(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    res.once('data', (c: Buffer) => resolve(c.toString()));
    res.once('error', reject);
  });
}

export function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString()));
    res.on('error', reject);
  });
}

/** Sends `head` (a request's head, its body held back) and resolves with the first status line
 * the server answers: `HTTP/1.1 100 Continue` or a final one ('' when it closed first). */
export function firstStatusLine(port: number, head: string): Promise<string> {
  return new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) {
        s.destroy();
        resolve(got.split('\r\n')[0] as string);
      }
    });
    s.on('error', () => resolve(got));
    s.on('close', () => resolve(got));
    s.write(head);
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `total` bytes to `out` as fast as it takes them, then ends it; `sent()` says how far it got. */
export function pump(out: NodeJS.WritableStream, total: number, chunkBytes = 64 * 1024): { sent: () => number } {
  const chunk = Buffer.alloc(chunkBytes, 'x');
  let sent = 0;
  const more = (): void => {
    while (sent < total) {
      sent += chunk.length;
      if (!out.write(chunk)) return void out.once('drain', more);
    }
    out.end();
  };
  more();
  return { sent: () => sent };
}

export interface Upload {
  /** The answer's status, 0 when none came. */
  status: number;
  /** Bytes written before the answer's first byte came. */
  sentBeforeAnswer: number;
  /** With `ignoreAnswer`: from the answer's first byte to the end of the connection, ms (-1: it
   * did not end within `ms`). */
  cutAfterMs: number;
}

/**
 * Sends `head` on a raw connection to `port`, then 64 KiB chunks of body up to `total` bytes,
 * reading between writes (as curl does) and stopping at the answer's first byte; or, with
 * `ignoreAnswer`, going on with a chunk every 50 ms (its own side kept open) until the server
 * ends the connection.
 */
export function upload(port: number, head: string, opts: { total: number; chunked?: boolean; ignoreAnswer?: boolean; ms?: number }): Promise<Upload> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: opts.ignoreAnswer === true });
    const data = Buffer.alloc(64 * 1024, 'x');
    const chunk = opts.chunked ? Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]) : data;
    let text = '';
    let sent = 0;
    let answeredAt = -1;
    let sentBeforeAnswer = -1;
    const finish = (ended: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), sentBeforeAnswer: sentBeforeAnswer < 0 ? sent : sentBeforeAnswer, cutAfterMs: ended && answeredAt >= 0 ? Date.now() - answeredAt : -1 });
    };
    const timer = setTimeout(() => finish(false), opts.ms ?? 10_000);
    s.on('data', (d: Buffer) => {
      if (answeredAt < 0) {
        answeredAt = Date.now();
        sentBeforeAnswer = sent;
      }
      text += d.toString('latin1');
    });
    s.on('error', () => {});
    s.on('close', () => finish(true));
    const next = (): void => {
      if (s.destroyed) return;
      if (answeredAt >= 0 && !opts.ignoreAnswer) return;
      if (answeredAt < 0 && sent >= opts.total) return;
      sent += data.length;
      s.write(chunk, () => (answeredAt >= 0 ? setTimeout(next, 50) : setImmediate(next)));
    };
    s.write(head, next);
  });
}
