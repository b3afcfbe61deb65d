import t from 'tap';
import { parseClientArgs } from './client-args.js';
import { formatTable, shortTime } from './client-command.js';
import { parseRollbackArgs } from './functions.js';
import { formatLogLine, parseLogsArgs } from './logs.js';
import { parseSecretArgs } from './secret.js';

const U = 'warren x NAME';
const ARG = { code: 'WARREN_ARG_INVALID' };

t.test('the common options: anywhere, with a space or =, the last one wins', async (t) => {
  const a = parseClientArgs(['--server', 'http://127.0.0.1:1', 'hello', '--token=t1', '--json', '--token', 't2', '--state-dir', '/tmp/s'], U, { min: 1, max: 1 });
  t.same(a.conn, { server: 'http://127.0.0.1:1', token: 't2', stateDir: '/tmp/s' });
  t.equal(a.json, true);
  t.same(a.positionals, ['hello']);
  t.same([...a.values.keys()], [], 'the connection options are not left for the command');
  t.same(parseClientArgs(['--', '--json'], U, { min: 1, max: 1 }).positionals, ['--json'], '-- ends the options');
  t.same(parseClientArgs(['-'], U, { min: 1, max: 1 }).positionals, ['-'], 'a lone - is an argument');
});

t.test('mistakes are usage errors that show the usage', async (t) => {
  t.throws(() => parseClientArgs(['--nope', 'x'], U, { min: 1, max: 1 }), { ...ARG, message: /unknown option '--nope'.*usage: warren x NAME/ });
  t.throws(() => parseClientArgs(['x', '--token'], U, { min: 1, max: 1 }), { ...ARG, message: /'--token' needs a value/ });
  t.throws(() => parseClientArgs([], U, { min: 1, max: 1 }), { ...ARG, message: /missing arguments/ });
  t.throws(() => parseClientArgs(['a', 'b'], U, { min: 1, max: 1 }), { ...ARG, message: /unexpected argument 'b'/ });
  t.throws(() => parseClientArgs(['--json=yes', 'a'], U, { min: 1, max: 1 }), { ...ARG, message: /unknown option '--json=yes'/ }, 'a switch takes no value');
  t.equal(parseClientArgs(['--help'], U, { min: 1, max: 1 }).help, true, '--help needs no arguments');
});

t.test('rollback: an optional version, a positive whole number', async (t) => {
  t.match(parseRollbackArgs(['hello']), { name: 'hello', version: undefined });
  t.match(parseRollbackArgs(['hello', '3']), { name: 'hello', version: 3 });
  t.match(parseRollbackArgs(['hello', 'v2']), { name: 'hello', version: 2 });
  for (const bad of ['0', '-1', '1.5', 'two', '99999999999999999999']) t.throws(() => parseRollbackArgs(['hello', bad]), ARG, bad);
  t.throws(() => parseRollbackArgs(['hello', '1', '2']), ARG);
});

t.test('logs: --follow or -f', async (t) => {
  t.match(parseLogsArgs(['hello']), { name: 'hello', follow: false });
  t.match(parseLogsArgs(['-f', 'hello']), { name: 'hello', follow: true });
  t.match(parseLogsArgs(['hello', '--follow', '--json']), { name: 'hello', follow: true, args: { json: true } });
  const line = { time: '2026-11-28T23:41:45.123Z', fn: 'hello', version: 3, instance: 'i7', requestId: 'r1', stream: 'stdout' as const, text: 'hi there' };
  t.equal(formatLogLine(line), '2026-11-28T23:41:45.123Z v3 i7 r1 stdout hi there\n');
  t.equal(formatLogLine({ ...line, requestId: null, stream: 'warren', text: 'started\n' }), '2026-11-28T23:41:45.123Z v3 i7 - warren started\n');
});

t.test('secret: put and rm take NAME KEY, ls NAME; a value is never an argument', async (t) => {
  t.match(parseSecretArgs(['put', 'hello', 'API_KEY']), { verb: 'put', name: 'hello', key: 'API_KEY' });
  t.match(parseSecretArgs(['rm', 'hello', 'API_KEY', '--json']), { verb: 'rm', name: 'hello', key: 'API_KEY', args: { json: true } });
  t.match(parseSecretArgs(['ls', 'hello']), { verb: 'ls', name: 'hello' });
  t.match(parseSecretArgs(['--help']), { verb: 'help' });
  t.throws(() => parseSecretArgs([]), { ...ARG, message: /missing command/ });
  t.throws(() => parseSecretArgs(['put', 'hello', 'API_KEY', 's3cret']), { ...ARG, message: /unexpected argument/ }, 'no value in argv');
  t.throws(() => parseSecretArgs(['put', 'hello', 'API_KEY=s3cret']), { ...ARG, message: /invalid secret name/ });
  t.throws(() => parseSecretArgs(['put', 'hello', '--value', 'x', 'K']), { ...ARG, message: /unknown option '--value'/ });
  t.throws(() => parseSecretArgs(['get', 'hello', 'K']), { ...ARG, message: /unknown secret command 'get'/ });
  t.throws(() => parseSecretArgs(['ls']), ARG);
});

t.test('tables and times for people', async (t) => {
  t.equal(formatTable(['NAME', 'V', 'URL'], [['hello', '12', 'http://x/hello/'], ['a', '1', 'http://x/a/']]), 'NAME   V   URL\nhello  12  http://x/hello/\na      1   http://x/a/\n');
  t.equal(shortTime('2026-11-28T23:41:45.123Z'), '2026-11-28 23:41:45');
});
