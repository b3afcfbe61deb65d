import t from 'tap';
import { route } from './routing.js';

t.test('path and host routing', async (t) => {
  const cases: Array<[url: string, host: string | undefined, domain: string | undefined, expected: ReturnType<typeof route>]> = [
    ['/hello/a/b?x=1', 'localhost:8080', undefined, { fn: 'hello', path: '/a/b?x=1' }],
    ['/hello', undefined, undefined, { fn: 'hello', path: '/' }],
    ['/hello/', undefined, undefined, { fn: 'hello', path: '/' }],
    ['/hello?x=1', undefined, undefined, { fn: 'hello', path: '/?x=1' }],
    ['/hello//x', undefined, undefined, { fn: 'hello', path: '//x' }],
    ['/v1/functions', undefined, undefined, { fn: 'v1', path: '/functions' }],
    ['/hello/__warren/health', undefined, undefined, { fn: 'hello', path: '/__warren/health' }],
    ['/', undefined, undefined, { missing: '' }],
    ['/?x=1', undefined, undefined, { missing: '' }],
    ['/Hello/', undefined, undefined, { missing: 'Hello' }],
    ['/a.b/', undefined, undefined, { missing: 'a.b' }],
    ['/-x/', undefined, undefined, { missing: '-x' }],
    ['/%68ello/', undefined, undefined, { missing: '%68ello' }],
    ['http://evil/hello/', undefined, undefined, { missing: '' }],
    ['*', undefined, undefined, { missing: '' }],
    // host routing: the URL is the function's, whole
    ['/a/b?x=1', 'hello.fn.example', 'fn.example', { fn: 'hello', path: '/a/b?x=1', byHost: true }],
    ['/', 'HELLO.Fn.Example:8080', 'fn.example', { fn: 'hello', path: '/', byHost: true }],
    ['/', 'hello.fn.example.', 'fn.example', { fn: 'hello', path: '/', byHost: true }],
    ['/x', 'a.b.fn.example', 'fn.example', { missing: 'a.b' }],
    // the domain itself, another host, or a look-alike fall back to path routing
    ['/hello/x', 'fn.example', 'fn.example', { fn: 'hello', path: '/x' }],
    ['/hello/x', 'hellofn.example', 'fn.example', { fn: 'hello', path: '/x' }],
    ['/hello/x', '127.0.0.1:8080', 'fn.example', { fn: 'hello', path: '/x' }],
    ['/hello/x', '[::1]:8080', 'fn.example', { fn: 'hello', path: '/x' }],
    ['/hello/x', 'hello.fn.example', undefined, { fn: 'hello', path: '/x' }],
  ];
  for (const [url, host, domain, expected] of cases) {
    t.same(route(url, host, domain), expected, `${host ?? '-'} ${url} (domain ${domain ?? '-'})`);
  }
});
