import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { bundle } from './bundle.js';

function project(t: Test, files: Record<string, string>): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-bundle-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(d, name)), { recursive: true });
    fs.writeFileSync(path.join(d, name), text);
  }
  return d;
}

/** Imports the bundle as the runtime does: a file, then import(). */
async function load(t: Test, code: string): Promise<{ default: { fetch(r: Request, env: unknown): Promise<Response> | Response } }> {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wrntest-bundle-out-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  fs.writeFileSync(path.join(d, 'worker.mjs'), code);
  return import(path.join(d, 'worker.mjs'));
}

t.test('TypeScript, JSX and an npm package with a Workers build: one ES module', async (t) => {
  const d = project(t, {
    'src/index.tsx': [
      "import { greet } from 'greeter';",
      "import { page } from './page';",
      "import { createHash } from 'node:crypto';",
      "import { Buffer } from 'buffer';",
      'type Env = { NAME: string };',
      'export default {',
      '  fetch(req: Request, env: Env): Response {',
      "    const sum = createHash('sha1').update(Buffer.from('x')).digest('hex').slice(0, 4);",
      '    return new Response(`${greet(env.NAME)} ${page()} ${sum} ${DEBUG}`);',
      '  },',
      '};',
    ].join('\n'),
    'src/page.tsx': 'const h = (tag: string, _p: unknown, ...kids: string[]) => `<${tag}>${kids.join("")}</${tag}>`;\n/** @jsx h */\nexport const page = () => <b>hi</b>;\n',
    'node_modules/greeter/package.json': JSON.stringify({
      name: 'greeter',
      exports: { '.': { workerd: './workerd.js', node: './node.js', default: './default.js' } },
    }),
    'node_modules/greeter/workerd.js': "export const greet = (n) => 'workerd build greets ' + n;",
    'node_modules/greeter/node.js': "export const greet = (n) => 'node build greets ' + n;",
    'node_modules/greeter/default.js': "export const greet = (n) => 'default build greets ' + n;",
  });
  const b = await bundle(path.join(d, 'src/index.tsx'), { dir: d, define: { DEBUG: '"off"' } });
  t.equal(b.bytes, Buffer.byteLength(b.code));
  t.ok(b.ms >= 0);
  t.match(b.code, /from "node:crypto"/, 'node: built-ins stay imports');
  t.match(b.code, /from "buffer"/, 'bare built-ins too');
  t.notMatch(b.code, /node build/, "the package's node build is not taken");
  t.ok(b.inputs.includes(path.join(d, 'src/page.tsx')));
  const mod = await load(t, b.code);
  const res = await mod.default.fetch(new Request('http://x/'), { NAME: 'ada' });
  t.equal(await res.text(), 'workerd build greets ada <b>hi</b> 11f6 off');
});

t.test('refusals name the file, line and column', async (t) => {
  const syntax = project(t, { 'index.ts': 'export default {\n  fetch() { return new Response("x" }\n};\n' });
  await t.rejects(bundle(path.join(syntax, 'index.ts'), { dir: syntax }), { code: 'WARREN_BUNDLE_BUILD', message: /^the build failed:\nindex\.ts:2:37: error: Expected "\)" but found "}"\n {4}.*\n {40}\^$/ });
  const cf = project(t, { 'src/a.ts': "import { EmailMessage } from 'cloudflare:email';\nexport default { fetch: () => new Response(String(EmailMessage)) };\n" });
  await t.rejects(bundle(path.join(cf, 'src/a.ts'), { dir: cf }), {
    code: 'WARREN_BUNDLE_UNSUPPORTED',
    message: /src\/a\.ts:1:30: error: 'cloudflare:email' is a Cloudflare Workers module: warren does not provide it/,
  });
  const missing = project(t, { 'a.ts': "import x from 'not-installed';\nexport default { fetch: () => new Response(x) };\n" });
  await t.rejects(bundle(path.join(missing, 'a.ts'), { dir: missing }), { code: 'WARREN_BUNDLE_BUILD', message: /a\.ts:1:15: error: Could not resolve "not-installed"/ });
  const noDefault = project(t, { 'a.ts': 'export function fetch() { return new Response("x"); }\n' });
  await t.rejects(bundle(path.join(noDefault, 'a.ts'), { dir: noDefault }), { code: 'WARREN_BUNDLE_EXPORT', message: /a\.ts has no default export: .*; it exports fetch$/ });
  const sw = project(t, { 'sw.js': "addEventListener('fetch', (event) => event.respondWith(new Response('x')));\n" });
  await t.rejects(bundle(path.join(sw, 'sw.js'), { dir: sw }), { code: 'WARREN_BUNDLE_EXPORT', message: /sw\.js has no default export: .*service-worker format, which warren does not run$/ });
});
