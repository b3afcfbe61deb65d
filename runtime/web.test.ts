/**
 * The Workers globals a function sees (web.ts, request.ts): light Request and Response objects
 * until the function asks for more, then undici's, and the same answers either way. Run in the
 * bundle as a plain node process, as serve.test.ts does.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { listening } from '../test/runtime-harness.js';

const FN = `
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const p = url.pathname;
    if (p === '/classes') {
      const made = new Response('x');
      const fetched = await fetch(url.searchParams.get('upstream'));
      return Response.json({
        light: made instanceof Response,
        fetched: fetched instanceof Response,
        fetchedText: await fetched.text(),
        request: request instanceof Request,
        made: new Request('http://a.example/') instanceof Request,
        error: Response.error() instanceof Response,
        headers: new Headers({ a: '1' }).get('a'),
        ok: made.ok,
        status: new Response(null, { status: 204 }).status,
        type: made.type,
        madeText: await new Response(new Uint8Array([104, 105])).text(),
        defaultType: new Response('s').headers.get('content-type'),
        redirect: Response.redirect('http://a.example/b', 301).headers.get('location'),
      });
    }
    if (p === '/mutate') {
      const r = new Response('mutated', { headers: { 'x-a': '1' } });
      r.headers.set('x-b', '2');
      return r;
    }
    if (p === '/clone') {
      const copy = request.clone();
      return new Response((await copy.text()) + '|' + (await request.text()));
    }
    if (p === '/proxy') return fetch(new Request(url.searchParams.get('upstream'), request));
    if (p === '/bad-status') return new Response('x', { status: 700 });
    if (p === '/bad-header') return new Response('x', { headers: { 'bad name': 'v' } });
    if (p === '/twice') { await request.text(); return new Response(await request.text()); }
    if (p === '/json') return Response.json(await request.json(), { status: 202, headers: { 'X-Case': 'Kept' } });
    if (p === '/form') return new Response((await request.formData()).get('a'));
    if (p === '/read-headers') {
      const h = request.headers;
      return Response.json({
        instance: h instanceof Headers,
        get: h.get('X-Twice'),
        cookie: h.get('cookie'),
        has: h.has('x-in'),
        absent: h.get('x-absent'),
        badName: (() => { try { h.get('bad name'); return 'no throw'; } catch (e) { return e.constructor.name; } })(),
        entries: [...h].filter(([k]) => k.startsWith('x-')),
        echoed: new Headers(h).get('x-in'),
      });
    }
    if (p === '/headers') return new Response(request.headers.get('x-in') + ' ' + request.method, { headers: [['x-pair', '1']] });
    return new Response('?', { status: 404 });
  },
};
`;

t.test('the Workers globals behave as undici\'s whether a function uses little or much of them', async (t) => {
  const upstream = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain', 'x-up': req.method ?? '' }).end(`upstream ${req.method} ${body}`));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.teardown(() => upstream.close());
  const up = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/`;
  const { conn, client } = await listening(t, null);
  await conn.load({ source: FN });
  const get = async (path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) => {
    const res = await client.request({ method: 'GET', path, ...init });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };

  const classes = await get(`/classes?upstream=${encodeURIComponent(up)}`);
  t.same(JSON.parse(classes.text), {
    light: true,
    fetched: true,
    fetchedText: 'upstream GET ',
    request: true,
    made: true,
    error: true,
    headers: '1',
    ok: true,
    status: 204,
    type: 'default',
    madeText: 'hi',
    defaultType: 'text/plain;charset=UTF-8',
    redirect: 'http://a.example/b',
  });
  const mutated = await get('/mutate');
  t.match(mutated, { status: 200, text: 'mutated', headers: { 'x-a': '1', 'x-b': '2', 'content-type': 'text/plain;charset=UTF-8' } }, 'headers changed after the Response was made are sent');
  t.equal((await get('/clone', { method: 'POST', body: 'both' })).text, 'both|both', 'a cloned request reads the body, and so does the original');
  const proxied = await get(`/proxy?upstream=${encodeURIComponent(up)}`, { method: 'POST', body: 'passed on' });
  t.match(proxied, { status: 200, text: 'upstream POST passed on', headers: { 'x-up': 'POST' } }, 'the incoming request can be passed to fetch');
  t.equal((await get('/bad-status')).status, 500, 'a status out of range throws as undici would: a 500');
  t.equal((await get('/bad-header')).status, 500, 'a bad header name throws as undici would: a 500');
  t.equal((await get('/twice', { method: 'POST', body: 'once' })).status, 500, 'a body read twice is unusable');
  const json = await get('/json', { method: 'POST', body: '{"a":[1]}' });
  t.match(json, { status: 202, text: '{"a":[1]}', headers: { 'content-type': 'application/json', 'x-case': 'Kept' } });
  const form = await get('/form', { method: 'POST', body: 'a=from+a+form', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(form.text, 'from a form');
  const read = JSON.parse((await get('/read-headers', { headers: { 'x-twice': ['a', 'b'] as unknown as string, 'x-in': ' padded ', cookie: ['c=1', 'd=2'] as unknown as string } })).text);
  t.same(read, {
    instance: true,
    get: 'a, b',
    cookie: 'c=1; d=2',
    has: true,
    absent: null,
    badName: 'TypeError',
    entries: [['x-in', 'padded'], ['x-twice', 'a, b']],
    echoed: 'padded',
  }, "a request's headers read as undici's Headers would");
  t.match(await get('/headers', { method: 'PUT', body: '', headers: { 'x-in': 'seen' } }), { text: 'seen PUT', headers: { 'x-pair': '1' } });
});
