// warren's demo function: deployed as `hello` on a server's first start. A Workers-style module:
// `curl http://localhost:8080/hello/` answers from a sandbox.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === 'POST') return new Response(`you sent ${(await request.text()).length} bytes\n`);
    const who = url.searchParams.get('name') ?? env.GREETING_TARGET ?? 'world';
    return new Response(`Hello, ${who}! (from a warren sandbox; path ${url.pathname})\n`, {
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    });
  },
};
