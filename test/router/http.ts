/** A small HTTP client for the router's tests: node's own, so a test can stop mid-body. */
import http from 'node:http';

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
