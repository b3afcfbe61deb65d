import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { answerHead } from './answer.js';
import { answerComplete } from './answer-end.js';

t.test("an answer's end, by its framing", async (t) => {
  const head = (h: string) => `HTTP/1.1 200 OK\r\n${h}\r\n\r\n`;
  const cases: Array<[string, string, boolean | 'closeDelimited']> = [
    ['nothing yet', '', false],
    ['a head cut short', 'HTTP/1.1 200 OK\r\nContent-Le', false],
    ['a length, body short', head('Content-Length: 5') + 'hell', false],
    ['a length, body whole', head('Content-Length: 5') + 'hello', true],
    ['the length named in any case', head('content-length: 0'), true],
    ['chunked, no last chunk yet', head('Transfer-Encoding: chunked') + '5\r\nhello\r\n', false],
    ['chunked, a chunk cut short', head('Transfer-Encoding: chunked') + '5\r\nhel', false],
    ['chunked, last chunk without its empty line', head('Transfer-Encoding: chunked') + '5\r\nhello\r\n0\r\n', false],
    ['chunked, whole', head('Transfer-Encoding: chunked') + '5\r\nhello\r\n0\r\n\r\n', true],
    ['chunked, data that looks like the end is data', head('transfer-encoding: chunked') + 'a\r\n0\r\n\r\n0123\r\n', false],
    ['chunked, a chunk extension and trailers', head('Transfer-Encoding: chunked') + '3;x=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n', true],
    ['chunked, trailers cut short', head('Transfer-Encoding: chunked') + '0\r\nX-T: 1\r\n', false],
    ['chunked wins over a length', head('Content-Length: 100\r\nTransfer-Encoding: chunked') + '0\r\n\r\n', true],
    ['no framing: until the close', head('Content-Type: text/plain') + 'hello', 'closeDelimited'],
    ['a 204 has no body', 'HTTP/1.1 204 No Content\r\nX: 1\r\n\r\n', true],
    ['a 100 Continue first', 'HTTP/1.1 100 Continue\r\n\r\n' + head('Content-Length: 2') + 'ok', true],
    ['only a 100 Continue', 'HTTP/1.1 100 Continue\r\n\r\n', false],
    ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n', 'closeDelimited'],
  ];
  for (const [name, text, want] of cases) t.equal(answerComplete(text), want, name);
});

t.test('answerHead resolves at the last byte, before the server closes', async (t) => {
  // the server answers whole, then holds the connection open: only the framing can end the wait
  const held: import('node:net').Socket[] = [];
  const server = http.createServer((req, res) => {
    held.push(req.socket);
    const chunked = req.url === '/chunked';
    res.writeHead(200, chunked ? {} : { 'content-length': '5' });
    if (chunked) res.write('hel');
    res.end(chunked ? 'lo' : 'hello');
    req.socket.destroySoon = () => {}; // node's close after a Connection: close answer, held
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of held) s.destroy();
    server.close();
  });
  const target = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
  for (const path of ['/length', '/chunked']) {
    const answer = await answerHead(target, path, AbortSignal.timeout(2000));
    t.equal(answer.status, 200, `${path}: answered before the connection closed`);
  }
});
