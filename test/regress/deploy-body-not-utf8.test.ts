/**
 * Regression: the control API read a deploy's body (and a secret's value) as text with a decoder
 * that replaces bytes that are not UTF-8 with U+FFFD, so a bundle with a stray latin-1 byte or a
 * cut multi-byte character deployed with 201 and then served something other than what was sent
 * (`new Response("\xff")` answered the three bytes of U+FFFD), and a secret was kept altered.
 * JSON is UTF-8 by definition (RFC 8259): now such a body is a 400 that says so, and the service
 * never sees it.
 */
import t from 'tap';
import { startRouter } from '../../router/index.js';
import { FakeControl, FakeInvoker } from '../router/fakes.js';

const TOKEN = 'test-token-0123456789abcdef';
const LOCAL = { host: '127.0.0.1', port: 0 };

t.test('a body that is not UTF-8 is a 400, never deployed or kept with its bad bytes replaced', async (t) => {
  const control = new FakeControl();
  const router = await startRouter({ invoker: new FakeInvoker(), control, token: TOKEN, dataListen: LOCAL, controlListen: LOCAL });
  t.teardown(() => router.destroy());
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const good = await fetch(`${router.controlUrl}/v1/functions/hello`, { method: 'PUT', headers, body: JSON.stringify({ module: 'export default { fetch() { return new Response("caf\u00e9") } }' }) });
  t.equal(good.status, 201, 'a UTF-8 bundle deploys');
  const before = control.calls.length;
  const notUtf8 = Buffer.concat([Buffer.from('{"module":"export default { fetch() { return new Response(\\"'), Buffer.from([0xff, 0xfe]), Buffer.from('\\") } }"}')]);
  const deploy = await fetch(`${router.controlUrl}/v1/functions/hello`, { method: 'PUT', headers, body: notUtf8 });
  t.equal(deploy.status, 400);
  t.match(await deploy.json(), { code: 'WARREN_API_INVALID', error: 'request body is not UTF-8', fault: 'user' });
  const secret = await fetch(`${router.controlUrl}/v1/functions/hello/secrets/KEY`, { method: 'PUT', headers, body: Buffer.from([0x61, 0xc3]) });
  t.equal(secret.status, 400, 'a secret value cut inside a character');
  t.equal(control.calls.length, before, 'the service saw neither');

  const ok = await fetch(`${router.controlUrl}/v1/functions/hello/secrets/KEY`, { method: 'PUT', headers, body: 'caf\u00e9 \u{1f600}' });
  t.equal(ok.status, 204, 'UTF-8 beyond ASCII is kept');
  t.same(control.calls.at(-1), ['putSecret', 'hello', 'KEY', 'caf\u00e9 \u{1f600}']);
});
