import t from 'tap';
import { invokeUrl, parseInvokeArgs } from './invoke.js';

const ARG = { code: 'WARREN_ARG_INVALID' };

t.test('a GET of / unless told otherwise', async (t) => {
  t.match(parseInvokeArgs(['hello']), { name: 'hello', path: '/', method: 'GET', headers: [], data: undefined, include: false, fail: false });
  t.match(parseInvokeArgs(['hello', 'users/7?x=1']), { path: '/users/7?x=1' }, 'a path without its / gets one');
});

t.test("curl's options: -X, -H (repeatable), --data from text, a file or stdin, -i, --fail", async (t) => {
  const a = parseInvokeArgs(['hello', '/echo', '-X', 'put', '-H', 'Content-Type: application/json', "-HX-Two:  b c ", '--data', '{"a":1}', '-i', '--fail']);
  t.match(a, { method: 'PUT', path: '/echo', headers: [['Content-Type', 'application/json'], ['X-Two', 'b c']], data: { from: 'text', text: '{"a":1}' }, include: true, fail: true });
  t.match(parseInvokeArgs(['hello', '-d', '@body.bin']), { method: 'POST', data: { from: 'file', path: 'body.bin' } }, 'a body makes it a POST');
  t.match(parseInvokeArgs(['hello', '--data=-']), { method: 'POST', data: { from: 'stdin' } });
  t.match(parseInvokeArgs(['hello', '-XPATCH', '-d', 'x']), { method: 'PATCH' });
  t.match(parseInvokeArgs(['hello', '--json']), { args: { json: true } });
});

t.test('mistakes', async (t) => {
  t.throws(() => parseInvokeArgs(['hello', '-H', 'no colon']), { ...ARG, message: /invalid header 'no colon'/ });
  t.throws(() => parseInvokeArgs(['hello', '-H', ': empty name']), { ...ARG, message: /invalid header/ });
  t.throws(() => parseInvokeArgs(['hello', '-X', 'GET', '-d', 'x']), { ...ARG, message: /a GET request has no body/ });
  t.throws(() => parseInvokeArgs(['hello', '-X', 'BAD METHOD']), { ...ARG, message: /invalid method/ });
  t.throws(() => parseInvokeArgs([]), ARG);
  t.throws(() => parseInvokeArgs(['hello', '/a', '/b']), ARG);
});

t.test('the path goes under the function URL', async (t) => {
  t.equal(invokeUrl('http://127.0.0.1:8080/hello/', '/'), 'http://127.0.0.1:8080/hello/');
  t.equal(invokeUrl('http://127.0.0.1:8080/hello/', '/a/b?c=1'), 'http://127.0.0.1:8080/hello/a/b?c=1');
  t.equal(invokeUrl('http://hello.fn.test:8080/', '/a'), 'http://hello.fn.test:8080/a', 'a function on its own host');
});
